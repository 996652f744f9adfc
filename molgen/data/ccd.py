"""Crystal ligands from PDB HETATM records, with bond orders from the ligand's chemical component.

A PDB file's HETATM records carry atom names, elements and coordinates but no bond orders. The
PDB's Chemical Component Dictionary (CCD) defines each component (the three-letter residue name)
by the same atom names: elements, formal charges, hydrogens and every bond with its order.
:func:`ligand_from_records` joins the two by atom name: heavy atoms and coordinates from the
crystal, bonds, bond orders, formal charges and the number of hydrogens on each heavy atom from
the component (the crystal file's own hydrogens, placed by whatever tool prepared it, are not
used). Stereo centres are assigned from the crystal coordinates.

The component definitions come from the CCD subset that ships inside the ``biotite`` package
(``biotite.structure.info``, file ``components.bcif``; ``pip install 'molgen[data]'``); nothing is
downloaded. A :class:`Component` can also be made by hand (tests do).

A ligand that cannot be made raises :class:`~molgen.errors.SkipRecord` with a one-line reason:
an atom name the component lacks, an element that differs, heavy atoms of the component missing
from the crystal, a component bond longer than :data:`MAX_BOND_A` in the crystal, a bond order
RDKit cannot take, or RDKit's sanitisation error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from rdkit import Chem
from rdkit.Geometry import Point3D

from molgen.errors import MolgenError, SkipRecord

#: A component bond whose atoms lie further apart than this (Å) in the crystal is a mismatch.
MAX_BOND_A = 2.3
_ORDERS = {"SING": Chem.BondType.SINGLE, "DOUB": Chem.BondType.DOUBLE, "TRIP": Chem.BondType.TRIPLE}
_HYDROGEN = frozenset({"H", "D"})


@dataclass(frozen=True)
class Component:
    """A chemical component: atoms by name and bonds by atom names.

    Attributes:
        code: the CCD code (residue name), e.g. ``"ZRY"``.
        atoms: ``(name, element, formal charge, leaving atom)`` per atom, hydrogens included;
            element symbols as in the CCD (``"CL"`` or ``"Cl"`` both work).
        bonds: ``(name 1, name 2, order)`` with the CCD's ``value_order`` (``SING``, ``DOUB``,
            ``TRIP``; anything else is refused when used).
    """

    code: str
    atoms: tuple[tuple[str, str, int, bool], ...]
    bonds: tuple[tuple[str, str, str], ...]

    def element(self, name: str) -> str:
        return self._by_name[name][1].capitalize()

    @property
    def _by_name(self) -> dict[str, tuple[str, str, int, bool]]:
        return {a[0]: a for a in self.atoms}

    def is_hydrogen(self, name: str) -> bool:
        return self.element(name).upper() in _HYDROGEN


@cache
def ccd_component(code: str) -> Component:
    """The component ``code`` from the CCD subset shipped with biotite.

    Raises:
        MolgenError: biotite is not installed.
        SkipRecord: the code is not in biotite's CCD.
    """
    try:
        from biotite.structure.info.ccd import get_from_ccd
    except ImportError:
        raise MolgenError(
            "bond orders of PDB ligands need biotite's chemical component dictionary: "
            "pip install 'molgen[data]' (or pip install biotite)"
        ) from None
    atoms = get_from_ccd("chem_comp_atom", code)
    if atoms is None:
        raise SkipRecord(f"chemical component {code} is not in the CCD shipped with biotite")
    col = {k: atoms[k].as_array() for k in ("atom_id", "type_symbol", "charge", "pdbx_leaving_atom_flag")}
    bonds = get_from_ccd("chem_comp_bond", code)
    bond_rows: tuple[tuple[str, str, str], ...] = ()
    if bonds is not None:
        b = {k: bonds[k].as_array() for k in ("atom_id_1", "atom_id_2", "value_order")}
        bond_rows = tuple(
            (str(x), str(y), str(o).upper()) for x, y, o in zip(b["atom_id_1"], b["atom_id_2"], b["value_order"])
        )
    return Component(
        code,
        tuple(
            (str(n), str(e), int(c), str(f).upper() == "Y")
            for n, e, c, f in zip(col["atom_id"], col["type_symbol"], col["charge"], col["pdbx_leaving_atom_flag"])
        ),
        bond_rows,
    )


def split_pdb_ligand(lines: Sequence[str], code: str) -> tuple[list[str], list[str]]:
    """Split PDB lines into the receptor and one copy of the ligand ``code``.

    The receptor is every ATOM, HETATM and TER record that is not residue ``code`` (all copies of
    the ligand are removed from it); the ligand is the HETATM records of the first residue named
    ``code`` (chain, residue number and insertion code of its first record).

    Returns:
        ``(receptor lines, ligand records)``; the ligand list is empty when there is no such residue.
    """
    het = [ln for ln in lines if ln.startswith("HETATM") and ln[17:20].strip() == code]
    receptor = [ln for ln in lines if ln.startswith(("ATOM", "HETATM", "TER")) and ln[17:20].strip() != code]
    first = het[0][21:27] if het else None
    return receptor, [ln for ln in het if ln[21:27] == first]


def _record_atoms(records: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """``(atom name, element, xyz)`` of the records; the first alternate location of each atom name."""
    out, seen = [], set()
    for ln in records:
        if not ln.startswith(("ATOM", "HETATM")):
            continue
        name = ln[12:16].strip()
        if name in seen:
            continue  # a later alternate location of an atom already read
        seen.add(name)
        element = ln[76:78].strip() if len(ln) >= 78 else ""
        if not element:
            element = "".join(c for c in ln[12:14] if c.isalpha())
        try:
            xyz = np.array([float(ln[30:38]), float(ln[38:46]), float(ln[46:54])])
        except ValueError:
            raise SkipRecord(f"atom {name}: unreadable coordinates") from None
        out.append((name, element.capitalize(), xyz))
    return out


def ligand_from_records(records: Sequence[str], component: Component) -> Chem.Mol:
    """An RDKit molecule of a crystal ligand: crystal heavy atoms, the component's chemistry.

    Args:
        records: the ligand's PDB HETATM (or ATOM) records, one residue.
        component: its chemical component (:func:`ccd_component`).

    Returns:
        A sanitised molecule with explicit hydrogens (placed by RDKit on the component's count of
        hydrogens per heavy atom), one conformer (crystal heavy-atom coordinates, Å), stereo
        assigned from 3D, ``_Name`` = the component code.

    Raises:
        SkipRecord: the records and the component disagree or RDKit refuses the molecule (the
            reason names the atom, bond or RDKit's message).
    """
    comp = component
    by_name = comp._by_name
    crystal = [a for a in _record_atoms(records) if a[1].upper() not in _HYDROGEN]
    if not crystal:
        raise SkipRecord("no heavy atoms in the ligand records")
    index: dict[str, int] = {}
    for name, element, _ in crystal:
        if name not in by_name:
            raise SkipRecord(f"atom {name} is not in chemical component {comp.code}")
        if comp.element(name).upper() != element.upper():
            raise SkipRecord(f"atom {name} is {element} in the crystal, {comp.element(name)} in {comp.code}")
        index[name] = len(index)
    missing = [a[0] for a in comp.atoms if not comp.is_hydrogen(a[0]) and a[0] not in index and not a[3]]
    if missing:
        raise SkipRecord(
            f"{len(missing)} heavy atoms of {comp.code} missing from the crystal ({' '.join(missing[:6])})"
        )
    n_h = dict.fromkeys(index, 0)
    lost_neighbour = set()  # heavy atoms whose leaving heavy neighbour is absent: RDKit fills the valence
    heavy_bonds = []
    for a, b, order in comp.bonds:
        ha, hb = comp.is_hydrogen(a), comp.is_hydrogen(b)
        if ha or hb:
            heavy = b if ha else a
            if heavy in n_h and not (ha and hb):
                n_h[heavy] += 1
            continue
        if a in index and b in index:
            heavy_bonds.append((a, b, order))
        elif a in index or b in index:
            lost_neighbour.add(a if a in index else b)
    pos = {name: xyz for name, _, xyz in crystal}
    rw = Chem.RWMol()
    for name in index:
        atom = Chem.Atom(comp.element(name))
        atom.SetFormalCharge(by_name[name][2])
        atom.SetNumExplicitHs(n_h[name])
        atom.SetNoImplicit(name not in lost_neighbour)
        rw.AddAtom(atom)
    for a, b, order in heavy_bonds:
        if order not in _ORDERS:
            raise SkipRecord(f"bond {a}-{b} of {comp.code} has order {order}, not single/double/triple")
        d = float(np.linalg.norm(pos[a] - pos[b]))
        if d > MAX_BOND_A:
            raise SkipRecord(f"bond {a}-{b} of {comp.code} is {d:.2f} Å long in the crystal")
        rw.AddBond(index[a], index[b], _ORDERS[order])
    conf = Chem.Conformer(rw.GetNumAtoms())
    for name, k in index.items():
        conf.SetAtomPosition(k, Point3D(*map(float, pos[name])))
    rw.AddConformer(conf, assignId=True)
    mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception as err:  # noqa: BLE001 - RDKit raises several types; the message is the reason
        raise SkipRecord(f"RDKit: {' '.join(str(err).split())[:160]}") from None
    Chem.AssignStereochemistryFrom3D(mol)
    mol = Chem.AddHs(mol, addCoords=True)
    mol.SetProp("_Name", comp.code)
    return mol


__all__ = ["MAX_BOND_A", "Component", "ccd_component", "ligand_from_records", "split_pdb_ligand"]
