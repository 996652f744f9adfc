"""MOSES SMILES -> 3D: determinism across worker counts, force-field geometry, skips, inputs."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
from rdkit import Chem

from molgen.chem.vocab import DRUG, QM9
from molgen.data.cache import MoleculeCache
from molgen.data.moses import embed_smiles, molecule_seed, prepare_moses, read_smiles_csv
from molgen.errors import MolgenError

# The first 20 SMILES of MOSES test.csv.gz (shared/data/moses).
SMILES = [
    "CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1",
    "COc1ccc(-c2cc(=O)c3c(O)c(OC)c(OC)cc3o2)cc1O",
    "CCOC(=O)c1ncn2c1CN(C)C(=O)c1cc(F)ccc1-2",
    "Clc1ccccc1-c1nc(-c2ccncc2)no1",
    "CC(C)(Oc1ccc(Cl)cc1)C(=O)OCc1cccc(CO)n1",
    "Cc1nc2c(OCc3ccccc3)cccn2c1CC#N",
    "O=C1c2cccnc2CN1Cc1ccccc1Cl",
    "O=C(NC1CCc2ccccc2C1)c1ccncc1",
    "OC(Cn1cncn1)(Cn1cncn1)c1ccc(F)cc1F",
    "Cc1[nH]cnc1Cc1nc(-c2ccccc2)cs1",
    "COc1ccc(-c2nc3n(c2-c2ccncc2)CCC3)cc1",
    "CC(=O)NC(C(=O)NCc1ccccc1)c1ccco1",
    "COc1ccc(C2CNC(=O)C2)cc1OC1CCCC1",
    "CCCn1c(=O)c2[nH]c(C3CCC(=O)C3)nc2n(CCC)c1=O",
    "C=C1C(CO)C(O)CC1n1cnc2c(=O)[nH]c(N)nc21",
    "COc1cc(CNc2ccc(C)cc2)cc(OC)c1OC",
    "O=C(NCCc1cccc2ccccc12)C1CCC1",
    "O=C1c2ccccc2-c2c3c(cc4ccnc1c24)OCO3",
    "O=C(CN1C(=O)c2ccccc2S1(=O)=O)Nc1ccc(O)cc1",
    "Cc1ccc(Sc2cncc3sc(C(N)=O)cc23)cc1",
]


@pytest.fixture
def moses_csv(tmp_path: Path) -> Path:
    path = tmp_path / "moses.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("SMILES\n" + "\n".join(SMILES) + "\n")
    return path


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list]:
    tmp = tmp_path_factory.mktemp("moses1")
    src = tmp / "moses.csv"
    src.write_text("SMILES\n" + "\n".join(SMILES) + "\n")
    summary = prepare_moses(src, tmp / "out", DRUG, None, workers=1, seed=0)
    return summary, list(MoleculeCache(tmp / "out"))


def test_worker_count_does_not_change_coordinates(
    one_worker: tuple[dict, list], moses_csv: Path, tmp_path: Path
) -> None:
    summary1, graphs1 = one_worker
    summary2 = prepare_moses(moses_csv, tmp_path / "out", DRUG, None, workers=2, seed=0)
    graphs2 = list(MoleculeCache(tmp_path / "out"))
    assert summary1["kept"] == summary2["kept"] == 20 and summary2["workers"] == 2
    assert summary1["force_field"] == {"mmff": 20}
    for a, b in zip(graphs1, graphs2, strict=True):
        assert a.name == b.name
        for key in ("pos", "atom_type", "charge", "edge_index", "bond_type"):
            assert torch.equal(a[key], b[key]), key
    assert [g.name for g in graphs1] == [f"moses:{k}" for k in range(20)]


def test_graphs_match_the_smiles_and_mmff_geometry(one_worker: tuple[dict, list]) -> None:
    _, graphs = one_worker
    for smi, g in zip(SMILES, graphs):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        assert g.num_nodes == mol.GetNumAtoms()
        assert g.smiles == Chem.MolToSmiles(Chem.MolFromSmiles(smi))
        ij = g.edge_index[:, g.edge_index[0] < g.edge_index[1]]
        lengths = (g.pos[ij[0]] - g.pos[ij[1]]).norm(dim=1)
        assert bool(((lengths > 0.95) & (lengths < 1.95)).all())  # C-H 1.09 ... C-Br 1.90 Å
        assert (g.pos.double().mean(0).abs() < 10).all()


def test_seed_is_per_molecule_and_changes_conformers() -> None:
    smi = SMILES[0]
    a, _, _ = embed_smiles(smi, molecule_seed(smi, 0))
    b, _, _ = embed_smiles(smi, molecule_seed(smi, 0))
    c, _, _ = embed_smiles(smi, molecule_seed(smi, 1))
    pa, pb, pc = (torch.from_numpy(m.GetConformer().GetPositions()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.allclose(pa, pc, atol=1e-3)


def test_bad_smiles_and_vocabulary_are_skipped(tmp_path: Path) -> None:
    src = tmp_path / "m.csv"
    src.write_text("SMILES,SPLIT\nCCO,train\nnot_a_smiles,train\nClCCl,test\nC1=CC=CC=C1,test\n")
    summary = prepare_moses(src, tmp_path / "out", QM9, limit=None, workers=1, seed=0)
    assert summary["kept"] == 2
    assert summary["skip_reasons"] == {
        "RDKit could not parse the SMILES": 1,
        "element Cl not in the qm9 vocabulary": 1,
    }
    assert summary["skip_examples"]["RDKit could not parse the SMILES"] == "m:1"
    assert summary["splits"] == {"train": 2, "test": 2}
    graphs = list(MoleculeCache(tmp_path / "out"))
    assert [(g.name, g.split, g.smiles) for g in graphs] == [
        ("m:0", "train", "CCO"),
        ("m:3", "test", "c1ccccc1"),
    ]


def test_limit_and_inputs(moses_csv: Path, tmp_path: Path) -> None:
    smiles, splits = read_smiles_csv(moses_csv, limit=3)
    assert smiles == SMILES[:3] and splits is None
    with pytest.raises(MolgenError, match="SMILES CSV not found"):
        prepare_moses(tmp_path / "none.csv", tmp_path / "out", DRUG, None, 1, 0)
    (tmp_path / "x.csv").write_text("smi\nCCO\n")
    with pytest.raises(MolgenError, match="no SMILES column"):
        read_smiles_csv(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("SMILES\nnot_a_smiles\n")
    with pytest.raises(MolgenError, match="no molecule could be embedded: RDKit could not parse the SMILES"):
        prepare_moses(tmp_path / "y.csv", tmp_path / "out", DRUG, None, 1, 0)


def test_shared_moses_file_when_present(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[3] / "shared/data/moses/test.csv.gz"
    if not shared.is_file():
        pytest.skip("shared MOSES data not available")
    assert read_smiles_csv(shared, limit=20)[0] == SMILES


def test_force_field_fallbacks_are_recorded(tmp_path: Path) -> None:
    src = tmp_path / "ff.csv"
    src.write_text("SMILES\nCCO\nOB(O)c1ccccc1\n[Xe]\n")  # MMFF; no MMFF boron -> UFF; neither -> ETKDG
    assert [embed_smiles(s, 0)[1] for s in ("CCO", "OB(O)c1ccccc1", "[Xe]")] == ["mmff", "uff", "etkdg"]
    summary = prepare_moses(src, tmp_path / "out", DRUG, None, workers=1, seed=0)
    assert summary["force_field"] == {"mmff": 1, "uff": 1}
    assert summary["skip_reasons"] == {"element Xe not in the drug vocabulary": 1}


def test_slices_are_the_whole_set(one_worker: tuple[dict, list], moses_csv: Path, tmp_path: Path) -> None:
    """--skip/--limit slices hold the same molecules, names and conformers as one preparation of the set."""
    _, whole = one_worker
    assert read_smiles_csv(moses_csv, limit=3, skip=5)[0] == SMILES[5:8]
    sliced = []
    for k, (skip, limit) in enumerate(((0, 7), (7, 7), (14, None))):
        prepare_moses(moses_csv, tmp_path / f"s{k}", DRUG, limit, workers=1, seed=0, skip=skip)
        sliced += list(MoleculeCache(tmp_path / f"s{k}"))
    assert [g.name for g in sliced] == [g.name for g in whole]
    for a, b in zip(whole, sliced, strict=True):
        assert torch.equal(a.pos, b.pos) and torch.equal(a.bond_type, b.bond_type)
    with pytest.raises(MolgenError, match="skip must be >= 0"):
        prepare_moses(moses_csv, tmp_path / "bad", DRUG, None, 1, 0, skip=-1)
