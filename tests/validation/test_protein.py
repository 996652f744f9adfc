"""Protein checks (distance, vdW clash, volume overlap) and the PoseBusters crystal complexes."""

from __future__ import annotations

import pytest

from molgen.errors import MolgenError
from molgen.validation import validate_sdf
from molgen.validation.io import load_protein

PROTEIN_CHECKS = ("protein_max_distance", "no_protein_clash", "no_volume_clash")


def _run_all(run_check, mol, protein) -> dict:
    out = {}
    for name in PROTEIN_CHECKS:
        out.update(run_check(name, mol, protein=protein))
    return out


def test_ligand_above_the_sheet_passes(mols, tools, sheet, run_check):
    # heavy atoms about 3.9 Å above a carbon sheet: near (< 5 Å), no clash, no volume overlap
    out = _run_all(run_check, tools.place(mols["ethanol"], [1.0, 1.0, 4.5]), sheet)
    assert out["protein_max_distance"] and out["no_protein_clash"] and out["no_volume_clash"]
    assert 3.0 < out["protein_min_distance"] < 5.0


def test_ligand_far_away_fails_the_distance_check_only(mols, tools, sheet, run_check):
    out = _run_all(run_check, tools.place(mols["ethanol"], [0.0, 0.0, 20.0]), sheet)
    assert not out["protein_max_distance"] and out["protein_min_distance"] > 15
    assert out["no_protein_clash"] and out["no_volume_clash"]


def test_ligand_touching_the_sheet_clashes(mols, tools, sheet, run_check):
    # heavy atoms about 1.8 Å from sheet atoms: below 0.75 x (1.7 + 1.7) Å, little volume inside
    out = _run_all(run_check, tools.place(mols["ethanol"], [1.0, 1.0, 2.2]), sheet)
    assert not out["no_protein_clash"] and out["protein_clash_min_rel_distance"] < 0.75
    assert out["protein_clash_group"] == "protein"


def test_ligand_inside_the_sheet_overlaps_in_volume(mols, tools, sheet, run_check):
    out = _run_all(run_check, tools.place(mols["butane"], [1.0, 1.0, 0.0]), sheet)
    assert not out["no_volume_clash"] and out["volume_overlap_protein"] > 0.075
    assert not out["no_protein_clash"]


def test_waters_and_metals_are_grouped(tmp_path):
    pdb = tmp_path / "p.pdb"
    pdb.write_text(
        "ATOM      1  CA  GLY A   1       0.000   0.000   0.000  1.00  0.00           C\n"
        "HETATM    2  O   HOH A   2       3.000   0.000   0.000  1.00  0.00           O\n"
        "HETATM    3 ZN    ZN A   3       6.000   0.000   0.000  1.00  0.00          Zn\n"
        "HETATM    4  C1  HEM A   4       9.000   0.000   0.000  1.00  0.00           C\n"
        "ATOM      5  H   GLY A   1       0.000   1.000   0.000  1.00  0.00           H\nEND\n")
    prot = load_protein(pdb)
    assert prot.group.tolist() == ["protein", "water", "inorganic", "organic"]  # H dropped
    with pytest.raises(MolgenError):
        load_protein(tmp_path / "missing.pdb")


@pytest.mark.parametrize("complex_id", ["7CNQ_G8X", "1W1P_GIO"])
def test_crystal_complex_is_pb_valid(pb_examples, pb_index, complex_id):
    """Crystal ligands with their proteins pass every PoseBusters-equivalent check."""
    row = pb_index.loc[complex_id]
    res = validate_sdf(pb_examples / row.ligand_sdf, protein=pb_examples / row.protein_pdb, progress=False,
                       n_conformers=20)
    t = res.table.iloc[0]
    failed = [c for c in res.metrics["checks"] if not t[c]]
    assert t["pb_valid"], failed
    assert t["hydrogens"] == "add" and t["n_heavy_atoms"] == row.n_heavy
    assert 2.0 < t["protein_min_distance"] < 4.0
