"""Shared by the bond-length, bond-angle and internal-clash checks: RDKit distance-geometry bounds.

Follows PoseBusters' ``distance_geometry`` module (settings of its ``mol``/``dock`` configs):
``GetMoleculeBoundsMatrix(set15bounds=True, scaleVDW=True, doTriangleSmoothing=True,
useMacrocycle14config=False)``, pairs with a hydrogen ignored, and the bounds of conjugated terminal
groups (carboxylate, nitro, amidine ends: ``[O,N;D1]~*~[O,N;D1]`` with one single and one double
bond) made symmetric, so a carboxylate's two C-O bonds share one window.

The deviation of a distance ``d`` from its window ``[lb, ub]`` is relative: ``(d - lb) / lb`` below,
``(d - ub) / ub`` above, 0 inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem.rdDistGeom import GetMoleculeBoundsMatrix

from molgen.validation.checks.base import CheckContext

_TERMINAL = Chem.MolFromSmarts("[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]")


@dataclass
class PairGeometry:
    """Heavy-atom pairs of one molecule, split by topology.

    Attributes:
        i, j: [K] atom indices of the pairs (i < j, no hydrogen).
        dist: [K] float, Å, in the conformer.
        lower, upper: [K] float, Å, distance-geometry bounds.
        kind: [K] 1 bonded, 2 the ends of an angle (1-3, not bonded), 0 other (non-covalent).
    """

    i: np.ndarray
    j: np.ndarray
    dist: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kind: np.ndarray


def relative_deviation(d: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Relative deviation of distances from their bounds window (negative below, positive above)."""
    return np.where(d < lb, (d - lb) / lb, np.where(d > ub, (d - ub) / ub, 0.0))


def pair_geometry(ctx: CheckContext) -> PairGeometry:
    """Bounds and distances of ``ctx.mol`` (computed once per molecule, then cached)."""
    if "pairs" in ctx.cache:
        return ctx.cache["pairs"]
    mol = ctx.mol
    n = mol.GetNumAtoms()
    bounds = GetMoleculeBoundsMatrix(mol, set15bounds=True, scaleVDW=True, doTriangleSmoothing=True,
                                     useMacrocycle14config=False)
    adj = Chem.GetAdjacencyMatrix(mol).astype(bool)
    one_three = (adj.astype(int) @ adj.astype(int) > 0) & ~adj
    np.fill_diagonal(one_three, False)
    iu, ju = np.triu_indices(n, k=1)
    lower, upper = bounds[ju, iu].copy(), bounds[iu, ju].copy()  # lower triangle = lower bounds
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    # Symmetrize conjugated terminal groups: one window per element pair over all matched bonds.
    matched = {tuple(sorted(m)) for m in mol.GetSubstructMatches(_TERMINAL)}
    if matched:
        pos_of = {(a, b): k for k, (a, b) in enumerate(zip(iu.tolist(), ju.tolist()))}
        groups: dict[tuple[str, str], list[int]] = {}
        for a, b in matched:
            groups.setdefault(tuple(sorted((symbols[a], symbols[b]))), []).append(pos_of[(a, b)])
        for idx in groups.values():
            lower[idx], upper[idx] = lower[idx].min(), upper[idx].max()
    heavy = np.array([s != "H" for s in symbols])
    keep = heavy[iu] & heavy[ju]
    kind = np.where(adj[iu, ju], 1, np.where(one_three[iu, ju], 2, 0))
    pos = mol.GetConformer().GetPositions()
    dist = np.linalg.norm(pos[iu] - pos[ju], axis=1)
    pg = PairGeometry(iu[keep], ju[keep], dist[keep], lower[keep], upper[keep], kind[keep])
    ctx.cache["pairs"] = pg
    return pg
