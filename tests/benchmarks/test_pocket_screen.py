"""benchmarks.pocket_screen: the sites it picks (as benchmarks.pocket does), the means per part, and one
real run of the shipped pocket model (two ligands, two steps, one FEP site and one crystal complex)."""

from __future__ import annotations

import json

import pytest

from benchmarks import pocket_screen
from tests.benchmarks.test_pocket import _split, two_site_split
from tests.conftest import ROOT


def test_sites_one_fep_site_per_target_then_every_crystal(tmp_path):
    fep = _split(tmp_path)
    sites = pocket_screen.screen_sites(tmp_path)
    assert [(name, part) for name, part, _ in sites] == [
        ("t1", "fep"), ("t2", "fep"), ("1S3V", "crystal"), ("7ZTL_BCN", "crystal"), ("1G9V_RQ3", "crystal")]
    assert sites[0][2]["protein"] == str(fep / "t1a" / "p.pdb") and sites[0][2]["record"] == "0"


def test_part_means_skip_missing_figures():
    rows = [{"valid": 0.5, "qed": None}, {"valid": 0.25, "qed": 0.6}]
    means = pocket_screen.part_means(rows)
    assert means["sites"] == 2 and means["valid"] == 0.375 and means["qed"] == 0.6 and means["pb_valid"] is None


def test_failed_checks_count_whole_ligands_only():
    import pandas as pd

    # check columns, True = passes; an unselected check has no column; row 2 is not connected: not counted
    t = pd.DataFrame({"valid_connected": [True, True, False, True, True],
                      "bond_angles": [False, False, False, True, False],
                      "no_protein_clash": [False, True, True, True, True],
                      "internal_energy": [True, True, True, True, False]})
    assert pocket_screen.failed_checks(t) == {"bond_angles": 3, "no_protein_clash": 1, "internal_energy": 1}
    rows = [{"valid_connected": 0.5, "generated": 4, "pb_failures": {"a": 1}},
            {"valid_connected": 0.25, "generated": 4, "pb_failures": {"a": 1, "b": 2}}]
    means = pocket_screen.part_means(rows)
    assert means["valid_connected_n"] == 3 and means["pb_failures"] == {"a": 2, "b": 2}


def test_missing_split_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint", str(tmp_path / "m.ckpt"),
                            "--out", str(tmp_path / "o.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "split.json" in err and "\n" not in err


def test_shipped_pocket_model_end_to_end(tmp_path):
    two_site_split(tmp_path)
    out = tmp_path / "screen.json"
    res = pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint",
                              str(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"), "--num", "2", "--steps", "2",
                              "--atoms-range", "10:12", "--option", "discrete_temperature=0.5", "--guidance-option",
                              "start=0.7", "--relax", "--out", str(out)])
    (model,) = res["models"]
    assert model["process"]["discrete_temperature"] == 0.5  # the sampler the ligands came from
    assert model["guidance"]["start"] == 0.7 and model["guidance"]["clash_distance"] == 3.0
    assert [(r["site"], r["part"], r["generated"]) for r in model["per_site"]] == [
        ("thrombin", "fep", 2), ("1S3V", "crystal", 2)]
    for r in model["per_site"]:
        assert 10 <= r["heavy_atoms"] <= 12  # every ligand drawn in the asked size range
        assert r["all_targets"] <= min(r["valid_connected"], r["pb_valid"], r["frac_centroid_within_4A"])
    assert model["mean_over_sites"]["fep"]["sites"] == 1 and json.loads(out.read_text())["models"][0]["meta"]
    assert all(isinstance(r["pb_failures"], dict) for r in model["per_site"])
    # --relax: the whole ligands relaxed, the rest not
    for r in model["per_site"]:
        assert r["relaxed_n"] + r["relax_failed"] == round(r["valid_connected"] * 2)
        assert r["relaxed_pb_valid"] <= r["valid_connected"]



