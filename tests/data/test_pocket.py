"""Pocket extraction checked against an independent per-residue numpy loop over Biopython's parse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from Bio.PDB import PDBParser
from rdkit import Chem

from molgen.chem.vocab import POCKET_ELEMENTS
from molgen.data.pocket import RESIDUE_TYPES, WATERS, extract_pocket, read_protein
from molgen.errors import MolgenError

# (protein, ligand): FEP thrombin (waters, Na+, sulfotyrosine, H atoms) and a kinase crystal
# structure with ADP, Mg2+, Na+ and glycerol.
CASES = [
    ("fep/thrombin_core/thrombin_core_protein.pdb", "fep/thrombin_core/thrombin_core_ligands.sdf"),
    ("posebusters/7ZTL_BCN/7ZTL_BCN_protein.pdb", "posebusters/7ZTL_BCN/7ZTL_BCN_ligand.sdf"),
]


def _residues(pdb: Path, with_elements: bool = False):
    """(residue id, resname, atom names, coordinates [k, 3] float64[, file elements]) per residue,
    waters included."""
    out = []
    for chain in PDBParser(QUIET=True).get_structure("p", str(pdb))[0]:
        for res in chain:
            rid = f"{chain.id.strip() or '_'}:{res.id[1]}{res.id[2].strip()}"
            atoms = list(res.get_atoms())
            row = (
                rid,
                res.get_resname().strip(),
                [a.get_id() for a in atoms],
                np.array([a.coord for a in atoms], dtype=np.float64),
            )
            out.append(row + ([a.element for a in atoms],) if with_elements else row)
    return out


def _ligand_pos(sdf: Path) -> np.ndarray:
    return Chem.MolFromMolFile(str(sdf), removeHs=False).GetConformer().GetPositions()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("cutoff", [4.0, 8.0])
def test_pocket_equals_independent_residue_loop(
    complexes_dir: Path, case: tuple[str, str], cutoff: float
) -> None:
    pdb, sdf = complexes_dir / case[0], complexes_dir / case[1]
    lig = _ligand_pos(sdf)
    expected, expected_atoms, waters_near = [], 0, 0
    for rid, name, atoms, xyz in _residues(pdb):
        dmin = min(np.sqrt(((xyz[k] - lig) ** 2).sum(1)).min() for k in range(len(xyz)))
        if dmin <= cutoff:
            if name in WATERS:
                waters_near += 1
            else:
                expected.append(rid)
                expected_atoms += len(atoms)
    pocket = extract_pocket(read_protein(pdb), torch.from_numpy(lig), cutoff=cutoff)
    assert pocket.residue_ids == expected
    assert len(pocket) == expected_atoms
    assert pocket.pos.dtype == torch.float32 and pocket.pos.shape == (expected_atoms, 3)
    if "thrombin" in case[0] and cutoff == 8.0:
        assert waters_near > 0  # waters were there to exclude


def test_features_on_a_crystal_pocket(complexes_dir: Path) -> None:
    pdb, sdf = complexes_dir / CASES[1][0], complexes_dir / CASES[1][1]
    protein = read_protein(pdb)
    pocket = extract_pocket(protein, torch.from_numpy(_ligand_pos(sdf)), cutoff=8.0)
    ref = {r[0]: r[1:] for r in _residues(pdb, with_elements=True)}
    names, atom_names, coords, file_elements = [], [], [], []
    for rid in pocket.residue_ids:
        name, atoms, xyz, els = ref[rid]
        names += [name] * len(atoms)
        atom_names += atoms
        coords.append(xyz)
        file_elements += els
    np.testing.assert_array_equal(pocket.pos.numpy(), np.concatenate(coords).astype(np.float32))
    assert [RESIDUE_TYPES[r] if r < 20 else "other" for r in pocket.residue.tolist()] == [
        n if n in RESIDUE_TYPES else "other" for n in names
    ]
    assert "MG" in names and "ADP" in names  # hetero groups are kept, as "other"
    elements = [POCKET_ELEMENTS[e] for e in pocket.element.tolist()]
    assert [e for e, n in zip(elements, names) if n == "MG"] == ["X", "X"]
    # the file's element column: Mg, Na and P are "X"; this crystal structure has no H
    assert elements == [e if e in ("C", "N", "O", "S") else "X" for e in file_elements]
    assert "P" in file_elements and "MG" in file_elements
    assert pocket.backbone.tolist() == [
        a in ("N", "CA", "C", "O") and n != "ADP" and n != "MG" for a, n in zip(atom_names, names)
    ]
    assert pocket.atom_residue.tolist() == [
        k for k, rid in enumerate(pocket.residue_ids) for _ in ref[rid][1]
    ]
    assert pocket.to_fields()["pocket_residue_ids"] == " ".join(pocket.residue_ids)


def test_ca_only_keeps_one_atom_per_residue(complexes_dir: Path) -> None:
    pdb, sdf = complexes_dir / CASES[1][0], complexes_dir / CASES[1][1]
    protein = read_protein(pdb)
    lig = torch.from_numpy(_ligand_pos(sdf))
    full = extract_pocket(protein, lig, cutoff=8.0)
    ca = extract_pocket(protein, lig, cutoff=8.0, ca_only=True)
    assert ca.residue_ids == full.residue_ids and len(ca) == len(full.residue_ids)
    assert ca.atom_residue.tolist() == list(range(len(ca)))
    ref = {rid: (name, atoms, xyz) for rid, name, atoms, xyz in _residues(pdb)}
    for k, rid in enumerate(ca.residue_ids):
        _, atoms, xyz = ref[rid]
        if "CA" in atoms and "N" in atoms:
            want = xyz[atoms.index("CA")]
            assert bool(ca.backbone[k])
        else:  # hetero group: the atom nearest its centroid
            want = xyz[np.argmin(((xyz - xyz.mean(0)) ** 2).sum(1))]
        np.testing.assert_array_equal(ca.pos[k].numpy(), want.astype(np.float32))


def test_residue_list_and_box_modes(complexes_dir: Path) -> None:
    pdb, sdf = complexes_dir / CASES[0][0], complexes_dir / CASES[0][1]
    protein = read_protein(pdb)
    lig = _ligand_pos(sdf)
    near = extract_pocket(protein, torch.from_numpy(lig), cutoff=6.0)
    listed = extract_pocket(protein, residues=list(reversed(near.residue_ids)))
    assert listed.residue_ids == near.residue_ids and torch.equal(listed.pos, near.pos)
    assert torch.equal(listed.element, near.element) and torch.equal(listed.residue, near.residue)

    center, size = lig.mean(0), np.array([10.0, 12.0, 14.0])
    box = extract_pocket(protein, box=(center.tolist(), size.tolist()))
    expected = [
        rid
        for rid, name, _, xyz in _residues(pdb)
        if name not in WATERS and (np.abs(xyz - center) <= size / 2).all(1).any()
    ]
    assert box.residue_ids == expected and len(expected) > 10

    with pytest.raises(MolgenError, match="residue Z:999 not in the protein"):
        extract_pocket(protein, residues=["Z:999"])
    with pytest.raises(MolgenError, match="bad residue id"):
        extract_pocket(protein, residues=["A123"])
    with pytest.raises(ValueError):
        extract_pocket(protein)


def test_waters_are_dropped_and_the_rest_kept(complexes_dir: Path) -> None:
    pdb = complexes_dir / CASES[0][0]
    protein = read_protein(pdb)
    all_res = _residues(pdb)
    kept = [r for r in all_res if r[1] not in WATERS]
    assert len(all_res) - len(kept) > 100  # HOH and SPC waters in this file
    assert protein.residue_ids == [r[0] for r in kept]
    assert protein.num_atoms == sum(len(r[2]) for r in kept)
    assert {"NA", "TYS"} <= {protein.residue_name[k] for k in np.nonzero(protein.residue_type == 20)[0]}


def test_bad_protein_files(tmp_path: Path) -> None:
    with pytest.raises(MolgenError, match="protein file not found"):
        read_protein(tmp_path / "missing.pdb")
    garbage = tmp_path / "garbage.pdb"
    garbage.write_text("this is not a PDB file\n")
    with pytest.raises(MolgenError, match="no atoms in protein file") as err:
        read_protein(garbage)
    assert str(garbage) in str(err.value)
    bad = tmp_path / "bad_coords.pdb"
    bad.write_text("ATOM      1  N   GLY A 171       2.741 -2x.909   6.015  1.00  0.00           N\n")
    with pytest.raises(MolgenError, match="cannot parse protein structure") as err:
        read_protein(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    bad_cif = tmp_path / "bad.cif"
    bad_cif.write_text("not a cif\n")
    with pytest.raises(MolgenError, match="cannot parse protein structure"):
        read_protein(bad_cif)


def test_mmcif_gives_the_same_pocket(complexes_dir: Path, tmp_path: Path) -> None:
    from Bio.PDB import MMCIFIO

    pdb, sdf = complexes_dir / CASES[1][0], complexes_dir / CASES[1][1]
    io = MMCIFIO()
    io.set_structure(PDBParser(QUIET=True).get_structure("p", str(pdb)))
    io.save(str(tmp_path / "p.cif"))
    lig = torch.from_numpy(_ligand_pos(sdf))
    a = extract_pocket(read_protein(pdb), lig)
    b = extract_pocket(read_protein(tmp_path / "p.cif"), lig)
    assert a.residue_ids == b.residue_ids
    assert (
        torch.equal(a.pos, b.pos)
        and torch.equal(a.element, b.element)
        and torch.equal(a.backbone, b.backbone)
    )
