"""The docking search box: an axis-aligned cuboid given by its centre and edge lengths, in Å.

A box is either given (centre + size) or wraps a reference ligand with ``padding`` Å on every side,
the same convention as Meeko's ``gridbox.calc_box`` and Vina's ``--autobox`` (4 Å by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from molgen.errors import MolgenError

DEFAULT_PADDING = 4.0


@dataclass(frozen=True)
class Box:
    """Search box for Vina.

    Attributes:
        center: (x, y, z) of the box centre, Å.
        size: edge lengths along x, y, z, Å (all > 0).
    """

    center: tuple[float, float, float]
    size: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.center) != 3 or len(self.size) != 3:
            raise MolgenError(f"a box needs 3 centre and 3 size values, got {self.center} and {self.size}")
        if not all(np.isfinite(self.center)) or not all(np.isfinite(self.size)):
            raise MolgenError(f"box values must be finite, got centre {self.center} size {self.size}")
        if min(self.size) <= 0:
            raise MolgenError(f"box size must be positive along x, y and z, got {self.size}")
        object.__setattr__(self, "center", tuple(float(v) for v in self.center))
        object.__setattr__(self, "size", tuple(float(v) for v in self.size))

    def contains(self, pos: np.ndarray, tol: float = 1e-6) -> bool:
        """Whether every point lies inside the box (faces included, within ``tol`` Å).

        Args:
            pos: [N, 3] float, Å.
            tol: slack for rounding, Å.
        """
        lo = np.asarray(self.center) - np.asarray(self.size) / 2 - tol
        hi = np.asarray(self.center) + np.asarray(self.size) / 2 + tol
        pos = np.asarray(pos, dtype=float).reshape(-1, 3)
        return bool(np.all(pos >= lo) and np.all(pos <= hi))

    def to_dict(self) -> dict[str, list[float]]:
        """``{"center": [x, y, z], "size": [sx, sy, sz]}`` rounded to 1e-3 Å, for JSON summaries."""
        return {"center": [round(v, 3) for v in self.center], "size": [round(v, 3) for v in self.size]}


def box_from_coords(pos: np.ndarray, padding: float = DEFAULT_PADDING) -> Box:
    """The smallest axis-aligned box around points, grown by ``padding`` on every side.

    Args:
        pos: [N, 3] float, Å (N >= 1).
        padding: margin added on each side, Å (size = extent + 2 * padding).
    """
    pos = np.asarray(pos, dtype=float).reshape(-1, 3)
    if len(pos) == 0:
        raise MolgenError("cannot build a box around zero atoms")
    if padding < 0:
        raise MolgenError(f"box padding must be >= 0, got {padding}")
    lo, hi = pos.min(0), pos.max(0)
    size = hi - lo + 2 * padding
    size = np.maximum(size, 1.0)  # a single atom with padding 0 still needs a non-empty box
    return Box(center=tuple((lo + hi) / 2), size=tuple(size))


def box_from_mols(mols: Iterable[Chem.Mol | None], padding: float = DEFAULT_PADDING) -> Box:
    """The box around all atoms (hydrogens included) of the first conformer of each molecule."""
    coords = [m.GetConformer().GetPositions() for m in mols if m is not None and m.GetNumConformers()]
    if not coords:
        raise MolgenError("no molecule with 3D coordinates to build the docking box from")
    return box_from_coords(np.concatenate(coords), padding)


def parse_xyz(text: str | Sequence[float], what: str = "value") -> tuple[float, float, float]:
    """Parse ``"x,y,z"`` (or a 3-sequence) into three floats; MolgenError otherwise."""
    parts = text.replace(" ", "").split(",") if isinstance(text, str) else list(text)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise MolgenError(f"{what} must be three numbers x,y,z, got {text!r}") from None
    if len(values) != 3:
        raise MolgenError(f"{what} must be three numbers x,y,z, got {text!r}")
    return values  # type: ignore[return-value]