def test_one_part_and_validation_settings(tmp_path, capsys):
    """``--parts crystal`` screens the crystal pocket only; ``--embed-timeout`` and ``--workers`` reach the
    validator (the arguments are recorded); a part that does not exist is a one-line error."""
    two_site_split(tmp_path)
    ck = str(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt")
    res = pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint", ck, "--num", "2", "--steps", "2",
                              "--atoms-range", "10:12", "--parts", "crystal", "--embed-timeout", "30",
                              "--out", str(tmp_path / "o.json")])
    (model,) = res["models"]
    assert [r["site"] for r in model["per_site"]] == ["1S3V"] and list(model["mean_over_sites"]) == ["crystal"]
    assert res["arguments"]["embed_timeout"] == 30 and model["process"]["valence"] == "final"
    with pytest.raises(SystemExit) as exc:
        pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint", ck, "--parts", "kinases",
                            "--out", str(tmp_path / "p.json")])
    assert exc.value.code == 2 and "kinases" in capsys.readouterr().err


def test_sizes_reference_draws_around_each_sites_first_ligand(tmp_path, capsys):
    """``--sizes reference``: the 1S3V ligands within 2 heavy atoms of its crystal ligand's 27; with
    ``--atoms-range`` as well, a one-line error and exit code 2."""
    two_site_split(tmp_path)
    ck = str(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt")
    res = pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint", ck, "--num", "4", "--steps", "1",
                              "--parts", "crystal", "--sizes", "reference", "--out", str(tmp_path / "o.json")])
    (row,) = res["models"][0]["per_site"]
    assert 25 <= row["heavy_atoms"] <= 29 and res["arguments"]["sizes"] == "reference"
    with pytest.raises(SystemExit) as exc:
        pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint", ck, "--num", "1", "--steps", "1",
                            "--parts", "crystal", "--sizes", "reference", "--atoms-range", "10:12",
                            "--out", str(tmp_path / "p.json")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "not both" in err and "\n" not in err


def test_bad_sampler_option_is_one_line(tmp_path, capsys):
    _split(tmp_path)
    with pytest.raises(SystemExit) as exc:
        pocket_screen.main(["--split-dir", str(tmp_path), "--checkpoint",
                            str(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt"), "--option", "no_such_knob=1",
                            "--num", "1", "--steps", "1", "--out", str(tmp_path / "o.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no_such_knob" in err and "\n" not in err
    assert not (tmp_path / "o.json").exists()


def test_relaxed_figures_on_the_crystal_ligand():
    """The 1S3V crystal ligand (heavy atoms, as the model writes them) relaxed in its pocket: one ligand of
    two generated, PB-valid after relaxing (so 0.5 over the two), clear of the protein, moved under 2 Å."""
    from rdkit import Chem

    from molgen.validation.io import load_protein
    from tests.benchmarks.test_pocket import PB

    protein = PB / "1S3V" / "1s3v_protein_one_lig_removed.pdb"
    lig = Chem.RemoveHs(Chem.MolFromMolFile(str(PB / "1S3V" / "1s3v_ligand.sdf"), removeHs=False))
    heavy = load_protein(protein).pos
    out = pocket_screen.relaxed_figures([lig], protein, heavy, lig.GetConformer().GetPositions().mean(0), num=2)
    assert out["relaxed_n"] == 1 and out["relax_failed"] == 0
    assert out["relaxed_pb_valid"] == 0.5 and out["relaxed_frac_min_protein_dist_ge_2A"] == 1.0
    assert 0 < out["relax_rmsd_A_median"] < 2.0 and out["relaxed_pb_failures"] == {}
    none = pocket_screen.relaxed_figures([], protein, heavy, lig.GetConformer().GetPositions().mean(0), num=2)
    assert none["relaxed_n"] == 0 and none["relaxed_pb_valid"] == 0.0
    means = pocket_screen.part_means([{"generated": 2, **out}, {"generated": 2, **none}])
    assert means["relaxed_pb_valid"] == 0.25 and means["relaxed_n"] == 1 and means["relaxed_pb_failures"] == {}
