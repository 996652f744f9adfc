"""Shared by the flatness checks: substructures that should (not) be planar, and plane distances.

SMARTS patterns and thresholds follow PoseBusters' ``flatness`` module and its ``mol`` config.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem

#: Aromatic 5- and 6-rings of sp2 atoms (should be flat).
AROMATIC_RINGS = [Chem.MolFromSmarts(s) for s in (
    "[ar5^2]1[ar5^2][ar5^2][ar5^2][ar5^2]1",
    "[ar6^2]1[ar6^2][ar6^2][ar6^2][ar6^2][ar6^2]1",
)]
#: A C=C double bond with its four substituents (the six atoms should be coplanar).
DOUBLE_BONDS = [Chem.MolFromSmarts("[C;X3;^2](*)(*)=[C;X3;^2](*)(*)")]
#: Saturated (or singly unsaturated) non-aromatic six-rings (should NOT be flat).
NONFLAT_RINGS = [Chem.MolFromSmarts(s) for s in (
    "[C,O,S,N;R1]~1[C,O,S,N;R1][C,O,S,N;R1][C,O,S,N;R1][C,O,S,N;R1][C,O,S,N;R1]1",
    "[C;R1]~1[C;R1][C,O,S,N;R1]~[C,O,S,N;R1][C;R1][C;R1]1",
    "[C;R1]~1[C;R1][C;R1]~[C;R1][C,O,S,N;R1][C;R1]1",
    "[C;R1]~1[C;R1][C;R1][C,O,S,N;R1]~[C,O,S,N;R1][C;R1]1",
    "[C;R1]~1[C;R1][C,O,S,N;R1][C;R1]~[C;R1][C;R1]1",
)]


def max_plane_distance(points: np.ndarray) -> float:
    """Largest distance (Å) of ``points [K, 3]`` (Å) from their least-squares plane."""
    x = points - points.mean(axis=0)
    normal = np.linalg.svd(x)[2][-1]  # right singular vector of the smallest singular value
    return float(np.abs(x @ normal).max())


def system_distances(mol: Chem.Mol, patterns: list[Chem.Mol]) -> list[float]:
    """:func:`max_plane_distance` of every match of ``patterns`` in ``mol``'s first conformer."""
    pos = mol.GetConformer().GetPositions()
    out = []
    for patt in patterns:
        for match in mol.GetSubstructMatches(patt):
            out.append(max_plane_distance(pos[list(match)]))
    return out
