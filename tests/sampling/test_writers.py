"""SDF writing of generated graphs: every graph gets a record, garbage included."""

import subprocess
import sys

import pytest
import torch
from rdkit import Chem
from torch_geometric.data import Data

from molgen.chem.vocab import get_vocab
from molgen.sampling.writers import graph_to_molblock, writable, write_sdf
from molgen.validation.build import build_molecule


def _complete(n: int, atom: int, charge: int, bond: int) -> Data:
    """n atoms of one kind, every pair bonded: what an untrained model can emit."""
    ii, jj = torch.triu_indices(n, n, 1)
    ei = torch.cat([torch.stack([ii, jj]), torch.stack([jj, ii])], 1)
    return Data(pos=torch.randn(n, 3, generator=torch.Generator().manual_seed(n)),
                atom_type=torch.full((n,), atom), charge=torch.full((n,), charge), edge_index=ei,
                bond_type=torch.full((ei.shape[1],), bond), name=f"garbage_{n}")


def _ethanol() -> Data:
    from molgen.chem.convert import mol_to_graph

    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    from rdkit.Chem import AllChem

    AllChem.EmbedMolecule(mol, randomSeed=1)
    return mol_to_graph(mol, get_vocab("qm9"))


def test_garbage_graphs_are_written_without_rdkit(tmp_path):
    vocab = get_vocab("drug")
    h_plus3 = _complete(45, vocab.elements.index("H"), vocab.charges.index(3), 1)
    c_triple = _complete(45, vocab.elements.index("C"), vocab.charges.index(0), 3)
    assert not writable(h_plus3, vocab) and not writable(c_triple, vocab)
    good = _ethanol()
    good.atom_type = torch.tensor([vocab.elements.index(get_vocab("qm9").elements[t]) for t in good.atom_type])
    good.charge = torch.full_like(good.charge, vocab.charges.index(0))
    counts = write_sdf([h_plus3, good, c_triple], vocab, tmp_path / "out.sdf")
    assert counts == {"written": 3, "sanitized": 1}
    text = (tmp_path / "out.sdf").read_text()
    assert text.count("$$$$") == 3 and "garbage_45" in text.split("$$$$")[2]
    mols = list(Chem.SDMolSupplier(str(tmp_path / "out.sdf"), sanitize=False, removeHs=False))
    assert [m.GetNumAtoms() for m in mols[:2]] == [45, 9]
    assert mols[0].GetNumBonds() == 45 * 44 // 2
    assert mols[0].GetAtomWithIdx(0).GetFormalCharge() == 3
    assert mols[2] is None  # RDKit's reader itself refuses 44 triple bonds on a carbon
    assert mols[0].GetProp("molgen_sanitized") == "0" and "molgen_note" in mols[0].GetPropsAsDict()
    assert mols[1].GetProp("molgen_sanitized") == "1"
    # coordinates written as given
    assert abs(mols[0].GetConformer().GetPositions()[3] - h_plus3.pos[3].numpy()).max() < 1e-4


def test_plain_record_keeps_the_graph_rdkit_would_write():
    """A sane graph written by RDKit and by the plain writer reads back to the same atoms and bonds."""
    from molgen.sampling.writers import plain_molblock

    g, vocab = _ethanol(), get_vocab("qm9")
    a = Chem.MolFromMolBlock(graph_to_molblock(g, vocab)[0], removeHs=False)
    b = Chem.MolFromMolBlock(plain_molblock(g, vocab, {}), removeHs=False)
    assert Chem.MolToSmiles(a) == Chem.MolToSmiles(b) == "[H]OC([H])([H])C([H])([H])[H]"


