"""Binding sites of several sources, one complexes index, and the split by protein."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import shutil
import tarfile
from pathlib import Path

import pytest
from rdkit import Chem

from molgen.data.pocket import read_protein
from molgen.data.sites import (
    Site,
    chain_identity,
    crystal_sites,
    fep_held_out,
    fep_sites,
    openff_sites,
    pb2_sites,
    same_protein,
    split_sites,
    write_site_split,
)

REPO = Path(__file__).resolve().parents[2]
COMPLEXES = REPO / "data" / "complexes"
PB2 = Path(__file__).parent / "fixtures" / "pb2"
SHARED = REPO.parent / "shared" / "data"
AA = "ACDEFGHIKLMNPQRSTVWY"


def _seq(rng: random.Random, n: int = 200) -> str:
    return "".join(rng.choice(AA) for _ in range(n))


def _mutate(rng: random.Random, seq: str, n: int) -> str:
    s = list(seq)
    for i in rng.sample(range(len(s)), n):
        s[i] = rng.choice([a for a in AA if a != s[i]])
    return "".join(s)


def _assert_no_protein_on_both_sides(sites: list[Site], split: dict[str, str]) -> None:
    train = [s for s in sites if split[s.site] == "train"]
    test = [s for s in sites if split[s.site] == "test"]
    assert train and test
    for a in train:
        for b in test:
            assert same_protein(a, b) is None, (a.site, b.site, same_protein(a, b))


def test_chain_identity_separates_mutants_from_homologs() -> None:
    rng = random.Random(0)
    p = _seq(rng)
    assert chain_identity(p, _mutate(rng, p, 4))[0] == pytest.approx(0.98)
    ident, cover = chain_identity(p, p[40:160])
    assert ident == 1.0 and cover == 1.0
    assert chain_identity(p, _mutate(rng, p, 80))[0] < 0.7
    assert same_protein(Site("pb2", "a", sequences=(p,)), Site("pb2", "b", sequences=(_seq(rng),))) is None


def test_split_never_puts_one_protein_on_both_sides() -> None:
    rng = random.Random(1)
    p1, p2, p3, p4, p6 = (_seq(rng) for _ in range(5))
    sites = [
        Site("fep", "fep:a", "alpha", sequences=(p1,)),
        Site("fep", "fep:b", "beta", sequences=(p2,)),
        Site("fep", "fep:c", "alpha-like", sequences=(_mutate(rng, p1, 4),)),  # drawn to train, same protein
        Site("crystal", "crystal:x", "", frozenset({"3AAA"}), (p3,)),
        # OpenFF delta matches no seed, only OpenFF alpha (through p6): held out on the second pass
        Site("openff", "openff:delta", "delta", sequences=(_mutate(rng, p6, 1),)),
        Site("openff", "openff:alpha", "Alpha", sequences=(p6,)),  # same target name as fep:a
        Site("openff", "openff:eps", "eps", sequences=(p4,)),
        Site("pb2", "pb2:1", "", frozenset({"1ABC"}), (_mutate(rng, p2, 3),)),  # same protein as a train site
        Site("pb2", "pb2:2", "", frozenset({"2XYZ"}), (_mutate(rng, p1, 80),)),  # a homolog (60 %): a new protein
        Site("pb2", "pb2:3", "", frozenset({"3AAA"}), (_seq(rng),)),  # the crystal complex's PDB entry
        Site("pb2", "pb2:4", "", frozenset(), (_seq(rng, 60), _mutate(rng, p3[50:170], 5))),  # a domain of p3
    ]
    out = split_sites(sites, ["crystal:x", "fep:a"])
    assert out.split == {
        "fep:a": "test", "fep:b": "train", "fep:c": "excluded", "crystal:x": "test", "openff:delta": "test",
        "openff:alpha": "test", "openff:eps": "train", "pb2:1": "train", "pb2:2": "train",
        "pb2:3": "excluded", "pb2:4": "excluded",
    }  # fmt: skip
    assert out.reason["openff:alpha"] == "same protein as fep:a (target Alpha)"
    assert out.reason["openff:delta"] == "same protein as openff:alpha (sequence 100 % identical over 100 %)"
    assert out.reason["pb2:3"] == "same protein as crystal:x (PDB 3AAA)"
    _assert_no_protein_on_both_sides(sites, out.split)
    with pytest.raises(ValueError, match="held-out sites not among the sites"):
        split_sites(sites, ["fep:zzz"])


def _fep_root(tmp: Path) -> tuple[Path, Path]:
    """Two FEP systems (the committed samples) laid out as the benchmark's structure inputs."""
    root = tmp / "fep"
    (root / "jacs_set").mkdir(parents=True)
    rows = []
    for system, n in (("mcl1_extra_flips", 4), ("thrombin_core", 3)):
        for kind in ("protein.pdb", "ligands.sdf"):
            shutil.copy(COMPLEXES / "fep" / system / f"{system}_{kind}", root / "jacs_set" / f"{system}_{kind}")
        rows += [{"subset": "jacs_set", "system": system, "protein_pdb": f"jacs_set/{system}_protein.pdb",
                  "ligand_sdf": f"jacs_set/{system}_ligands.sdf", "record": k} for k in range(n)]
    (root / "jacs_set" / "subset_metadata.csv").write_text(
        "Group name,Group abbreviation,Protein,Input file naming scheme,Reference PDB\n"
        "R,jacs_set,Mcl1,mcl1_extra_flips,4HW3\nR,jacs_set,Thrombin,thrombin_core,2ZFF\n"
    )
    index = tmp / "fep_index.csv"
    with open(index, "w", newline="") as fh:
        w = csv.DictWriter(fh, ["subset", "system", "protein_pdb", "ligand_sdf", "record"])
        w.writeheader()
        w.writerows(rows)
    return root, index


