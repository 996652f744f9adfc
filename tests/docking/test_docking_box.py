"""Search boxes: padding convention, containment, parsing and the user errors."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.docking import Box, box_from_coords, box_from_mols, parse_box_options, parse_xyz, resolve_box
from molgen.errors import MolgenError


def test_box_from_coords_pads_every_side():
    pos = np.array([[0.0, 0.0, 0.0], [2.0, 4.0, -6.0]])
    box = box_from_coords(pos, padding=4.0)
    assert box.center == pytest.approx((1.0, 2.0, -3.0))
    assert box.size == pytest.approx((10.0, 12.0, 14.0))  # extent + 2 * padding
    assert box.contains(pos)
    assert not box.contains(pos + np.array([0.0, 0.0, 7.1]))


def test_box_from_mols_covers_all_atoms_with_hydrogens():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCCO"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    box = box_from_mols([mol, None], padding=0.0)
    pos = mol.GetConformer().GetPositions()
    assert box.contains(pos)
    assert box.size == pytest.approx(tuple(pos.max(0) - pos.min(0)))


def test_parse_xyz_and_box_options():
    assert parse_xyz("1, -2.5,3e1") == (1.0, -2.5, 30.0)
    box = parse_box_options("0,0,0", "20,22,24")
    assert box == Box((0, 0, 0), (20, 22, 24))
    assert parse_box_options(None, None) is None
    for bad in ("1,2", "a,b,c", "1,2,3,4"):
        with pytest.raises(MolgenError):
            parse_xyz(bad, "--box-center")
    with pytest.raises(MolgenError, match="go together"):
        parse_box_options("0,0,0", None)
    with pytest.raises(MolgenError, match="positive"):
        Box((0, 0, 0), (10, 0, 10))


def test_resolve_box_refuses_two_definitions():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    with pytest.raises(MolgenError, match="not both"):
        resolve_box(Box((0, 0, 0), (10, 10, 10)), mol, [mol])
    assert resolve_box(None, mol, [None]).contains(mol.GetConformer().GetPositions())
