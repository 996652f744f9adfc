"""From an input molecule to the molecule that is validated: bonds, hydrogens, sanitization.

1. Bonds: the molecule's own (``predicted``), or perceived from the coordinates with EDM's distance
   lookup (``edm``; formal charges kept) or RDKit's ``rdDetermineBonds.DetermineBonds`` (``rdkit``;
   xyz2mol with the molecule's total formal charge, which assigns bond orders and formal charges
   and needs every hydrogen explicit; extended-Hückel connectivity as a fallback).
2. Hydrogens: ``keep`` marks every atom as having no implicit hydrogens (the atoms given are the whole
   molecule), ``add`` lets RDKit infer missing hydrogens and places them (``AddHs(addCoords=True)``),
   ``auto`` picks ``keep`` when the molecule has any H atom, else ``add``.
3. Sanitization (``Chem.SanitizeMol``); a failure is the molecule's ``error`` and it is not valid.
   The atoms of an aromatic bond are flagged aromatic first, as in the molecule that was written: a
   molfile keeps bond type 4 but no atom flags, and without them RDKit accepts an aromatic bond between
   non-ring atoms (``C:C:O``) that it rejects when the atoms carry the flag.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem import rdDetermineBonds

from molgen.chem.vocab import MAX_BOND_ORDER_SUM
from molgen.validation.edm import edm_bond_matrix

_BOND = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}


@dataclass
class Built:
    """A molecule ready for the checks.

    Attributes:
        raw: bonds from the chosen source, hydrogen mode applied, not sanitized.
        mol: ``raw`` sanitized (with added hydrogens in ``add`` mode), or None when invalid.
        added_h: indices of the hydrogens added to ``mol``.
        hydrogens: the hydrogen mode used (``keep`` or ``add``).
        error: why ``mol`` is None (bond perception or sanitization message), else None.
    """

    raw: Chem.Mol
    mol: Chem.Mol | None
    added_h: tuple[int, ...]
    hydrogens: str
    error: str | None


def _without_bonds(mol: Chem.Mol, keep_charges: bool) -> Chem.RWMol:
    rw = Chem.RWMol(mol)
    for b in list(rw.GetBonds())[::-1]:
        rw.RemoveBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
    for a in rw.GetAtoms():
        a.SetIsAromatic(False)
        a.SetNumRadicalElectrons(0)
        a.SetNumExplicitHs(0)
        if not keep_charges:
            a.SetFormalCharge(0)
    return rw


def edm_bonds(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with its bonds replaced by EDM's distance lookup (single/double/triple), charges kept."""
    rw = _without_bonds(mol, keep_charges=True)
    order = edm_bond_matrix([a.GetSymbol() for a in mol.GetAtoms()], mol.GetConformer().GetPositions())
    n = order.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            if order[i, j]:
                rw.AddBond(i, j, _BOND[int(order[i, j])])
    return rw.GetMol()


@contextmanager
def _quiet_c_output():
    # YAeHMOP (RDKit's extended-Hückel code) prints warnings straight to file descriptors 1 and 2.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def _hueckel_can_run(mol: Chem.Mol, charge: int) -> bool:
    """Whether the electron count fits the valence orbitals (s + p: 1 for H, 4 otherwise): YAeHMOP
    terminates the whole process when it does not (a generated molecule with absurd charges)."""
    table = Chem.GetPeriodicTable()
    electrons = sum(table.GetNOuterElecs(a.GetAtomicNum()) for a in mol.GetAtoms()) - charge
    orbitals = sum(1 if a.GetAtomicNum() == 1 else 4 for a in mol.GetAtoms())
    return 0 <= electrons <= 2 * orbitals


