"""benchmarks.druglike: the drug-like table on a hand-made SDF and MOSES-format CSVs, checked by hand."""

from __future__ import annotations

import gzip
import json

import pytest
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from benchmarks.druglike import draw_reference, main
from tests.conftest import ROOT

#: The generated file: benzene twice, cyclopropane, naphthalene, cyclododecane, a salt (two fragments),
#: and a last record with a five-bonded carbon (written, read, not valid).
GENERATED = ["c1ccccc1", "c1ccccc1", "C1CC1", "c1ccc2ccccc2c1", "C1CCCCCCCCCCC1", "C[NH3+].[Cl-]"]
REFERENCE = ["c1ccccc1", "C1CCCCC1", "CCO", "c1ccc2ccccc2c1"]
TRAIN = ["c1ccccc1", "CC"]


def _csv(path, smiles):
    with gzip.open(path, "wt") as fh:
        fh.write("SMILES\n" + "".join(f"{s}\n" for s in smiles))
    return path


def _pentavalent_carbon() -> Chem.Mol:
    mol = Chem.RWMol()
    c = mol.AddAtom(Chem.Atom(6))
    for _ in range(5):
        mol.AddBond(c, mol.AddAtom(Chem.Atom(9)), Chem.BondType.SINGLE)
    conf = Chem.Conformer(6)
    conf.Set3D(True)
    xyz = [(0, 0, 0), (0, 0, 1.4), (0, 0, -1.4), (1.4, 0, 0), (-0.7, 1.21, 0), (-0.7, -1.21, 0)]
    for i, p in enumerate(xyz):
        conf.SetAtomPosition(i, Point3D(*p))
    mol.AddConformer(conf)
    mol.UpdatePropertyCache(strict=False)
    return mol.GetMol()


def _sdf(path):
    with Chem.SDWriter(str(path)) as w:
        for s in GENERATED:
            mol = Chem.AddHs(Chem.MolFromSmiles(s))
            assert AllChem.EmbedMolecule(mol, randomSeed=1) == 0
            AllChem.MMFFOptimizeMolecule(mol)
            w.write(mol)
        w.write(_pentavalent_carbon())
    return path


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("druglike")
    out = tmp / "res" / "druglike.json"
    ref, train = _csv(tmp / "test.csv.gz", REFERENCE), _csv(tmp / "train.csv.gz", TRAIN)
    res = main(["--sdf", str(_sdf(tmp / "gen.sdf")), "--reference-csv", str(ref), "--reference-num", "10",
                "--reference-3d", "2", "--novelty-csv", str(train), "--save-sdf", str(tmp / "work"),
                "--out", str(out)])
    return res, out


def test_generated_figures_from_the_sdf(judged):
    res, _ = judged
    g = res["generated"]
    # all 7 records are rows: 6 valid (not the five-bonded carbon), 5 of them one fragment (not the salt)
    assert (g["n"], g["n_valid"]) == (7, 6) and g["valid"] == pytest.approx(6 / 7)
    assert g["valid_connected"] == pytest.approx(5 / 7)
    # the five-bonded carbon is one fragment but fails sanitization; the salt is two fragments
    assert g["checks"]["all_atoms_connected"] == pytest.approx(6 / 7)
    assert g["checks"]["sanitization"] == pytest.approx(6 / 7)
    assert g["pb_valid"] <= 5 / 7
    assert g["unique"] == pytest.approx(5 / 6)  # benzene twice
    assert g["novel"] == pytest.approx(4 / 5)  # benzene is a training molecule
    # rings of the valid six (largest fragment): 6 | 6 | 3 | 6,6 | 12 | none
    assert g["ring_size_counts"] == {"3": 1, "4": 0, "5": 0, "6": 4, "7": 0, "8+": 1}
    assert g["rings_6"] == pytest.approx(4 / 6) and g["rings_8+"] == pytest.approx(1 / 6)
    assert g["rings_mean"] == pytest.approx(1.0)
    assert g["aromatic_fraction"] == pytest.approx(3 / 6)
    assert g["ring_le4_fraction"] == pytest.approx(1 / 6) and g["ring_ge8_fraction"] == pytest.approx(1 / 6)
    assert g["ring_le4_or_ge8_fraction"] == pytest.approx(2 / 6)
    assert g["heavy_atoms_mean"] == pytest.approx((6 + 6 + 3 + 10 + 12 + 3) / 6)  # the salt's Cl counts
    # ring sizes 3, 6x4, 12 against the reference's 6x4: TV = (1/6 + 1/3 + 1/6) / 2
    assert g["ring_sizes_tv"] == pytest.approx(1 / 3)
    assert g["strain_median"] is not None and 0 <= g["qed_mean"] <= 1


