"""Receptor and ligand preparation with Meeko on real structures."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from molgen.docking import LigandError, mol_to_pdbqt, pdbqt_to_mols, prepare_receptor, with_explicit_hydrogens
from molgen.docking.receptor import clean_pdb_text
from molgen.errors import MolgenError


def _pdbqt_types(path) -> list[str]:
    return [line[77:].strip() for line in path.read_text().splitlines() if line.startswith(("ATOM", "HETATM"))]


def _resnames(path) -> set[str]:
    return {line[17:20].strip() for line in path.read_text().splitlines() if line.startswith(("ATOM", "HETATM"))}


def test_clean_pdb_text_renames_charmm_histidines_and_drops_unknown_residues():
    pdb = (
        "ATOM      1  CA  HSD A   1       0.000   0.000   0.000  1.00  0.00           C\n"
        "ATOM      2  CA  GLY A   2       1.000   0.000   0.000  1.00  0.00           C\n"
        "HETATM    3  O   HOH A 301       5.000   0.000   0.000  1.00  0.00           O\n"
        "HETATM    4  C1  XYZ A 401       9.000   0.000   0.000  1.00  0.00           C\n"
        "CONECT    1    2\n"
    )
    text, dropped = clean_pdb_text(pdb, {"HID", "GLY"})
    assert " HID A   1" in text and "HSD" not in text and "CONECT" not in text
    assert dropped == ["A:301 HOH (no template)", "A:401 XYZ (no template)"]
    text, dropped = clean_pdb_text(pdb, None)  # openbabel route: only waters go
    assert "XYZ" in text and dropped == ["A:301 HOH (no template)"]


def test_receptor_without_hydrogens_gets_them_from_meeko(s3v):
    raw = s3v.receptor_pdb.read_text().splitlines()
    assert not any(line.startswith("ATOM") and line[76:78].strip() == "H" for line in raw)
    rec = s3v.receptor
    assert rec.method == "meeko" and rec.removed_residues == []
    types = _pdbqt_types(rec.pdbqt)
    assert len(types) == rec.num_atoms > 1500
    assert types.count("HD") > 200  # polar hydrogens added from the residue templates
    assert {"C", "A", "N", "NA", "OA", "HD"} <= set(types)


def test_receptor_with_charmm_names(prolif):
    rec = prolif.receptor
    assert rec.method == "meeko"
    names = _resnames(rec.pdbqt)
    assert {"HID", "HIE"} <= names and not names & {"HSD", "HSE"}
    # the four chain ends carry CHARMM caps that match no template: left out, and said so
    assert len(rec.removed_residues) == 4
    assert all("does not match its template" in r for r in rec.removed_residues)


def test_receptor_user_errors(tmp_path, s3v):
    with pytest.raises(MolgenError, match="not found"):
        prepare_receptor(tmp_path / "missing.pdb", tmp_path / "r.pdbqt")
    junk = tmp_path / "junk.pdb"
    junk.write_text("this is not a PDB file\n")
    with pytest.raises(MolgenError, match="no ATOM/HETATM"):
        prepare_receptor(junk, tmp_path / "r.pdbqt")
    with pytest.raises(MolgenError, match="method"):
        prepare_receptor(s3v.receptor_pdb, tmp_path / "r.pdbqt", method="magic")
    same = prepare_receptor(s3v.receptor.pdbqt, tmp_path / "copy.pdbqt")  # PDBQT in: used as it is
    assert same.method == "pdbqt" and same.num_atoms == s3v.receptor.num_atoms


def test_ligand_pdbqt_round_trip_keeps_atom_order_bonds_and_coordinates(prolif):
    mol = prolif.ligands[0]
    assert mol.GetNumAtoms() == 79 and with_explicit_hydrogens(mol) == (mol, False)
    pdbqt = mol_to_pdbqt(mol)
    assert "REMARK SMILES" in pdbqt and "TORSDOF" in pdbqt
    (back,) = pdbqt_to_mols(pdbqt, mol)
    assert [a.GetSymbol() for a in back.GetAtoms()] == [a.GetSymbol() for a in mol.GetAtoms()]
    assert Chem.MolToSmiles(back) == Chem.MolToSmiles(mol)  # bond orders, charges, stereo
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    d = np.abs(back.GetConformer().GetPositions()[heavy] - mol.GetConformer().GetPositions()[heavy])
    assert d.max() < 2e-3  # PDBQT keeps 3 decimals


def test_ligand_hydrogens_added_and_bad_inputs():
    crystal = Chem.MolFromMolBlock(Chem.MolToMolBlock(_embedded("c1ccccc1C(=O)O", hs=False)))
    mol_h, added = with_explicit_hydrogens(crystal)
    assert added and mol_h.GetNumAtoms() == 15 and mol_h.GetConformer().Is3D()
    flat = Chem.MolFromSmiles("CCO")
    AllChem.Compute2DCoords(flat)
    with pytest.raises(LigandError, match="3D"):
        with_explicit_hydrogens(flat)
    with pytest.raises(LigandError, match="fragments"):
        mol_to_pdbqt(_embedded("CC(=O)[O-].[Na+]"))


def _embedded(smiles: str, hs: bool = True) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    return mol if hs else Chem.RemoveHs(mol)