def rdkit_bonds(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with bonds and formal charges from ``rdDetermineBonds.DetermineBonds``.

    Connectivity comes from covalent radii first; when no bond-order assignment fits (strained
    polycycles, where a cross-ring distance passes for a bond: 5.7 % of 2,000 QM9 molecules), it is
    redone from an extended-Hückel calculation (``useHueckel=True``), which resolves those cases.

    Raises:
        ValueError: RDKit finds no bond assignment for the total charge.
    """
    charge = sum(a.GetFormalCharge() for a in mol.GetAtoms())
    try:
        out = _without_bonds(mol, keep_charges=False).GetMol()
        rdDetermineBonds.DetermineBonds(out, charge=charge)
    except (ValueError, RuntimeError):
        if not _hueckel_can_run(mol, charge):
            raise
        out = _without_bonds(mol, keep_charges=False).GetMol()
        with _quiet_c_output():
            rdDetermineBonds.DetermineBonds(out, charge=charge, useHueckel=True)
    return out


def impossible_atoms(mol: Chem.Mol) -> str | None:
    """Why the molecule is beyond chemistry (bond-order sum or charge), before RDKit computes valences."""
    for a in mol.GetAtoms():
        total = sum(b.GetBondTypeAsDouble() for b in a.GetBonds())
        if total > MAX_BOND_ORDER_SUM:
            return f"atom {a.GetIdx()} {a.GetSymbol()} has bond orders summing to {total:g}"
        if a.GetFormalCharge() > a.GetAtomicNum():
            return f"atom {a.GetIdx()} {a.GetSymbol()} has charge {a.GetFormalCharge():+d}"
    return None


def build_molecule(mol: Chem.Mol, bonds: str = "predicted", hydrogens: str = "auto") -> Built:
    """Build the molecule to validate from an input molecule (see the module docstring).

    Args:
        mol: input molecule (one 3D conformer), unsanitized.
        bonds: ``predicted``, ``edm`` or ``rdkit``.
        hydrogens: ``keep``, ``add`` or ``auto``.
    """
    error = None
    if bonds == "predicted":
        raw = Chem.Mol(mol)
    elif bonds == "edm":
        raw = edm_bonds(mol)
    elif bonds == "rdkit":
        try:
            raw = rdkit_bonds(mol)
        except (ValueError, RuntimeError) as err:
            raw, error = _without_bonds(mol, keep_charges=True).GetMol(), f"RDKit bond perception failed: {err}"
    else:
        raise ValueError(f"unknown bond source {bonds!r}")
    if hydrogens == "auto":
        hydrogens = "keep" if any(a.GetAtomicNum() == 1 for a in raw.GetAtoms()) else "add"
    impossible = impossible_atoms(raw)
    if error is None and impossible is not None:
        return Built(raw, None, (), hydrogens, "sanitization failed: " + impossible)
    for a in raw.GetAtoms():
        a.SetNoImplicit(hydrogens == "keep")
    for b in raw.GetBonds():
        if b.GetIsAromatic() or b.GetBondType() == Chem.BondType.AROMATIC:
            b.GetBeginAtom().SetIsAromatic(True)
            b.GetEndAtom().SetIsAromatic(True)
    raw.UpdatePropertyCache(strict=False)
    if error is not None:
        return Built(raw, None, (), hydrogens, " ".join(error.split()))
    try:
        problems = [p.Message() for p in Chem.DetectChemistryProblems(raw)]
    except RuntimeError as err:  # RDKit's own pre-conditions, on graphs it cannot reason about
        problems = [str(err).splitlines()[0]]
    if problems:
        return Built(raw, None, (), hydrogens, "sanitization failed: " + " ".join(problems[0].split()))
    out = Chem.Mol(raw)
    Chem.SanitizeMol(out)
    added: tuple[int, ...] = ()
    if hydrogens == "add" and any(a.GetNumImplicitHs() for a in out.GetAtoms()):
        n0 = out.GetNumAtoms()
        out = Chem.AddHs(out, addCoords=True)
        added = tuple(range(n0, out.GetNumAtoms()))
    return Built(raw, out, added, hydrogens, None)
