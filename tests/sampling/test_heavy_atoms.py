"""Heavy-atom models (vocabulary ``drug_heavy``): graphs without hydrogens, Kekulé bonds, and every
written molecule with its hydrogens back (RDKit infers them from valences and charges).

The round trip must keep each heavy atom's element, charge and coordinates (float32) and give back the
same molecule, hydrogens included; pocket sampling, fragment inpainting and pose generation with a
heavy-atom pocket model must write H-complete molecules whose fixed heavy atoms are where they went in.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from rdkit import Chem

from molgen.chem.convert import heavy_kekule, mol_to_graph
from molgen.chem.vocab import DRUG, DRUG_HEAVY, get_vocab
from molgen.data.transforms import random_fragment
from molgen.errors import SkipRecord
from molgen.sampling.conditioning import fragment_from_sdf, fragment_from_smarts, load_pocket
from molgen.sampling.writers import graph_to_molblock
from tests.chem.test_convert import _fep_ligands
from tests.conftest import TINY_MODEL, run_cli
from tests.sampling.test_conditioning import LIGAND, PROTEIN, ROOT, _check_fragment_kept, pocket_model_path
from tests.sampling.test_pose import _smiles_h


@pytest.fixture(scope="module")
def heavy_model(tmp_path_factory):
    return pocket_model_path(tmp_path_factory, "drug_heavy")


def test_vocabulary():
    assert get_vocab("drug_heavy") is DRUG_HEAVY
    assert DRUG_HEAVY.elements == DRUG.elements[1:] and DRUG_HEAVY.charges == DRUG.charges
    assert DRUG.explicit_hydrogens and not DRUG_HEAVY.explicit_hydrogens
    with pytest.raises(SkipRecord, match="element H not in the drug_heavy vocabulary"):
        DRUG_HEAVY.type_index("H")


def test_fep_ligands_round_trip_through_the_writer():
    """40 FEP ligands (aromatic N-heterocycles, charged amines, carboxylates, halogens): heavy graph ->
    SDF record -> the same molecule with the same number of hydrogens, heavy coordinates unchanged."""
    charged = 0
    for mol in _fep_ligands():
        heavy = Chem.RemoveHs(mol)
        g = mol_to_graph(mol, DRUG_HEAVY)
        assert g.num_nodes == heavy.GetNumAtoms()
        assert set(g.bond_type.tolist()) <= {1, 2, 3}  # Kekulé: no aromatic class
        np.testing.assert_array_equal(g.pos.numpy(), heavy.GetConformer().GetPositions().astype(np.float32))
        block, ok = graph_to_molblock(g, DRUG_HEAVY)
        assert ok
        back = Chem.MolFromMolBlock(block, removeHs=False)
        assert back.GetNumAtoms() == mol.GetNumAtoms()  # every hydrogen is back, as an atom
        assert _smiles_h(back) == _smiles_h(mol)
        xyz = back.GetConformer().GetPositions()[: g.num_nodes]
        np.testing.assert_allclose(xyz, g.pos.double().numpy(), atol=5e-5)  # the file's 4 decimals
        charged += sum(a.GetFormalCharge() != 0 for a in heavy.GetAtoms())
    assert charged >= 20


def test_unkekulizable_molecule_is_skipped_with_reason():
    bad = Chem.MolFromSmiles("c1cccc1", sanitize=False)  # five aromatic carbons: no Kekulé form
    with pytest.raises(SkipRecord, match="cannot remove hydrogens and kekulize"):
        heavy_kekule(bad)


def test_random_fragment_without_hydrogens():
    g = mol_to_graph(_fep_ligands()[3], DRUG_HEAVY)
    for seed in range(5):
        frag = random_fragment(g, torch.Generator().manual_seed(seed), hydrogen=None)
        n = int(frag.sum())
        assert 0 < n < g.num_nodes
        chosen = set(frag.nonzero().flatten().tolist())
        seen, todo = set(), [min(chosen)]
        src, dst = g.edge_index.tolist()
        while todo:  # connected
            i = todo.pop()
            seen.add(i)
            todo += [j for a, j in zip(src, dst) if a == i and j in chosen and j not in seen]
        assert seen == chosen


def test_fragments_are_heavy_and_kekule(tmp_path):
    ref = Chem.AddHs(Chem.MolFromMolFile(str(LIGAND)), addCoords=True)
    frag, atoms = fragment_from_smarts(ref, "c1ccccc1", DRUG_HEAVY)
    assert len(atoms) == 6 and int(frag.num_nodes) == 6
    m = frag.edge_index.shape[1] // 2
    assert sorted(frag.bond_type[:m].tolist()) == [1, 1, 1, 2, 2, 2]
    heavy_ref = Chem.RemoveHs(ref)
    np.testing.assert_array_equal(frag.pos.numpy(),
                                  heavy_ref.GetConformer().GetPositions()[atoms].astype(np.float32))
    # an SDF fragment with hydrogens: they are dropped, the heavy atoms kept in order
    sdf = tmp_path / "frag.sdf"
    Chem.MolToMolFile(ref, str(sdf))
    g = fragment_from_sdf(sdf, DRUG_HEAVY)
    assert int(g.num_nodes) == heavy_ref.GetNumAtoms()
    assert [DRUG_HEAVY.elements[t] for t in g.atom_type.tolist()] == [a.GetSymbol() for a in heavy_ref.GetAtoms()]


def test_heavy_model_samples_and_inpaints_in_a_pocket(heavy_model, tmp_path):
    from molgen.training import load_model

    gm = load_model(heavy_model)
    assert gm.vocab.name == "drug_heavy"
    pocket = load_pocket(PROTEIN, ref_ligand=LIGAND, vocab=gm.vocab)
    assert pocket.context.num_nodes > 50
    ref = Chem.MolFromMolFile(str(LIGAND))  # heavy atoms, as read
    out = tmp_path / "frag.sdf"
    assert run_cli(["sample", "-c", str(heavy_model), "--protein", str(PROTEIN), "--ref-ligand", str(LIGAND),
                    "--fragment-smarts", "c1ccccc1", "--num", "3", "--steps", "3", "--out", str(out)]) == 0
    _, atoms = fragment_from_smarts(ref, "c1ccccc1", gm.vocab)
    _check_fragment_kept(out, ref, atoms, 3)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["written"] == 3


def test_heavy_model_poses_keep_the_whole_molecule(heavy_model, tmp_path):
    """Poses of a heavy-atom model: the input molecule with every hydrogen, heavy atoms in its order."""
    out = tmp_path / "poses.sdf"
    assert run_cli(["pose", "-c", str(heavy_model), "--ligand", str(LIGAND), "--protein", str(PROTEIN),
                    "--ref-ligand", str(LIGAND), "--rank", "none", "--num", "2", "--steps", "3",
                    "--out", str(out)]) == 0
    want = Chem.AddHs(Chem.MolFromMolFile(str(LIGAND)))
    written = list(Chem.SDMolSupplier(str(out), sanitize=False, removeHs=False))
    assert len(written) == 2
    for m in written:
        assert m.GetNumAtoms() == want.GetNumAtoms() and _smiles_h(m) == _smiles_h(want)
        assert all(a.GetAtomicNum() > 1 for a in list(m.GetAtoms())[: want.GetNumHeavyAtoms()])
        assert float(m.GetProp("rmsd_to_ref_A")) >= 0


def test_training_refuses_a_vocabulary_mismatch(heavy_model, tmp_path):
    from molgen.config import load_config
    from molgen.errors import MolgenError
    from molgen.training.train import train

    cache = heavy_model.parent.parent / "pocket_cache_drug_heavy"  # what pocket_model_path prepared
    cfg = load_config(ROOT / "configs" / "pocket_flow.yaml",
                      [f"data.train={cache}", "data.vocab=drug", "data.extra_train=[]", f"out_dir={tmp_path}"])
    with pytest.raises(MolgenError, match="data.vocab is 'drug' but the prepared data uses 'drug_heavy'"):
        train(cfg)


def test_pocket_training_mixes_in_ligands_without_a_pocket(heavy_model, tmp_path):
    """``data.extra_train``: ligand-only caches join the complexes (``train_repeat`` times) in every
    epoch; their graphs carry no context, the complexes keep their pocket; another vocabulary is refused."""
    from molgen.config import load_config
    from molgen.data.datamodule import MoleculeDataModule
    from molgen.data.sdf import prepare_sdf
    from molgen.data.transforms import pocket_transforms
    from molgen.errors import MolgenError
    from molgen.training.train import train

    complexes = heavy_model.parent.parent / "pocket_cache_drug_heavy"  # 4 complexes
    ligands = tmp_path / "ligands"
    prepare_sdf([ROOT / "data" / "ligands" / "fep_ligands.sdf"], ligands, DRUG_HEAVY, limit=6)
    dm = MoleculeDataModule(complexes, batch_size=4, transform=pocket_transforms(DRUG_HEAVY)[0],
                            extra_train=[ligands], train_repeat=2)
    assert len(dm._train_sizes) == 2 * 4 + 6
    with_pocket = without = 0
    for batch in dm.train_dataloader():
        for k in range(batch.num_graphs):
            has = bool(batch.context[batch.batch == k].any())
            with_pocket, without = with_pocket + has, without + (not has)
    # the transform also drops 10 % of pockets at random: at least the 6 ligands have none
    assert with_pocket + without == 14 and without >= 6 and with_pocket >= 6
    wrong = tmp_path / "ligands_h"
    prepare_sdf([ROOT / "data" / "ligands" / "fep_ligands.sdf"], wrong, DRUG, limit=2)
    with pytest.raises(MolgenError, match="extra training data uses vocabulary 'drug'"):
        MoleculeDataModule(complexes, batch_size=4, extra_train=[wrong])
    cfg = load_config(ROOT / "configs" / "pocket_flow.yaml", [
        f"data.train={complexes}", f"data.extra_train=[{ligands}]", "data.train_repeat=2", "data.batch_size=4",
        f"out_dir={tmp_path / 'run'}", "train.max_steps=3", "optim.warmup_steps=1", "trainer.log_every_n_steps=1",
        "train.checkpoint_every_n_steps=3", *TINY_MODEL])
    assert cfg.data.extra_train == [ligands]
    run = train(cfg)
    assert (run / "model.ckpt").is_file()
