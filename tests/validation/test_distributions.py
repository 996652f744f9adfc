"""Distribution distances against hand-counted histograms."""

from __future__ import annotations

import pytest
from rdkit import Chem

from molgen.validation.distributions import FeatureSet, compare, molecule_features


def _set(smiles: list[str]) -> FeatureSet:
    fs = FeatureSet()
    for s in smiles:
        fs.add(molecule_features(Chem.AddHs(Chem.MolFromSmiles(s)), geometry=False))
    return fs


def test_bond_types_between_heavy_atoms_only():
    feats = molecule_features(Chem.AddHs(Chem.MolFromSmiles("C=CC#N")), geometry=False)
    assert feats["bond_types"] == {"=": 1, "-": 1, "#": 1}  # the C-H bonds are not counted
    assert molecule_features(Chem.MolFromSmiles("c1ccccc1"), geometry=False)["bond_types"] == {":": 6}


def test_bond_types_tv_sees_a_drift_to_saturated_molecules():
    ref = _set(["C=CC=O", "CCO"])        # bonds: '=' 2, '-' 3  -> (0.4, 0.6)
    gen = _set(["CCCO", "CCO"])          # bonds: '-' 5         -> (0, 1)
    d = compare(gen, ref)
    assert d["bond_types_tv"] == pytest.approx(0.4)
    assert compare(ref, ref)["bond_types_tv"] == 0
