"""Complexes: ligand graph + pocket, batching, the index CSV reader and bad rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch

from molgen.chem.vocab import DRUG
from molgen.data import complexes
from molgen.data.cache import MoleculeCache
from molgen.data.complexes import make_complex, prepare_complexes, read_complex_index
from molgen.data.pocket import extract_pocket, read_protein
from molgen.data.sdf import load_sdf
from molgen.errors import MolgenError, SkipRecord

PB = "posebusters/1S3V/"


def test_make_complex_is_ligand_graph_plus_pocket(complexes_dir: Path) -> None:
    protein = complexes_dir / PB / "1s3v_protein_one_lig_removed.pdb"
    ligand = complexes_dir / PB / "1s3v_ligand.sdf"
    data = make_complex(protein, ligand, DRUG, cutoff=8.0)
    (graph,) = load_sdf(ligand, DRUG)
    for key in ("pos", "atom_type", "charge", "edge_index", "bond_type"):
        assert torch.equal(data[key], graph[key])
    assert data.num_nodes == graph.num_nodes == 56
    pocket = extract_pocket(read_protein(protein), graph.pos, cutoff=8.0)
    assert torch.equal(data.pocket_pos, pocket.pos) and torch.equal(data.pocket_element, pocket.element)
    assert data.pocket_residue_ids.split() == pocket.residue_ids
    assert data.protein == "1s3v_protein_one_lig_removed.pdb" and data.name == "TQD"
    ca = make_complex(protein, ligand, DRUG, cutoff=8.0, ca_only=True)
    assert ca.pocket_pos.shape[0] == len(pocket.residue_ids)


def test_no_pocket_is_a_skip(complexes_dir: Path, far_ligand_sdf: Path) -> None:
    protein = read_protein(complexes_dir / PB / "1s3v_protein_one_lig_removed.pdb")
    with pytest.raises(SkipRecord, match="^no pocket atoms within 8 Å of the ligand$"):
        make_complex(protein, far_ligand_sdf, DRUG, cutoff=8.0)


def test_batching_follows_pocket_atoms(complexes_dir: Path) -> None:
    rows = read_complex_index(complexes_dir / "index.csv")
    items = [make_complex(r.protein, r.ligand, DRUG, cutoff=6.0, record=r.record) for r in rows[:3]]
    batch = Batch.from_data_list(items, follow_batch=["pocket_pos"])
    sizes = [d.pocket_pos.shape[0] for d in items]
    assert batch.pocket_pos.shape == (sum(sizes), 3)
    assert torch.equal(batch.pocket_pos_batch, torch.repeat_interleave(torch.arange(3), torch.tensor(sizes)))
    assert torch.equal(
        batch.batch, torch.repeat_interleave(torch.arange(3), torch.tensor([d.num_nodes for d in items]))
    )
    assert torch.equal(batch.pocket_atom_residue[: sizes[0]], items[0].pocket_atom_residue)  # not offset


def test_prepare_sample_index(complexes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = []
    real = complexes.read_protein

    def counting(path):
        parsed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(complexes, "read_protein", counting)
    summary = prepare_complexes(complexes_dir / "index.csv", tmp_path / "c", DRUG, 8.0, False, None)
    assert summary["kept"] == 11 and summary["skipped"] == 0  # 4 crystal + 4 mcl1 (all records) + 3 thrombin
    assert len(parsed) == len(set(parsed)) == 6  # each protein parsed once
    cache = MoleculeCache(tmp_path / "c")
    names = [g.name for g in cache]
    assert names[:4] == ["1G9V_RQ3", "1IA1_TQ3", "1S3V", "7ZTL_BCN"]
    assert names[4:] == [f"mcl1_extra_flips_ligands:{k}" for k in range(4)] + [
        "thrombin_core_6a",
        "thrombin_core_1d",
        "thrombin_core_1c",
    ]
    first = cache[2]
    ref = make_complex(
        complexes_dir / PB / "1s3v_protein_one_lig_removed.pdb", complexes_dir / PB / "1s3v_ligand.sdf"
    )
    assert (
        torch.equal(first.pocket_pos, ref.pocket_pos) and first.pocket_residue_ids == ref.pocket_residue_ids
    )
    stats = json.loads((tmp_path / "c/stats.json").read_text())
    assert sum(sum(v.values()) for v in stats["pocket_ligand"]["hist"].values()) == 11


def test_fep_index_columns(complexes_dir: Path, tmp_path: Path) -> None:
    """The FEP benchmark index (protein_pdb, ligand_sdf, record, title, ...) is accepted as is."""
    index = tmp_path / "fep_index.csv"
    base = complexes_dir / "fep/thrombin_core"
    with open(index, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subset", "system", "protein_pdb", "ligand_sdf", "record", "title", "smiles"])
        for k, title in enumerate(["6a", "1d", "1c"]):
            w.writerow(
                [
                    "jacs_set",
                    "thrombin_core",
                    base / "thrombin_core_protein.pdb",
                    base / "thrombin_core_ligands.sdf",
                    k,
                    title,
                    "x",
                ]
            )
    summary = prepare_complexes(index, tmp_path / "c", DRUG, 5.0, True, None)
    assert summary["kept"] == 3 and summary["ca_only"] is True
    cache = MoleculeCache(tmp_path / "c")
    assert all(g.pocket_pos.shape[0] == len(g.pocket_residue_ids.split()) for g in cache)


def test_bad_rows_are_skipped_with_reasons(complexes_dir: Path, far_ligand_sdf: Path, tmp_path: Path) -> None:
    prot = complexes_dir / PB / "1s3v_protein_one_lig_removed.pdb"
    lig = complexes_dir / PB / "1s3v_ligand.sdf"
    garbage = tmp_path / "garbage.pdb"
    garbage.write_text("not a protein\n")
    index = tmp_path / "index.csv"
    index.write_text(
        "protein,ligand,record,name\n"
        f"{prot},{lig},0,good\n"
        f"{prot},{far_ligand_sdf},0,far\n"
        f"{prot},{lig},3,out_of_range\n"
        f"{prot},missing.sdf,,missing_ligand\n"
        f"missing.pdb,{lig},0,missing_protein\n"
        f"garbage.pdb,{lig},0,garbage_protein\n"
    )
    summary = prepare_complexes(index, tmp_path / "c", DRUG, 8.0, False, None)
    assert summary["kept"] == 1
    assert summary["skip_reasons"] == {
        "no pocket atoms within 8 Å of the ligand": 1,
        "ligand record out of range": 1,
        "ligand file not found": 1,
        "protein file not found": 1,
        "protein file could not be parsed": 1,
    }
    assert summary["skip_examples"]["ligand record out of range"] == "row 3: 1s3v_ligand.sdf:3"
    assert [g.name for g in MoleculeCache(tmp_path / "c")] == ["good"]


def test_bad_index_files(tmp_path: Path) -> None:
    with pytest.raises(MolgenError, match="index CSV not found"):
        prepare_complexes(tmp_path / "none.csv", tmp_path / "c", DRUG, 8.0, False, None)
    bad = tmp_path / "bad.csv"
    bad.write_text("receptor,mol\na,b\n")
    with pytest.raises(MolgenError, match="needs columns protein,ligand"):
        read_complex_index(bad)
    bad.write_text("protein,ligand,record\na.pdb,b.sdf,first\n")
    with pytest.raises(MolgenError, match="record 'first' is not an integer"):
        read_complex_index(bad)
    bad.write_text("protein,ligand\nmissing.pdb,missing.sdf\n")
    with pytest.raises(MolgenError, match=r"no complex could be prepared: protein file not found \(1\)"):
        prepare_complexes(bad, tmp_path / "c", DRUG, 8.0, False, None)


@pytest.mark.slow
def test_full_fep_benchmark(tmp_path: Path) -> None:
    """All 1,343 FEP ligand records from the shared archive (minutes)."""
    import shutil
    import tarfile

    shared = Path(__file__).resolve().parents[3] / "shared/data/fep_benchmark"
    if not shared.is_dir():
        pytest.skip("shared FEP archive not available")
    with tarfile.open(shared / "schrodinger_fep_structure_inputs.tar.xz") as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / "schrodinger_fep_structure_inputs"
    shutil.copy(shared / "fep_ligands_index.csv", root)
    summary = prepare_complexes(root / "fep_ligands_index.csv", tmp_path / "c", DRUG, 8.0, True, None)
    assert summary["kept"] + summary["skipped"] == 1343 and summary["proteins_parsed"] == 92