def test_validation_of_impossible_molecules_reports_instead_of_crashing(tmp_path):
    vocab = get_vocab("drug")
    sdf = tmp_path / "bad.sdf"
    write_sdf([_complete(12, vocab.elements.index("C"), vocab.charges.index(0), 3),
               _complete(45, vocab.elements.index("H"), vocab.charges.index(3), 1)], vocab, sdf)
    mols = list(Chem.SDMolSupplier(str(sdf), sanitize=False, removeHs=False))
    built = build_molecule(mols[0])
    assert built.mol is None and "bond orders summing to 33" in built.error
    # RDKit's Hückel fallback terminates the process on impossible electron counts: run in a child
    for bonds in ("predicted", "edm", "rdkit"):
        out = subprocess.run([sys.executable, "-m", "molgen.cli", "validate", str(sdf), "--out",
                              str(tmp_path / bonds), "--bonds", bonds], capture_output=True, text=True, check=False)
        assert out.returncode == 0, (bonds, out.stderr[-500:])
        import pandas as pd

        table = pd.read_parquet(tmp_path / bonds / "validation.parquet")
        assert len(table) == 2 and not table["valid"].any()


def _aromatic_chain() -> Data:
    """H2C:CH:NH with 'aromatic' bonds outside any ring: RDKit will not sanitise the graph as built (atoms
    marked aromatic); its record keeps bond type 4 without atom flags, which `molgen validate` must refuse too."""
    vocab = get_vocab("qm9")
    el = ["C", "C", "N", "H", "H", "H", "H"]
    bonds = [(0, 1, 4), (1, 2, 4), (0, 3, 1), (0, 4, 1), (1, 5, 1), (2, 6, 1)]
    ei = torch.tensor([[a for a, b, _ in bonds] + [b for a, b, _ in bonds],
                       [b for a, b, _ in bonds] + [a for a, b, _ in bonds]])
    pos = torch.tensor([[0, 0, 0], [1.4, 0, 0], [2.1, 1.2, 0], [-0.5, 0.9, 0.3], [-0.5, -0.9, -0.3],
                        [1.9, -0.9, 0.2], [3.1, 1.2, 0.1]], dtype=torch.float)
    return Data(pos=pos, atom_type=torch.tensor([vocab.elements.index(e) for e in el]),
                charge=torch.full((7,), vocab.charges.index(0)), edge_index=ei,
                bond_type=torch.tensor([t for *_, t in bonds] * 2), name="chain")


def test_sanitized_count_is_validate_valid_count(tmp_path):
    """One definition: write_sdf's `sanitized` (and each record's molgen_sanitized) is what `molgen validate`
    calls valid, with its default settings."""
    from molgen.chem.convert import data_to_mol
    from molgen.validation import validate_sdf

    vocab = get_vocab("qm9")
    chain = _aromatic_chain()
    with pytest.raises(Chem.rdchem.MolSanitizeException):  # the discriminating case: RDKit refuses the graph
        data_to_mol(chain, vocab, sanitize=True)
    garbage = _complete(12, vocab.elements.index("C"), vocab.charges.index(0), 3)
    graphs = [_ethanol(), chain, garbage]
    counts = write_sdf(graphs, vocab, tmp_path / "out.sdf")
    result = validate_sdf(tmp_path / "out.sdf", vocab=vocab, progress=False, checks=["bond_lengths"])
    assert result.table["valid"].tolist() == [True, False, False]
    assert counts == {"written": 3, "sanitized": int(result.table["valid"].sum())}
    flags = [m.GetProp("molgen_sanitized") for m in Chem.SDMolSupplier(str(tmp_path / "out.sdf"), sanitize=False,
                                                                          removeHs=False)]
    assert flags == ["1", "0", "0"]


def test_records_name_their_vocabulary(tmp_path):
    from molgen.validation.io import sdf_vocab

    write_sdf([_ethanol()], get_vocab("qm9"), tmp_path / "out.sdf")
    assert "<molgen_vocab>\nqm9\n" in (tmp_path / "out.sdf").read_text()
    vocab, source = sdf_vocab(tmp_path / "out.sdf")
    assert vocab.name == "qm9" and "molgen_vocab" in source
