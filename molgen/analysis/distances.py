"""Distances between a generated distribution and a reference one, as the report's legends show them.

* :func:`wasserstein`: Wasserstein-1 (earth mover's) distance between two 1D samples, optionally
  weighted (a histogram is its bin values weighted by counts), in the unit of the values (Å,
  degrees, atoms, kcal/mol). It is ``scipy.stats.wasserstein_distance``.
* :func:`jensen_shannon`: Jensen–Shannon *distance* between two histograms over categories
  (elements, ring sizes): the square root of the JS divergence in bits, 0 (same) to 1 (disjoint).

Both return None when either side is empty, so a legend can say "no data" instead of a number.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance


def wasserstein(u, v, u_weights=None, v_weights=None) -> float | None:
    """Wasserstein-1 distance between two 1D distributions given as samples (or weighted values).

    Args:
        u, v: values, ``[n]`` and ``[m]``; NaN and inf values are left out (with their weights).
        u_weights, v_weights: non-negative weights of the values (e.g. histogram counts), or None.

    Returns:
        The distance in the unit of the values; None when a side has no value of positive weight.
    """
    sides = []
    for values, weights in ((u, u_weights), (v, v_weights)):
        x = np.asarray(values, dtype=float).ravel()
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
        if w.shape != x.shape:
            raise ValueError(f"{len(w)} weights for {len(x)} values")
        keep = np.isfinite(x) & np.isfinite(w) & (w > 0)
        if not keep.any():
            return None
        sides.append((x[keep], w[keep]))
    (x, wx), (y, wy) = sides
    return float(wasserstein_distance(x, y, wx, wy))


def jensen_shannon(p: Mapping, q: Mapping) -> float | None:
    """Jensen–Shannon distance (base 2, 0-1) between two histograms ``{category: count}``.

    Categories missing on one side count zero there; counts are normalised to frequencies.

    Returns:
        ``sqrt(JSD(p, q))`` with JSD in bits; None when a side has no positive count.
    """
    keys = sorted(set(p) | set(q), key=str)
    a = np.array([float(p.get(k, 0) or 0) for k in keys])
    b = np.array([float(q.get(k, 0) or 0) for k in keys])
    if a.sum() <= 0 or b.sum() <= 0:
        return None
    return float(jensenshannon(a / a.sum(), b / b.sum(), base=2))


def histogram_values(hist: Mapping, lo: float | None = None, width: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A histogram as ``(values, counts)`` for :func:`wasserstein`.

    Args:
        hist: ``{value: count}`` (integer-valued, e.g. atoms per molecule; keys may be strings), or a
            list of bin counts when ``lo`` and ``width`` are given (bin k covers [lo + k·width,
            lo + (k+1)·width); each bin is represented by its centre).
    """
    if lo is not None and width is not None:
        counts = np.asarray(list(hist), dtype=float)
        return lo + (np.arange(len(counts)) + 0.5) * width, counts
    items = sorted((float(k), float(c)) for k, c in hist.items())
    return np.array([k for k, _ in items]), np.array([c for _, c in items])
