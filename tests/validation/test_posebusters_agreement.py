"""Verdicts agree with the posebusters package itself (slow: both compute conformer ensembles)."""

from __future__ import annotations

import pytest

from molgen.validation import validate_molecules

pytestmark = pytest.mark.slow

# molgen check -> PoseBusters ``mol`` config column (lower-cased)
PAIRS = {
    "sanitization": "sanitization",
    "all_atoms_connected": "all_atoms_connected",
    "no_radicals": "no_radicals",
    "bond_lengths": "bond_lengths",
    "bond_angles": "bond_angles",
    "no_internal_clash": "internal_steric_clash",
    "aromatic_ring_flatness": "aromatic_ring_flatness",
    "non_aromatic_ring_non_flatness": "non-aromatic_ring_non-flatness",
    "double_bond_flatness": "double_bond_flatness",
}


def test_checks_agree_with_posebusters(mols, distorted):
    posebusters = pytest.importorskip("posebusters")
    batch = [mols["paracetamol"], mols["cyclohexane"], mols["butene"], *distorted.values()]
    ours = validate_molecules(batch, progress=False).table
    theirs = posebusters.PoseBusters(config="mol").bust(batch, None, None, full_report=True).reset_index(drop=True)
    for ours_col, pb_col in PAIRS.items():
        assert ours[ours_col].tolist() == theirs[pb_col].astype(bool).tolist(), ours_col
    # energy ratios: same force field and ensemble recipe, so close though not identical
    for a, b in zip(ours["energy_ratio"], theirs["energy_ratio"]):
        assert a == pytest.approx(b, rel=0.25)
    assert (ours["energy_ratio"] <= 7).tolist() == (theirs["energy_ratio"] <= 7).tolist()
