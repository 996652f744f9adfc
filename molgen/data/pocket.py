"""Protein structures (PDB / mmCIF) and binding pockets.

A pocket is a set of *whole residues* of a protein, chosen by one of three rules:

* ``ligand_pos``: residues with any atom within ``cutoff`` Å of any ligand atom (distances are
  computed in float64 with ``torch.cdist`` on the atoms inside the ligand's bounding box widened by
  the cutoff, so a 5,000-atom protein takes about a millisecond);
* ``residues``: the listed residue ids ``"CHAIN:NUMBER[INSERTION]"``, e.g. ``"A:123"``, ``"B:52A"``
  (a blank chain is written ``"_"``);
* ``box``: residues with any atom inside the axis-aligned box ``(center, size)`` (Å).

Pocket atom features (``M`` pocket atoms):

* ``pos [M, 3] float32, Å``;
* ``element [M] long``: index in :data:`molgen.chem.vocab.POCKET_ELEMENTS` (H, C, N, O, S, Se, X =
  anything else: metals, P, halogens);
* ``residue [M] long``: index in :data:`RESIDUE_TYPES` (20 standard amino acids, then ``other`` for
  hetero groups: cofactors, ions, modified residues, caps). Protonation-state names (HID/HIE/HIP,
  CYX, ASH, GLH, LYN, ...) and selenomethionine (MSE) count as their standard amino acid;
* ``backbone [M] bool``: atoms N, CA, C, O of residues that have N, CA and C (so a calcium ion
  named CA is not backbone);
* ``atom_residue [M] long``: position of the atom's residue in ``residue_ids``.

Waters (HOH, WAT, SPC, TIP3, ...) are dropped when the protein is read; everything else, hydrogens
included, is kept. In Cα-only mode each residue is one atom: its CA, or for a residue without one
(ions, cofactors) the atom nearest the residue's centroid.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from molgen.chem.vocab import POCKET_ELEMENTS
from molgen.errors import MolgenError, require_file

log = logging.getLogger(__name__)

AMINO_ACIDS: tuple[str, ...] = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
)  # fmt: skip
#: Residue classes of pocket atoms: the 20 amino acids, then "other" (index 20).
RESIDUE_TYPES: tuple[str, ...] = AMINO_ACIDS + ("other",)
#: Force-field / protonation names and MSE that are one of the 20 amino acids.
RESIDUE_ALIASES = {
    "HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS",
    "CYX": "CYS", "CYM": "CYS", "ASH": "ASP", "GLH": "GLU", "LYN": "LYS", "MSE": "MET",
}  # fmt: skip
WATERS = frozenset({"HOH", "WAT", "H2O", "DOD", "SOL", "SPC", "TIP", "TIP3", "TIP4", "T3P", "T4P"})
BACKBONE_ATOMS = ("N", "CA", "C", "O")
_ELEMENT_INDEX = {e.upper(): i for i, e in enumerate(POCKET_ELEMENTS)}
_RESID_RE = re.compile(r"^\s*([^:\s]*):(-?\d+)([A-Za-z]?)\s*$")


@dataclass
class Protein:
    """A parsed protein (first model, waters removed), as flat arrays.

    Attributes:
        path: the file it came from.
        pos: [A, 3] float64, Å.
        element: [A] long, index in ``POCKET_ELEMENTS``.
        atom_name: [A] str, PDB atom names.
        atom_residue: [A] long, index of the atom's residue (atoms of a residue are contiguous).
        backbone: [A] bool.
        residue_ids: [R] ``"CHAIN:NUMBER[INSERTION]"``.
        residue_type: [R] long, index in ``RESIDUE_TYPES``.
        residue_name: [R] str, the file's residue names.
        representative: [R] long, atom index used in Cα-only mode.
    """

    path: str
    pos: np.ndarray
    element: np.ndarray
    atom_name: np.ndarray
    atom_residue: np.ndarray
    backbone: np.ndarray
    residue_ids: list[str]
    residue_type: np.ndarray
    residue_name: list[str]
    representative: np.ndarray

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def num_atoms(self) -> int:
        return len(self.pos)

    def residue_index(self, residue_id: str) -> list[int]:
        """Residue positions matching an id ``"A:123"`` (more than one only in odd files)."""
        m = _RESID_RE.match(residue_id)
        if m is None:
            raise MolgenError(f"bad residue id {residue_id!r}; expected CHAIN:NUMBER, e.g. A:123", self.path)
        key = f"{m.group(1) or '_'}:{m.group(2)}{m.group(3)}"
        if key not in self._lookup:
            raise MolgenError(f"residue {residue_id} not in the protein (waters excluded)", self.path)
        return self._lookup[key]

    @cached_property
    def _lookup(self) -> dict[str, list[int]]:
        lookup: dict[str, list[int]] = {}
        for k, rid in enumerate(self.residue_ids):
            lookup.setdefault(rid, []).append(k)
        return lookup


@dataclass
class Pocket:
    """Pocket atoms of a protein (see the module docstring for the features).

    Attributes:
        pos: [M, 3] float32, Å.
        element: [M] long.
        residue: [M] long.
        backbone: [M] bool.
        atom_residue: [M] long, index into ``residue_ids``.
        residue_ids: [R] str, the pocket residues in file order.
        protein: name of the protein file.
    """

    pos: Tensor
    element: Tensor
    residue: Tensor
    backbone: Tensor
    atom_residue: Tensor
    residue_ids: list[str] = field(default_factory=list)
    protein: str = ""

    def __len__(self) -> int:
        return int(self.pos.shape[0])

    def to_fields(self) -> dict[str, Tensor | str]:
        """Fields to set on a molecule graph: ``pocket_pos``, ``pocket_element``, ``pocket_residue``,
        ``pocket_backbone``, ``pocket_atom_residue`` (tensors, batched along dim 0 by PyG and not
        offset) and ``pocket_residue_ids`` (the ids joined by spaces: a string, so it survives the
        tensor cache)."""
        return {
            "pocket_pos": self.pos,
            "pocket_element": self.element,
            "pocket_residue": self.residue,
            "pocket_backbone": self.backbone,
            "pocket_atom_residue": self.atom_residue,
            "pocket_residue_ids": " ".join(self.residue_ids),
        }


def _parse_structure(path: Path):
    from Bio.PDB import MMCIFParser, PDBParser

    name = path.name.lower()
    gz = name.endswith(".gz")
    cif = name.removesuffix(".gz").endswith((".cif", ".mmcif"))
    with gzip.open(path, "rt") if gz else open(path) as fh:
        handle = io.StringIO(fh.read())
    parser = MMCIFParser(QUIET=True) if cif else PDBParser(QUIET=True)
    return parser.get_structure(path.stem, handle)


def _element(atom) -> int:
    el = (atom.element or "").strip().upper()
    if el in ("", "X"):  # no element column: guess from the atom name's first letter
        el = atom.get_id().strip()[:1].upper()
    if el == "D":
        el = "H"
    return _ELEMENT_INDEX.get(el, _ELEMENT_INDEX["X"])


def read_protein(path: str | Path) -> Protein:
    """Read a protein PDB or mmCIF file (optionally gzipped); the first model, waters removed.

    Raises:
        MolgenError: missing file, a file Biopython cannot parse, or no atoms besides waters.
    """
    path = require_file(path, "protein file")
    try:
        structure = _parse_structure(path)
    except Exception as err:  # noqa: BLE001 (Biopython raises many types for broken files)
        msg = str(err).splitlines()[0] if str(err) else ""
        raise MolgenError(f"cannot parse protein structure ({type(err).__name__}: {msg})", path) from None
    models = list(structure)
    if not models:
        raise MolgenError("no atoms in protein file", path)
    pos, element, atom_name, atom_residue, backbone = [], [], [], [], []
    residue_ids, residue_type, residue_name, representative = [], [], [], []
    for chain in models[0]:
        chain_id = chain.id.strip() or "_"
        for res in chain:
            resname = res.get_resname().strip()
            if resname in WATERS or res.id[0] == "W":
                continue
            atoms = list(res.get_atoms())
            if not atoms:
                continue
            r = len(residue_ids)
            start = len(pos)
            names = [a.get_id().strip() for a in atoms]
            is_aa_like = {"N", "CA", "C"} <= set(names)
            aa = RESIDUE_ALIASES.get(resname, resname)
            residue_ids.append(f"{chain_id}:{res.id[1]}{res.id[2].strip()}")
            residue_type.append(AMINO_ACIDS.index(aa) if aa in AMINO_ACIDS else len(AMINO_ACIDS))
            residue_name.append(resname)
            for a, n in zip(atoms, names):
                pos.append(a.get_coord())
                element.append(_element(a))
                atom_name.append(n)
                atom_residue.append(r)
                backbone.append(is_aa_like and n in BACKBONE_ATOMS)
            xyz = np.asarray(pos[start:], dtype=np.float64)
            if is_aa_like:
                representative.append(start + names.index("CA"))
            else:
                representative.append(start + int(np.argmin(((xyz - xyz.mean(0)) ** 2).sum(1))))
    if not pos:
        raise MolgenError("no atoms in protein file (waters excluded)", path)
    return Protein(
        path=str(path),
        pos=np.asarray(pos, dtype=np.float64),
        element=np.asarray(element, dtype=np.int64),
        atom_name=np.asarray(atom_name),
        atom_residue=np.asarray(atom_residue, dtype=np.int64),
        backbone=np.asarray(backbone, dtype=bool),
        residue_ids=residue_ids,
        residue_type=np.asarray(residue_type, dtype=np.int64),
        residue_name=residue_name,
        representative=np.asarray(representative, dtype=np.int64),
    )


def residues_near(protein: Protein, ligand_pos: Tensor | np.ndarray, cutoff: float) -> np.ndarray:
    """[R] bool: residues with any atom within ``cutoff`` Å (inclusive) of any ligand atom.

    Args:
        protein: parsed protein.
        ligand_pos: [L, 3] float, Å.
        cutoff: distance, Å.
    """
    lig = torch.as_tensor(ligand_pos).detach().to("cpu", torch.float64).reshape(-1, 3)
    selected = np.zeros(len(protein.residue_ids), dtype=bool)
    if lig.shape[0] == 0:
        return selected
    lo = lig.min(0).values.numpy() - cutoff
    hi = lig.max(0).values.numpy() + cutoff
    cand = np.nonzero(((protein.pos >= lo) & (protein.pos <= hi)).all(1))[0]
    if cand.size:
        d = torch.cdist(torch.from_numpy(protein.pos[cand]), lig, compute_mode="donot_use_mm_for_euclid_dist")
        close = cand[(d.min(1).values <= cutoff).numpy()]
        selected[protein.atom_residue[close]] = True
    return selected


def extract_pocket(
    protein: Protein | str | Path,
    ligand_pos: Tensor | None = None,
    cutoff: float = 8.0,
    residues: Sequence[str] | None = None,
    box: tuple[Sequence[float], Sequence[float]] | None = None,
    ca_only: bool = False,
) -> Pocket:
    """Cut a pocket out of a protein (see the module docstring for the rules and features).

    Args:
        protein: a :class:`Protein` or a path to read.
        ligand_pos: [L, 3] float, Å: pocket = residues with an atom within ``cutoff`` of the ligand.
        cutoff: Å, used with ``ligand_pos``.
        residues: residue ids ``"A:123"``: pocket = these residues.
        box: ``(center [3], size [3])`` in Å: pocket = residues with an atom inside the box.
        ca_only: one atom per residue (Cα, or the atom nearest the centroid for hetero groups).

    Returns:
        The pocket; it may be empty (``len(pocket) == 0``) when nothing is near the ligand or box.

    Raises:
        ValueError: not exactly one of ``ligand_pos``, ``residues``, ``box`` given.
        MolgenError: unreadable protein, or a residue id not in it.
    """
    if sum(x is not None for x in (ligand_pos, residues, box)) != 1:
        raise ValueError("give exactly one of ligand_pos, residues, box")
    if not isinstance(protein, Protein):
        protein = read_protein(protein)
    if ligand_pos is not None:
        selected = residues_near(protein, ligand_pos, cutoff)
    elif residues is not None:
        selected = np.zeros(len(protein.residue_ids), dtype=bool)
        for rid in residues:
            selected[protein.residue_index(rid)] = True
    else:
        center, size = (np.asarray(v, dtype=np.float64).reshape(3) for v in box)
        inside = (np.abs(protein.pos - center) <= size / 2).all(1)
        selected = np.zeros(len(protein.residue_ids), dtype=bool)
        selected[protein.atom_residue[inside]] = True
    res_idx = np.nonzero(selected)[0]
    atoms = protein.representative[res_idx] if ca_only else np.nonzero(selected[protein.atom_residue])[0]
    remap = np.full(len(protein.residue_ids), -1, dtype=np.int64)
    remap[res_idx] = np.arange(len(res_idx))
    return Pocket(
        pos=torch.from_numpy(protein.pos[atoms].astype(np.float32)).reshape(-1, 3),
        element=torch.from_numpy(protein.element[atoms]),
        residue=torch.from_numpy(protein.residue_type[protein.atom_residue[atoms]]),
        backbone=torch.from_numpy(protein.backbone[atoms]),
        atom_residue=torch.from_numpy(remap[protein.atom_residue[atoms]]),
        residue_ids=[protein.residue_ids[k] for k in res_idx],
        protein=protein.name,
    )


__all__ = [
    "AMINO_ACIDS",
    "RESIDUE_TYPES",
    "Pocket",
    "Protein",
    "extract_pocket",
    "read_protein",
    "residues_near",
]
