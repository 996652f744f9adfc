"""Vina scoring, minimisation and docking through the Python bindings, on real complexes."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

from molgen.docking import Box, DockSettings, VinaScorer, dock_ligands


@pytest.fixture(scope="module")
def prolif_scorer(prolif):
    scorer = VinaScorer(prolif.receptor.pdbqt, prolif.box, DockSettings(mode="score"))
    yield scorer
    scorer.close()


@pytest.fixture(scope="module")
def prolif_scored(prolif, prolif_scorer):
    """Poses 1-4 of the 9 (Vina's rank order) scored in place."""
    return [prolif_scorer.run(m, i) for i, m in enumerate(prolif.ligands[:4])]


def test_score_ranks_vina_poses_like_vina(prolif_scored):
    """The SDF keeps Vina's pose order but no score, so the check is the order: pose 1 is best."""
    rows = [r.row for r in prolif_scored]
    scores = np.array([r["vina_kcal_mol"] for r in rows])
    assert all(r["status"] == "ok" for r in rows)
    assert int(np.argmin(scores)) == 0
    assert scores[0] < scores[1:].min() - 0.5
    assert np.all((scores < -5) & (scores > -20))  # a drug-sized binder in its pocket
    assert rows[0]["inter_kcal_mol"] < rows[0]["vina_kcal_mol"] < 0
    assert rows[0]["num_torsions"] == 5 and rows[0]["num_heavy_atoms"] == 43


def test_score_mode_keeps_the_pose(prolif, prolif_scored):
    for mol, res in zip(prolif.ligands, prolif_scored):
        (pose,) = res.poses
        assert np.array_equal(pose.GetConformer().GetPositions(), mol.GetConformer().GetPositions())
        assert pose.GetDoubleProp("vina_kcal_mol") == res.row["vina_kcal_mol"] == res.row["vina_in_place_kcal_mol"]
        assert np.isnan(res.row["rmsd_to_input_A"])


def test_minimize_lowers_the_score_and_keeps_the_molecule(prolif, prolif_scorer):
    for i in (0, 1):
        mol = prolif.ligands[i]
        res = prolif_scorer.run(mol, i, mode="minimize")
        row, (pose,) = res.row, res.poses
        assert row["status"] == "ok", row["reason"]
        assert row["vina_kcal_mol"] <= row["vina_in_place_kcal_mol"] + 1e-3
        assert 0 < row["rmsd_to_input_A"] < 2.0  # a local move, not a new pose
        assert Chem.MolToSmiles(pose) == Chem.MolToSmiles(mol)  # bonds and hydrogens back
        assert [a.GetAtomicNum() for a in pose.GetAtoms()] == [a.GetAtomicNum() for a in mol.GetAtoms()]
        assert prolif.box.contains(pose.GetConformer().GetPositions())
        if i == 1:  # pose 2 is not a minimum under this receptor preparation: it must improve
            assert row["vina_kcal_mol"] < row["vina_in_place_kcal_mol"] - 0.5


def _moved(mol: Chem.Mol, shift: float) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for i, p in enumerate(conf.GetPositions()):
        conf.SetAtomPosition(i, Point3D(p[0] + shift, p[1], p[2]))
    return out


def test_bad_ligands_are_rows_with_reasons_in_input_order(s3v):
    good = s3v.ligands[0]  # crystal pose without hydrogens: they are added
    flat = Chem.MolFromSmiles("CCO")
    AllChem.Compute2DCoords(flat)
    salt = Chem.AddHs(Chem.MolFromSmiles("CC(=O)[O-].[Na+]"))
    AllChem.EmbedMolecule(salt, randomSeed=0)
    ligands = [good, None, flat, _moved(good, 60.0), salt, _moved(good, 0.0)]
    res = dock_ligands(s3v.receptor, ligands, "score", ref_ligand=good)
    t = res.table
    assert list(t["index"]) == list(range(6))
    assert list(t["status"]) == ["ok", "failed", "failed", "failed", "failed", "ok"]
    reasons = list(t["reason"])
    assert "could not read" in reasons[1]
    assert "3D" in reasons[2]
    assert "outside the docking box" in reasons[3]
    assert "fragments" in reasons[4]
    assert t.loc[0, "vina_kcal_mol"] == t.loc[5, "vina_kcal_mol"] < -6
    assert bool(t.loc[0, "h_added"]) and t.loc[0, "num_heavy_atoms"] == 27
    assert [len(p) for p in res.poses] == [1, 0, 0, 0, 0, 1]
    assert t["vina_kcal_mol"].isna().tolist() == [False, True, True, True, True, False]


def test_worker_pool_matches_in_process(s3v):
    good = s3v.ligands[0]
    ligands = [good, None, _moved(good, 0.4)]
    one = dock_ligands(s3v.receptor, ligands, "minimize", box=s3v.box, workers=0).table
    two = dock_ligands(s3v.receptor, ligands, "minimize", box=s3v.box, workers=2).table
    assert list(two["status"]) == ["ok", "failed", "ok"]
    cols = ["index", "name", "status", "vina_kcal_mol", "vina_in_place_kcal_mol", "rmsd_to_input_A"]
    assert one[cols].equals(two[cols])


def test_dock_small_ligand(s3v):
    """Global search with exhaustiveness 1 on a fragment: poses inside the box, best first."""
    frag = Chem.AddHs(Chem.MolFromSmiles("NC(=[NH2+])c1ccccc1"))  # benzamidine
    AllChem.EmbedMolecule(frag, randomSeed=3)  # placed at the origin, far from the pocket
    res = dock_ligands(s3v.receptor, [frag], "dock", box=s3v.box, exhaustiveness=1, num_poses=3, seed=11)
    row = res.table.iloc[0]
    assert row["status"] == "ok", row["reason"]
    assert np.isnan(row["vina_in_place_kcal_mol"])  # the input pose was outside the box
    poses = res.poses[0]
    scores = [p.GetDoubleProp("vina_kcal_mol") for p in poses]
    assert 1 <= len(poses) <= 3 and scores == sorted(scores) and scores[0] == row["vina_kcal_mol"] < -3
    assert [p.GetIntProp("pose_rank") for p in poses] == list(range(1, len(poses) + 1))
    for p in poses:
        assert s3v.box.contains(p.GetConformer().GetPositions())
        assert Chem.MolToSmiles(p) == Chem.MolToSmiles(frag)


@pytest.mark.slow
def test_redocking_crystal_ligand_finds_the_crystal_pose(s3v):
    res = dock_ligands(s3v.receptor, s3v.ligands, "dock", ref_ligand=s3v.ligands[0], exhaustiveness=8, seed=1)
    row = res.table.iloc[0]
    assert row["status"] == "ok"
    assert row["rmsd_to_input_A"] < 2.0
    assert row["vina_kcal_mol"] <= row["vina_in_place_kcal_mol"]


def test_box_too_small_for_any_ligand_is_a_failed_row_not_a_crash(s3v):
    center = tuple(s3v.ligands[0].GetConformer().GetPositions().mean(0))
    res = dock_ligands(s3v.receptor, s3v.ligands, "minimize", box=Box(center, (3.0, 3.0, 3.0)))
    assert res.table.loc[0, "status"] == "failed" and "outside" in res.table.loc[0, "reason"]