def _crystal_index(tmp: Path) -> tuple[Path, Path]:
    root = COMPLEXES / "posebusters"
    index = tmp / "pb_index.csv"
    lines = ["complex_id,protein_pdb,ligand_sdf"]
    with open(COMPLEXES / "index.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["protein"].startswith("posebusters/"):
            lines.append(f"{row['name']},{row['protein'].removeprefix('posebusters/')},"
                         f"{row['ligand'].removeprefix('posebusters/')}")
    index.write_text("\n".join(lines) + "\n")
    return root, index


def _openff_root(tmp: Path) -> Path:
    """OpenFF-style targets mcl1 and thrombin (the FEP samples' files), thrombin with a cofactor."""
    root = tmp / "openff" / "data"
    for target, system in (("mcl1", "mcl1_extra_flips"), ("thrombin", "thrombin_core")):
        crd = root / target / "01_protein" / "crd"
        crd.mkdir(parents=True)
        (root / target / "02_ligands").mkdir()
        (root / target / "00_data").mkdir()
        shutil.copy(COMPLEXES / "fep" / system / f"{system}_protein.pdb", crd / "protein.pdb")
        shutil.copy(COMPLEXES / "fep" / system / f"{system}_ligands.sdf", root / target / "02_ligands" / "ligands.sdf")
        (root / target / "00_data" / "target.yml").write_text(f"name: {target}\npdb: 9ZZ{target[0]}\n")
    first = next(iter(Chem.SDMolSupplier(str(COMPLEXES / "fep/thrombin_core/thrombin_core_ligands.sdf"),
                                         removeHs=False)))
    first.SetProp("_Name", "F6P")
    with Chem.SDWriter(str(root / "thrombin" / "01_protein" / "crd" / "cofactor.sdf")) as w:
        w.write(first)
    return root


def _pb2_root(tmp: Path) -> tuple[Path, Path]:
    """The two trimmed fixtures plus three broken rows: a renamed atom, a missing file, a wrong code."""
    root = tmp / "pb2"
    st = root / "posebusters_v2" / "structures"
    st.mkdir(parents=True)
    for cid in ("7jmv_4NC", "7a9h_TPP"):
        shutil.copy(PB2 / f"{cid}.pdb", st / f"{cid}.pdb")
    text = (PB2 / "7jmv_4NC.pdb").read_text()
    (st / "1bad_4NC.pdb").write_text(text.replace(" O7  4NC", " O99 4NC"))
    (st / "2bad_XYZ.pdb").write_text(text)
    index = root / "index.csv"
    index.write_text(
        "complex,pdb_id,ligand_ccd,structure\n"
        "7jmv_4NC,7jmv,4NC,posebusters_v2/structures/7jmv_4NC.pdb\n"
        "1bad_4NC,1bad,4NC,posebusters_v2/structures/1bad_4NC.pdb\n"
        "9zzz_4NC,9zzz,4NC,posebusters_v2/structures/9zzz_4NC.pdb\n"
        "2bad_XYZ,2bad,XYZ,posebusters_v2/structures/2bad_XYZ.pdb\n"
        "7a9h_TPP,7a9h,TPP,posebusters_v2/structures/7a9h_TPP.pdb\n"
    )
    return root, index


def test_pb2_batch_goes_on_past_broken_ligands(tmp_path: Path) -> None:
    pytest.importorskip("biotite")
    root, index = _pb2_root(tmp_path)
    sites, failures = pb2_sites(root, index, tmp_path / "files")
    assert [s.site for s in sites] == ["pb2:7jmv_4NC", "pb2:7a9h_TPP"]
    assert failures == [
        {"complex": "1bad_4NC", "reason": "atom O99 is not in chemical component 4NC"},
        {"complex": "9zzz_4NC", "reason": "structure file posebusters_v2/structures/9zzz_4NC.pdb not found"},
        {"complex": "2bad_XYZ", "reason": "no HETATM residue XYZ in 2bad_XYZ.pdb"},
    ]
    (row,) = sites[0].rows
    mol = Chem.MolFromMolFile(row["ligand"], removeHs=False)
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == Chem.CanonSmiles("Oc1ccc(cc1O)[N+](=O)[O-]")
    receptor = Path(row["protein"]).read_text()
    assert "4NC" not in receptor and read_protein(row["protein"]).num_atoms > 100
    assert sites[1].pdb_ids == {"7A9H"}


def test_openff_cofactor_joins_the_protein(tmp_path: Path) -> None:
    sites = openff_sites(_openff_root(tmp_path), tmp_path / "files")
    assert [s.site for s in sites] == ["openff:mcl1", "openff:thrombin"]
    thrombin = sites[1]
    assert len(thrombin.rows) == 3 and thrombin.rows[2]["record"] == 2 and thrombin.pdb_ids == {"9ZZT"}
    protein = read_protein(thrombin.rows[0]["protein"])
    plain = read_protein(COMPLEXES / "fep/thrombin_core/thrombin_core_protein.pdb")
    cof = Chem.MolFromMolFile(str(_openff_root(tmp_path / "again") / "thrombin/01_protein/crd/cofactor.sdf"),
                              removeHs=False)
    assert protein.num_atoms == plain.num_atoms + cof.GetNumAtoms()
    assert "F6P Z 900" in Path(thrombin.rows[0]["protein"]).read_text()


def test_more_sources_leave_the_held_out_sites_unchanged(tmp_path: Path) -> None:
    pytest.importorskip("biotite")
    fep_root, fep_index = _fep_root(tmp_path)
    pb_root, pb_index = _crystal_index(tmp_path)
    pb2_root, pb2_index = _pb2_root(tmp_path)
    openff = _openff_root(tmp_path)
    # 2 FEP + 4 crystal sites; a 0.8 quota (5 sites) holds out the crystal complexes and one FEP target
    only = write_site_split(tmp_path / "a", fep_root, fep_index, pb_root, pb_index, test_fraction=0.8)
    full = write_site_split(tmp_path / "b", fep_root, fep_index, pb_root, pb_index, pb2_root, pb2_index, openff,
                            test_fraction=0.8)
    for name in ("test_fep.csv", "test_crystal.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert only["test_targets"] == full["test_targets"] and len(full["test_targets"]) == 1
    held = full["test_targets"][0]
    kept = {"mcl1": "thrombin", "thrombin": "mcl1"}[held]
    assert full["sites_split"][f"openff:{held}"] == "test" and full["sites_split"][f"openff:{kept}"] == "train"

    def read(name: str) -> list[dict]:
        with open(tmp_path / "b" / name, newline="") as fh:
            return list(csv.DictReader(fh))

    train, test = read("train.csv"), read("test.csv")
    system = {"mcl1": "mcl1_extra_flips", "thrombin": "thrombin_core"}[kept]
    assert {r["site"] for r in train} == {f"fep:jacs_set/{system}_protein.pdb", f"openff:{kept}", "pb2:7jmv_4NC",
                                          "pb2:7a9h_TPP"}
    assert {r["source"] for r in test} == {"fep", "crystal", "openff"}
    assert [r["complex"] for r in read("pb2_failures.csv")] == ["1bad_4NC", "9zzz_4NC", "2bad_XYZ"]
    per = full["per_source"]
    assert sum(v["train"]["ligands"] for v in per.values()) == len(train) == full["train_ligands"]
    assert sum(v["test"]["ligands"] for v in per.values()) == len(test)
    assert per["pb2"] == {"train": {"sites": 2, "ligands": 2}, "test": {"sites": 0, "ligands": 0},
                          "excluded": {"sites": 0, "ligands": 0}, "ligand_failures": 3}
    sites = (fep_sites(fep_root, fep_index) + crystal_sites(pb_root, pb_index)
             + pb2_sites(pb2_root, pb2_index, tmp_path / "c")[0] + openff_sites(openff, tmp_path / "d"))
    _assert_no_protein_on_both_sides(sites, full["sites_split"])
    # every row is a complexes index row with absolute paths that exist
    assert all(Path(r["protein"]).is_absolute() and Path(r["ligand"]).is_file() for r in train + test)
    assert json.loads((tmp_path / "b" / "split.json").read_text())["totals"] == full["totals"]


@pytest.mark.skipif(not (SHARED / "fep_benchmark").is_dir(), reason="needs ../shared/data")
def test_fep_draw_is_the_shipped_models_split(tmp_path: Path) -> None:
    # the held-out FEP targets recorded with the shipped pocket model's benchmark
    record = json.loads((REPO / "benchmarks/results/pocket_step14000.json").read_text())["split"]
    with tarfile.open(SHARED / "fep_benchmark/schrodinger_fep_structure_inputs.tar.xz") as tar:
        members = [m for m in tar if m.name.endswith("subset_metadata.csv")]
        tar.extractall(tmp_path, members=members, filter="data")
    root = tmp_path / "schrodinger_fep_structure_inputs"
    fep = fep_sites(root, SHARED / "fep_benchmark/fep_ligands_index.csv", sequences=False)
    targets = fep_held_out(fep, n_crystal=12)
    assert sorted(targets) == record["test_targets"]
    held = [s for s in fep if s.target in targets]
    assert 12 + len(held) == record["held_out_sites"] == 21
    assert sum(len(s.rows) for s in held) == record["test_fep_ligands"]
    assert sum(len(s.rows) for s in fep) - record["test_fep_ligands"] == record["train_ligands"]
    # the draw depends only on the FEP and crystal sites, not on what else is split beside them
    assert fep_held_out([dataclasses.replace(s) for s in reversed(fep)], n_crystal=12) == targets
