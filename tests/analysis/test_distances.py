"""Distances of the report's legends against exact expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from molgen.analysis.distances import histogram_values, jensen_shannon, wasserstein


def test_wasserstein_of_known_samples():
    # a shift of every value by 5 moves the whole mass by 5
    assert wasserstein([0, 1, 3], [5, 6, 8]) == pytest.approx(5.0, abs=1e-12)
    # weighted values (scipy's documented example): 0.25
    assert wasserstein([0, 1], [0, 1], [3, 1], [2, 2]) == pytest.approx(0.25, abs=1e-12)
    # a histogram {value: count} is the sample it summarises
    rng = np.random.default_rng(0)
    a, b = rng.integers(3, 12, 200), rng.integers(5, 15, 150)
    va, ca = histogram_values({str(k): int((a == k).sum()) for k in set(a.tolist())})
    vb, cb = histogram_values({k: int((b == k).sum()) for k in set(b.tolist())})
    assert wasserstein(va, vb, ca, cb) == pytest.approx(wasserstein_distance(a, b), abs=1e-12)
    # NaN values are left out; an empty side has no distance
    assert wasserstein([0, np.nan, 1], [0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert wasserstein([], [1.0]) is None and wasserstein([np.nan], [1.0]) is None
    assert wasserstein([1.0], [2.0], v_weights=[0.0]) is None
    with pytest.raises(ValueError, match="2 weights for 3 values"):
        wasserstein([1, 2, 3], [1], [1, 1])


def test_jensen_shannon_of_known_histograms():
    assert jensen_shannon({"C": 3}, {"O": 5}) == pytest.approx(1.0, abs=1e-12)  # disjoint
    assert jensen_shannon({"C": 2, "O": 2}, {"C": 10, "O": 10}) == pytest.approx(0.0, abs=1e-7)
    # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4): JSD = (KL(p|m) + KL(q|m)) / 2 in bits
    kl_p = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    kl_q = math.log2(1 / 0.75)
    expected = math.sqrt(0.5 * kl_p + 0.5 * kl_q)
    assert expected == pytest.approx(0.5579, abs=1e-4)
    assert jensen_shannon({"C": 1, "N": 1}, {"C": 7}) == pytest.approx(expected, abs=1e-12)
    assert jensen_shannon({3: 4, 6: 0}, {}) is None and jensen_shannon({}, {"C": 1}) is None


def test_binned_histogram_values():
    v, c = histogram_values([0, 2, 1], lo=1.0, width=0.5)
    assert v.tolist() == [1.25, 1.75, 2.25] and c.tolist() == [0, 2, 1]
    v, c = histogram_values({"12": 3, "9": 1})
    assert v.tolist() == [9.0, 12.0] and c.tolist() == [1.0, 3.0]
