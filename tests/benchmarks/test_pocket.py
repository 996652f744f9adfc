"""benchmarks.pocket: placement figures, issue 16's targets block, the CLI's guidance and parts, and the
wiring of the crystal generation part, checked by hand; one end-to-end run of the shipped model (slow)."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Geometry import Point3D

from benchmarks import pocket
from benchmarks.pocket import (
    generation_targets,
    ligand_figures,
    placement_figures,
    pose_targets,
    site_means,
    target,
    targets_block,
)
from tests.conftest import DATA, ROOT

PB = DATA / "complexes" / "posebusters"
THROMBIN = DATA / "complexes" / "fep" / "thrombin_core"


def _mol(atoms: list[tuple[int, tuple[float, float, float]]]) -> Chem.Mol:
    mol = Chem.RWMol()
    conf = Chem.Conformer(len(atoms))
    for i, (z, xyz) in enumerate(atoms):
        mol.AddAtom(Chem.Atom(z))
        conf.SetAtomPosition(i, Point3D(*xyz))
    if len(atoms) > 1:
        mol.AddBond(0, 1, Chem.BondType.SINGLE)
    conf.Set3D(True)
    mol.AddConformer(conf)
    return mol.GetMol()


# ---- placement ---------------------------------------------------------------------------------------
def test_ligand_figures_by_hand():
    """C at the origin, O at (1.5, 0, 0), an H 0.5 Å from a protein atom (ignored: heavy atoms only)."""
    co = _mol([(6, (0.0, 0.0, 0.0)), (8, (1.5, 0.0, 0.0)), (1, (1.5, 0.0, 2.0))])
    protein = np.array([[0.0, 3.0, 0.0], [1.5, 0.0, 2.5], [10.0, 10.0, 10.0]])
    ref_centroid = np.array([0.75, 3.0, 4.0])
    no_conformer = Chem.MolFromSmiles("CO")
    figs = ligand_figures([co, None, no_conformer, _mol([(1, (0.0, 0.0, 0.0))])], protein, ref_centroid)
    # nearest: C-(0,3,0) is 3.0, O-(1.5,0,2.5) is 2.5; heavy centroid (0.75,0,0) is (0,3,4) from the reference
    assert figs[0] == {"min_protein_dist_A": pytest.approx(2.5), "centroid_to_ref_A": pytest.approx(5.0)}
    for f in figs[1:]:  # nothing to measure: NaN, which fails every cut
        assert math.isnan(f["min_protein_dist_A"]) and math.isnan(f["centroid_to_ref_A"])


def test_placement_figures_count_every_ligand():
    """Four ligands: all targets met; 1.999 Å from the protein; not pb_valid (on both bounds);
    unparseable (NaN, counted as failing, left out of the medians)."""
    vc = [True, True, True, False]
    pb = [True, True, False, False]
    figs = [{"min_protein_dist_A": 2.5, "centroid_to_ref_A": 1.0},
            {"min_protein_dist_A": 1.999, "centroid_to_ref_A": 1.0},
            {"min_protein_dist_A": 2.0, "centroid_to_ref_A": 4.0},
            {"min_protein_dist_A": math.nan, "centroid_to_ref_A": math.nan}]
    assert placement_figures(vc, pb, figs) == {
        "min_protein_dist_A_median": 2.0, "frac_min_protein_dist_ge_2A": 0.5,
        "centroid_to_ref_A_median": 1.0, "frac_centroid_within_4A": 0.75, "all_targets": 0.25}
    # one more ligand outside 4 Å and everything else fine: still not all targets
    far = placement_figures([True], [True], [{"min_protein_dist_A": 3.0, "centroid_to_ref_A": 4.01}])
    assert far["all_targets"] == 0.0 and far["frac_min_protein_dist_ge_2A"] == 1.0
    with pytest.raises(ValueError, match="one flag per ligand"):
        placement_figures(vc[:3], pb, figs)


def test_pocket_guidance_summary_uses_the_same_figures():
    from benchmarks.pocket_guidance import summarise

    table = pd.DataFrame({"valid": [True, True], "valid_connected": [True, False], "pb_valid": [True, True]})
    figs = [{"min_protein_dist_A": 2.2, "centroid_to_ref_A": 3.0}, {"min_protein_dist_A": 1.0, "centroid_to_ref_A": 5.0}]
    out = summarise(table, figs, 1.234)
    assert out == {"n": 2, "valid": 1.0, "valid_connected": 0.5, "pb_valid": 1.0,
                   "min_protein_dist_A_median": 1.6, "frac_min_protein_dist_ge_2A": 0.5,
                   "centroid_to_ref_A_median": 4.0, "frac_centroid_within_4A": 0.5, "all_targets": 0.5,
                   "min_protein_dist_A": [2.2, 1.0], "centroid_to_ref_A": [3.0, 5.0], "seconds": 1.23}


# ---- the targets block ---------------------------------------------------------------------------------
def test_target_pass_fail():
    assert target(0.70, 0.70, ">=")["pass"] is True and target(0.699, 0.70, ">=")["pass"] is False
    assert target(1.0, 1.0, "<=")["pass"] is True and target(1.001, 1.0, "<=")["pass"] is False
    assert target(59.99, 60.0, "<")["pass"] is True and target(60.0, 60.0, "<")["pass"] is False
    assert target(None, 0.5, ">=") == {"value": None, "threshold": 0.5, "op": ">=", "pass": False}
    assert target(0.3, None, None) == {"value": 0.3, "threshold": None, "op": None, "pass": None}
    with pytest.raises(ValueError, match="unknown comparison"):
        target(1.0, 1.0, ">")


def test_generation_targets_by_hand():
    rows = [
        {"protein": "a", "valid_connected": 0.8, "pb_valid": 0.4, "qed": 0.6, "frac_centroid_within_4A": 1.0,
         "frac_min_protein_dist_ge_2A": 0.5, "all_targets": 0.3, "vina_median_minus_reference": 1.5},
        {"protein": "b", "valid_connected": 0.7, "pb_valid": 0.5, "qed": None, "frac_centroid_within_4A": 0.5,
         "frac_min_protein_dist_ge_2A": 0.25, "all_targets": 0.1, "vina_median_minus_reference": None},
        {"protein": "c", "valid_connected": 0.7, "pb_valid": 0.5, "qed": 0.4, "frac_centroid_within_4A": 0.5,
         "frac_min_protein_dist_ge_2A": 0.25, "all_targets": 0.1, "vina_median_minus_reference": 0.4},
        {"protein": "d", "valid_connected": 0.6, "pb_valid": 0.6, "qed": 0.5, "frac_centroid_within_4A": 0.0,
         "frac_min_protein_dist_ge_2A": 0.0, "all_targets": 0.0, "vina_median_minus_reference": 1.2},
    ]
    t = generation_targets({"per_site": rows, "mean_over_sites": site_means(rows)})
    assert t["valid_connected"] == {"value": 0.7, "threshold": 0.7, "op": ">=", "pass": True}
    assert t["pb_valid"] == {"value": 0.5, "threshold": 0.5, "op": ">=", "pass": True}
    assert t["qed"] == {"value": 0.5, "threshold": 0.5, "op": ">=", "pass": True}  # mean of 0.6, 0.4, 0.5
    assert t["frac_centroid_within_4A"] == {"value": 0.5, "threshold": None, "op": None, "pass": None}
    assert t["frac_min_protein_dist_ge_2A"]["value"] == 0.25 and t["all_targets"]["value"] == 0.125
    # median of 1.5, 0.4, 1.2 (site b has no scored generated ligand)
    assert t["vina_minimize_median_minus_reference"] == {"value": 1.2, "threshold": 1.0, "op": "<=",
                                                         "pass": False, "sites": 3, "of": 4}
    rows[3]["pb_valid"] = 0.2  # mean 0.4: fails
    assert generation_targets({"per_site": rows, "mean_over_sites": site_means(rows)})["pb_valid"]["pass"] is False


def test_pose_targets_count_against_vina_redocking():
    rows = [{"top1_rmsd_score": 1.0, "top1_rmsd_minimize": 1.0, "vina_dock_top1_rmsd": 1.5},
            {"top1_rmsd_score": 2.5, "top1_rmsd_minimize": None, "vina_dock_top1_rmsd": 1.0},
            {"top1_rmsd_score": None, "top1_rmsd_minimize": None, "vina_dock_top1_rmsd": 2.0},
            {"top1_rmsd_score": 1.9, "top1_rmsd_minimize": 3.0, "vina_dock_top1_rmsd": None}]
    assert pose_targets(rows) == {
        "top1_within_2A_score": {"value": 2, "threshold": 2, "op": ">=", "pass": True, "of": 4},
        "top1_within_2A_minimize": {"value": 1, "threshold": 2, "op": ">=", "pass": False, "of": 4},
        "vina_redock_within_2A": 2}


def test_targets_block_has_the_parts_that_ran():
    assert targets_block({}) == {}
    out = targets_block({"sampling": {"num": 100, "seconds": 59.9}, "torch_threads": 2})
    assert out == {"sampling": {"seconds_100_ligands": {"value": 59.9, "threshold": 60.0, "op": "<", "pass": True},
                                "torch_threads": 2}}
    assert targets_block({"sampling": {"num": 100, "seconds": 61.0}})["sampling"]["seconds_100_ligands"]["pass"] is False
    part = {"per_site": [{"valid_connected": 1.0}], "mean_over_sites": {"valid_connected": 1.0}}
    out = targets_block({"crystal_generation": part, "poses": {"per_complex": []}})
    assert set(out) == {"crystal_generation", "poses"}
    assert out["crystal_generation"]["valid_connected"]["pass"] is True
    assert out["crystal_generation"]["pb_valid"] == {"value": None, "threshold": 0.5, "op": ">=", "pass": False}


# ---- the command line ---------------------------------------------------------------------------------
def test_cli_guidance_sites_and_parts(tmp_path, monkeypatch, capsys):
    from molgen.sampling.guidance import GuidanceSettings

    seen = {}
    monkeypatch.setattr(pocket, "run_benchmark", lambda *a, **kw: seen.update(args=a, kw=kw) or {})
    base = ["--split-dir", str(tmp_path), "--out", str(tmp_path / "r.json")]
    pocket.main(base)
    assert seen["kw"]["guidance"] is None and seen["args"][5] is None  # sites: all by default
    pocket.main([*base, "--guidance", "--sites", "3"])
    assert seen["kw"]["guidance"] == GuidanceSettings() and seen["args"][5] == 3
    pocket.main([*base, "--guidance-option", "clash_distance=2.5", "--guidance-option", "start=0.8"])
    assert seen["kw"]["guidance"] == GuidanceSettings(clash_distance=2.5, start=0.8)
    pocket.main([*base, "--skip", "cost,crystal_generation"])
    assert seen["args"][8] == {"cost", "crystal_generation"}
    assert seen["kw"]["validation"] == {"workers": 0}  # the validator's own embedding time limit
    pocket.main([*base, "--workers", "2", "--embed-timeout", "10"])
    assert seen["kw"]["validation"] == {"workers": 2, "embed_timeout_s": 10}
    for bad, message in ((["--guidance-option", "clash_distanse=2"],
                          "--guidance-option: clash_distanse: unknown key (did you mean 'clash_distance'?)"),
                         (["--guidance-option", "start=2"], "--guidance-option: start: Input should be less"),
                         (["--skip", "cost,pose"], "--skip: unknown part(s) pose; known: cost,sampling,")):
        with pytest.raises(SystemExit) as exc:
            pocket.main([*base, *bad])
        assert exc.value.code == 2 and message in capsys.readouterr().err


# ---- the crystal generation part's wiring (no model: generation_site and pose_site recorded) -------------------
def _split(tmp_path):
    """Three held-out FEP sites of two targets and three crystal complexes, on committed files."""
    fep = tmp_path / "fep"
    for name in ("t1a", "t1b", "t2"):
        (fep / name).mkdir(parents=True)
    with open(tmp_path / "test_fep.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record", "name"])
        for site in ("t1a", "t1b", "t2"):
            for k in range(3):
                w.writerow([fep / site / "p.pdb", THROMBIN / "thrombin_core_ligands.sdf", k, f"{site}_{k}"])
    with open(tmp_path / "test_crystal.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record", "name"])
        w.writerow([PB / "1S3V" / "1s3v_protein_one_lig_removed.pdb", PB / "1S3V" / "1s3v_ligand.sdf", 0, "1S3V"])
        w.writerow([PB / "7ZTL_BCN" / "7ZTL_BCN_protein.pdb", PB / "7ZTL_BCN" / "7ZTL_BCN_ligand.sdf", 0, "7ZTL_BCN"])
        w.writerow([PB / "1G9V_RQ3" / "1G9V_RQ3_protein.pdb", PB / "1G9V_RQ3" / "1G9V_RQ3_ligand.sdf", 0, "1G9V_RQ3"])
    split = {"seed": 0, "test_fraction": 0.2, "sites": 3, "held_out_sites": 3, "test_targets": ["t1", "t2"],
             "train_ligands": 0, "test_fep_ligands": 9, "fep_root": str(fep),
             "site_target": {"t1a/p.pdb": "t1", "t1b/p.pdb": "t1", "t2/p.pdb": "t2"}}
    (tmp_path / "split.json").write_text(json.dumps(split))
    return fep


def two_site_split(tmp_path):
    """One held-out FEP site (thrombin, its first ligand) and one crystal complex (1S3V), on committed files."""
    with open(tmp_path / "test_fep.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record", "name"])
        w.writerow([THROMBIN / "thrombin_core_protein.pdb", THROMBIN / "thrombin_core_ligands.sdf", 0, "t0"])
    with open(tmp_path / "test_crystal.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record", "name"])
        w.writerow([PB / "1S3V" / "1s3v_protein_one_lig_removed.pdb", PB / "1S3V" / "1s3v_ligand.sdf", 0, "1S3V"])
    (tmp_path / "split.json").write_text(json.dumps({
        "fep_root": str(THROMBIN.parent), "site_target": {"thrombin_core/thrombin_core_protein.pdb": "thrombin"}}))


def test_run_benchmark_crystal_generation_wiring(tmp_path, monkeypatch):
    import molgen.training
    from molgen.sampling.guidance import GuidanceSettings

    fep = _split(tmp_path)
    calls = []

    def fake_site(gm, protein, refs, num, steps, seed, tmp, dock_num, guidance=None, name=None, validation=None):
        calls.append({"protein": str(protein), "refs": [Chem.MolToSmiles(Chem.RemoveHs(m)) for m in refs],
                      "heavy": [m.GetNumHeavyAtoms() for m in refs], "guidance": guidance, "name": name,
                      "validation": validation})
        return {"protein": str(protein), "generated": num, "valid_connected": 0.8, "pb_valid": 0.6, "qed": 0.55,
                "vina_median_minus_reference": 0.5 if name is None else 2.0}

    monkeypatch.setattr(molgen.training, "load_model", lambda *a, **kw: SimpleNamespace(meta={"kind": "fake"}))
    monkeypatch.setattr(pocket, "generation_site", fake_site)
    monkeypatch.setattr(pocket, "pose_site", lambda gm, protein, ligand, *a: {
        "complex": ligand, "top1_rmsd_score": 1.0, "top1_rmsd_minimize": 3.0, "vina_dock_top1_rmsd": 1.5})
    settings = GuidanceSettings(start=0.7)
    res = pocket.run_benchmark(tmp_path / "m.ckpt", tmp_path, num=5, poses=2, steps=3, sites=None, seed=0,
                               view="progressive", skip={"cost", "sampling"}, crystals=2, dock_num=0,
                               guidance=settings, validation={"workers": 0, "embed_timeout_s": 10})
    # one FEP site per target (the first in sorted order), up to num of its ligands as references
    fep_calls, crystal_calls = calls[:2], calls[2:]
    assert [c["protein"] for c in fep_calls] == [str(fep / "t1a" / "p.pdb"), str(fep / "t2" / "p.pdb")]
    assert all(len(c["refs"]) == 3 and c["name"] is None for c in fep_calls)
    # the first two crystal complexes, each with its crystal ligand as the single reference
    crystal = [Chem.MolFromMolFile(str(PB / n / f), removeHs=False)
               for n, f in (("1S3V", "1s3v_ligand.sdf"), ("7ZTL_BCN", "7ZTL_BCN_ligand.sdf"))]
    assert [c["name"] for c in crystal_calls] == ["1S3V", "7ZTL_BCN"]
    assert [c["heavy"] for c in crystal_calls] == [[m.GetNumHeavyAtoms()] for m in crystal]
    assert all(c["guidance"] is settings for c in calls)
    assert all(c["validation"] == {"workers": 0, "embed_timeout_s": 10} for c in calls)
    assert res["settings"]["validation"] == {"workers": 0, "embed_timeout_s": 10}
    assert res["settings"]["guidance"] == settings.summary() and res["settings"]["guidance_parts"] == [
        "generation", "crystal_generation"]
    assert res["settings"]["sites"] == 2 and res["settings"]["crystals"] == 2
    assert set(res) >= {"generation", "crystal_generation", "poses", "targets"} and "sampling" not in res
    assert len(res["crystal_generation"]["per_site"]) == 2 and len(res["poses"]["per_complex"]) == 2
    t = res["targets"]
    assert t["generation"]["vina_minimize_median_minus_reference"]["pass"] is True
    assert t["crystal_generation"]["vina_minimize_median_minus_reference"]["pass"] is False
    assert t["poses"]["top1_within_2A_score"]["pass"] is True and t["poses"]["top1_within_2A_minimize"]["pass"] is False
    # skipping both crystal parts needs no crystal file
    (tmp_path / "test_crystal.csv").unlink()
    res = pocket.run_benchmark(tmp_path / "m.ckpt", tmp_path, 5, 2, 3, 1, 0, "progressive",
                               {"cost", "sampling", "crystal_generation", "poses"})
    assert set(res["targets"]) == {"generation"} and res["settings"]["guidance"] is None
    with pytest.raises(ValueError, match="unknown parts to skip"):
        pocket.run_benchmark(tmp_path / "m.ckpt", tmp_path, 5, 2, 3, 1, 0, "progressive", {"posses"})


def test_first_site_runs_split_and_merge_into_the_whole_run(tmp_path, monkeypatch, capsys):
    """Sites K.. of a run plus sites ..K of another, merged, equal the run over all sites (figures, means, targets)."""
    import molgen.training

    fep = _split(tmp_path)
    values = {str(fep / "t1a" / "p.pdb"): (0.9, 0.6, -1.0), str(fep / "t2" / "p.pdb"): (0.4, 0.1, 3.0)}

    def fake_site(gm, protein, refs, num, steps, seed, tmp, dock_num, guidance=None, name=None, validation=None):
        vc, pb, gap = values.get(str(protein), (0.5, 0.5, 0.0))
        return {"protein": str(protein), "complex": name, "generated": num, "valid_connected": vc, "pb_valid": pb,
                "qed": 0.5, "vina_median_minus_reference": gap}

    monkeypatch.setattr(molgen.training, "load_model", lambda *a, **kw: SimpleNamespace(meta={"kind": "fake"}))
    monkeypatch.setattr(pocket, "generation_site", fake_site)
    monkeypatch.setattr(pocket, "pose_site", lambda gm, protein, ligand, *a: {
        "complex": ligand, "top1_rmsd_score": 1.0, "top1_rmsd_minimize": 3.0, "vina_dock_top1_rmsd": 1.5})

    def run(sites, first_site, skip):
        return pocket.run_benchmark(tmp_path / "m.ckpt", tmp_path, 5, 2, 3, sites, 0, "progressive", skip,
                                    crystals=2, dock_num=0, first_site=first_site)

    whole = run(None, 0, {"cost", "sampling"})
    head = run(1, 0, {"cost", "sampling", "crystal_generation", "poses"})
    tail = run(None, 1, {"cost", "sampling"})
    assert [r["protein"] for r in head["generation"]["per_site"]] == [str(fep / "t1a" / "p.pdb")]
    assert [r["protein"] for r in tail["generation"]["per_site"]] == [str(fep / "t2" / "p.pdb")]
    assert tail["settings"]["first_site"] == 1 and tail["settings"]["sites"] == 1
    merged = pocket.merge_results([head, tail])
    for part in ("generation", "crystal_generation", "poses"):
        assert merged[part] == whole[part]
    assert merged["targets"] == whole["targets"]
    assert merged["generation"]["mean_over_sites"]["valid_connected"] == 0.65
    assert merged["targets"]["generation"]["vina_minimize_median_minus_reference"]["value"] == 1.0
    assert merged["settings"]["sites"] == 2 and merged["settings"]["crystals"] == 2 and merged["settings"][
        "skip"] == ["cost", "sampling"]
    # the command line writes the same; refusals are one line and exit 2
    (tmp_path / "a.json").write_text(json.dumps(head))
    (tmp_path / "b.json").write_text(json.dumps(tail))
    pocket.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "m.json")])
    assert json.loads((tmp_path / "m.json").read_text())["targets"] == whole["targets"]
    capsys.readouterr()
    for bad, match in (([head, head], "in more than one result"),
                       ([head, run(None, 1, {"cost", "sampling"}) | {"checkpoint": "other.ckpt"}], "different checkpoints"),
                       ([head, tail | {"settings": tail["settings"] | {"steps": 20}}], "different settings: steps"),
                       ([{k: v for k, v in r.items() if "generation" not in k} for r in (whole, tail)],
                        "poses is in 2 results")):
        with pytest.raises(ValueError, match=match):
            pocket.merge_results(bad)
    (tmp_path / "b.json").write_text(json.dumps(head))
    with pytest.raises(SystemExit) as exc:
        pocket.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error: --merge:") and "\n" not in err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ValueError, match="first_site 2 out of range: there are 2 held-out FEP sites"):
        run(None, 2, {"cost", "sampling"})


# ---- end to end: the shipped pocket model, one FEP site and one crystal complex ---------------------------------
@pytest.mark.slow
def test_generation_parts_end_to_end(tmp_path, monkeypatch):
    """Two ligands, two steps, guided, in the thrombin FEP site and the 1S3V crystal pocket (~1 min on 2 CPUs)."""
    from pathlib import Path

    import molgen.docking.receptor
    import molgen.docking.run
    from molgen.sampling.guidance import GuidanceSettings

    prepared = []  # every receptor preparation, wherever it is called from
    real_prepare = molgen.docking.receptor.prepare_receptor

    def counting_prepare(path, *args, **kwargs):
        prepared.append(Path(path).name)
        return real_prepare(path, *args, **kwargs)

    monkeypatch.setattr(molgen.docking.receptor, "prepare_receptor", counting_prepare)
    monkeypatch.setattr(molgen.docking.run, "prepare_receptor", counting_prepare)

    with open(tmp_path / "test_fep.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record", "name"])
        for k in range(2):
            w.writerow([THROMBIN / "thrombin_core_protein.pdb", THROMBIN / "thrombin_core_ligands.sdf", k, f"t{k}"])
    with open(tmp_path / "test_crystal.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["protein", "ligand", "record", "name"])
        w.writerow([PB / "1S3V" / "1s3v_protein_one_lig_removed.pdb", PB / "1S3V" / "1s3v_ligand.sdf", 0, "1S3V"])
    (tmp_path / "split.json").write_text(json.dumps({
        "seed": 0, "test_fraction": 0.2, "sites": 1, "held_out_sites": 1, "test_targets": ["thrombin"],
        "train_ligands": 0, "test_fep_ligands": 2, "fep_root": str(THROMBIN.parent),
        "site_target": {"thrombin_core/thrombin_core_protein.pdb": "thrombin"}}))
    res = pocket.run_benchmark(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt", tmp_path, num=2, poses=2,
                               steps=2, sites=None, seed=0, view="progressive", skip={"cost", "sampling", "poses"},
                               dock_num=0, guidance=GuidanceSettings(),
                               validation={"workers": 0, "embed_timeout_s": 10})
    for part, reference in (("generation", 2), ("crystal_generation", 1)):
        (row,) = res[part]["per_site"]
        assert row["generated"] == 2 and row["reference"] == reference
        dist, cent = row["min_protein_dist_A"], row["centroid_to_ref_A"]
        assert len(dist) == len(cent) == 2
        assert row["frac_min_protein_dist_ge_2A"] == sum(d >= 2.0 for d in dist) / 2
        assert row["frac_centroid_within_4A"] == sum(c <= 4.0 for c in cent) / 2
        assert row["all_targets"] <= min(row["valid_connected"], row["pb_valid"], row["frac_centroid_within_4A"])
        assert row["reference_vina_median"] is not None  # the reference ligands score in their own pocket
        t = res["targets"][part]
        assert t["valid_connected"]["value"] == row["valid_connected"]
        assert t["vina_minimize_median_minus_reference"]["of"] == 1
    assert res["crystal_generation"]["per_site"][0]["complex"] == "1S3V"
    assert res["settings"]["guidance_parts"] == ["generation", "crystal_generation"]
    # one preparation per site serves its score, minimize and RDKit-bond runs of both ligand sets
    assert prepared == ["thrombin_core_protein.pdb", "1s3v_protein_one_lig_removed.pdb"]


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        pocket.main(["--split-dir", str(tmp_path), "--checkpoint", str(tmp_path / "nope.ckpt"),
                     "--skip", ",".join(pocket.PARTS), "--out", str(tmp_path / "o.json")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope.ckpt" in err and "\n" not in err
    assert not (tmp_path / "o.json").exists()


def test_measure_cost_times_the_radius_graph_with_and_without_savings():
    from molgen.sampling.conditioning import load_pocket, read_first_mol
    from molgen.training import load_model

    gm = load_model(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt")
    ref = read_first_mol(THROMBIN / "thrombin_core_ligands.sdf")
    pk = load_pocket(THROMBIN / "thrombin_core_protein.pdb", ref_ligand=ref, vocab=gm.vocab)
    cost = pocket.measure_cost(gm, pk, num=2, size=12)
    assert cost["num_ligands"] == 2 and cost["ligand_atoms"] == 12
    radius, plain, complete = cost["radius"], cost["radius_no_savings"], cost["complete"]
    assert radius["savings"] and not plain["savings"]
    assert radius["directed_edges"] == plain["directed_edges"] < complete["directed_edges"]
    # the complete graph: 2 ligands x (12 x 11 ligand pairs + 2 x 12 x M ligand-pocket pairs)
    assert complete["directed_edges"] == 2 * (12 * 11 + 2 * 12 * cost["pocket_atoms"])
    assert all(part["forward_ms"] > 0 for part in (radius, plain, complete))


def test_measure_sampling_times_the_sampler_batches_and_one_batch(monkeypatch):
    from molgen.sampling import sizes
    from molgen.sampling.conditioning import load_pocket, read_first_mol
    from molgen.training import load_model

    gm = load_model(ROOT / "data" / "checkpoints" / "pocket_flow.ckpt")
    ref = read_first_mol(THROMBIN / "thrombin_core_ligands.sdf")
    pk = load_pocket(THROMBIN / "thrombin_core_protein.pdb", ref_ligand=ref, vocab=gm.vocab)
    # room for about two ligands per batch: the sampler cuts the 5 ligands into 3 or more batches
    monkeypatch.setattr(sizes, "MAX_BATCH_CONTEXT_PAIRS", 2 * 30 * pk.context.num_nodes)
    res, graphs = pocket.measure_sampling(gm, pk, num=5, steps=2)
    assert sum(res["batches"]) == 5 == len(graphs) and len(res["batches"]) >= 3
    assert res["seconds"] > 0 and res["one_batch_seconds"] > 0 and res["num"] == 5
    # the limits are back after the one-batch run
    assert sizes.MAX_BATCH_CONTEXT_PAIRS == 2 * 30 * pk.context.num_nodes and sizes.MAX_BATCH_PAIRS == 20_000


def test_sampler_batches_benchmark_runs_both_arms(tmp_path, monkeypatch):
    from benchmarks import sampler_batches
    from molgen.sampling import sizes

    monkeypatch.setattr(sizes, "MAX_BATCH_PAIRS", 60)  # 4-6 heavy-atom molecules: a few per batch
    out = tmp_path / "b.json"
    res = sampler_batches.main(["--checkpoint", str(ROOT / "data" / "checkpoints" / "qm9_heavy_flow.ckpt"),
                                "--num", "6", "--batch-size", "6", "--steps", "2", "--rounds", "2", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    assert sum(res["batches"]) == 6 and len(res["batches"]) > 1
    assert [len(v) for v in res["seconds"].values()] == [2, 2] and sizes.MAX_BATCH_PAIRS == 60
    with pytest.raises(SystemExit) as exc:
        sampler_batches.main(["--checkpoint", str(tmp_path / "nope.ckpt"), "--out", str(out)])
    assert exc.value.code == 2