def test_reference_columns(judged):
    res, _ = judged
    r = res["reference"]
    assert (r["asked"], r["n"], r["n_valid"]) == (4, 4, 4)  # 10 asked of a 4-row file: all 4
    assert r["ring_size_counts"]["6"] == 4 and r["rings_6"] == pytest.approx(1.0)
    assert r["aromatic_fraction"] == pytest.approx(0.5) and r["ring_le4_or_ge8_fraction"] == 0
    assert r["heavy_atoms_mean"] == pytest.approx((6 + 6 + 3 + 10) / 4)
    assert r["novel"] == pytest.approx(3 / 4)  # benzene again
    assert r["pb_valid"] is None and r["strain_median"] is None  # SMILES: no 3D figures
    r3 = res["reference_3d"]
    assert res["reference_embedding"]["embedded"] == 2 and (r3["asked"], r3["n"]) == (2, 2)
    assert r3["pb_valid"] == 1.0 and r3["strain_median"] < 1.0  # MMFF-relaxed conformers
    assert res["reference_source"]["n_total"] == 4


def test_json_and_markdown_written(judged):
    res, out = judged
    assert json.loads(out.read_text())["rows"] == res["rows"]
    assert res["command"].startswith("python -m benchmarks.druglike --sdf ") and res["date"]
    md = out.with_suffix(".md").read_text()
    assert "| statistic | generated (n=7) | MOSES test SMILES (n=4) | MOSES test in 3D (n=2) |" in md
    assert "| with a ring of <= 4 or >= 8 atoms | 0.333 | 0.000 |" in md
    assert "| valid & connected (of all) | 0.714 | 1.000 | 1.000 |" in md


def test_reference_draw_is_seeded():
    smiles = [f"C{'C' * i}O" for i in range(50)]
    a = draw_reference(smiles, 10, seed=3)
    assert a == draw_reference(smiles, 10, seed=3) and a != draw_reference(smiles, 10, seed=4)
    assert len(set(a)) == 10 and set(a) <= set(smiles) and a != smiles[:10]
    assert sorted(draw_reference(smiles, 80, seed=0)) == sorted(smiles)


def test_checkpoint_samples_every_molecule_asked(tmp_path):
    ref = _csv(tmp_path / "test.csv.gz", REFERENCE)
    out = tmp_path / "ck.json"
    res = main(["--checkpoint", str(ROOT / "data" / "checkpoints" / "qm9_heavy_flow.ckpt"), "--num", "4",
                "--steps", "3", "--batch-size", "4", "--threads", "1", "--reference-csv", str(ref),
                "--reference-3d", "1", "--novelty-csv", "none", "--save-sdf", str(tmp_path / "w"),
                "--sizes", "5,7", "--size-num", "3", "--out", str(out)])
    g = res["generated"]
    assert [r["atoms"] for r in res["by_size"]] == [5, 7] and all(r["n"] == 3 for r in res["by_size"])
    assert all(0 <= r["valid_connected"] <= r["valid"] <= 1 for r in res["by_size"])
    assert "| 7 | 3 |" in out.with_suffix(".md").read_text()
    assert res["sampling"]["written"] == g["n"] == g["asked"] == 4 and res["vocab"] == "qm9_heavy"
    assert res["trained"]["global_step"] > 0 and g["pb_valid"] is not None and g["novel"] is None
    assert (tmp_path / "w" / "generated.sdf").read_text().count("$$$$") == 4
    assert "3 steps, seed 0" in out.with_suffix(".md").read_text()


@pytest.mark.parametrize("flag", ["--sdf", "--checkpoint", "--reference-csv", "--novelty-csv"])
def test_missing_file_is_one_line(tmp_path, capsys, flag):
    ref = _csv(tmp_path / "test.csv.gz", REFERENCE)
    sdf = tmp_path / "x.sdf"
    sdf.write_text("not read: the inputs are checked first\n")
    missing = tmp_path / "nowhere.file"
    args = {"--reference-csv": str(ref), "--novelty-csv": "none"}
    args["--checkpoint" if flag == "--checkpoint" else "--sdf"] = str(sdf)
    args[flag] = str(missing)
    with pytest.raises(SystemExit) as exc:
        main([x for kv in args.items() for x in kv] + ["--out", str(tmp_path / "o.json")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: ") and str(missing) in err and "not found" in err
    assert not (tmp_path / "o.json").exists()
