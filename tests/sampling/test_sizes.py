"""Atom-count sampling: histogram frequencies (chi-square), exact counts, ranges, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from scipy.stats import chisquare

from molgen.errors import MolgenError
from molgen.sampling.sizes import sample_num_atoms

HIST = {9: 50, 12: 200, 15: 400, 18: 250, 23: 100}


def test_histogram_frequencies_chi_square():
    """20 000 draws: chi-square goodness of fit against the histogram, p > 0.001; a wrong histogram
    (the same sizes, uniform weights) is rejected with p < 1e-10."""
    hist = json.loads(json.dumps(HIST))  # keys become strings, as read from stats.json
    n = 20000
    draws = sample_num_atoms(hist, n, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (n,) and draws.dtype == torch.long
    sizes = sorted(HIST)
    assert set(draws.unique().tolist()) == set(sizes)
    observed = [(draws == s).sum().item() for s in sizes]
    total = sum(HIST.values())
    assert chisquare(observed, [n * HIST[s] / total for s in sizes]).pvalue > 1e-3
    assert chisquare(observed, [n / len(sizes)] * len(sizes)).pvalue < 1e-10


def test_exact_and_range_take_precedence():
    assert torch.equal(sample_num_atoms(HIST, 5, exact=17), torch.full((5,), 17))
    draws = sample_num_atoms(None, 6000, range_=(10, 12), generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(draws, minlength=13)[10:]
    assert draws.min() == 10 and draws.max() == 12
    assert chisquare(counts.tolist()).pvalue > 1e-3  # uniform over 10, 11, 12
    assert torch.equal(sample_num_atoms(None, 3, range_=(4, 4)), torch.full((3,), 4))
    a = sample_num_atoms(HIST, 50, generator=torch.Generator().manual_seed(2))
    b = sample_num_atoms(HIST, 50, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and sample_num_atoms(HIST, 0).shape == (0,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"histogram": None},
        {"histogram": {}},
        {"histogram": {"5": 0}},
        {"histogram": {0: 3}},
        {"histogram": {5: -1, 6: 3}},
        {"histogram": None, "exact": 0},
        {"histogram": None, "range_": (5, 4)},
        {"histogram": None, "range_": (0, 4)},
    ],
)
def test_bad_input_raises_molgen_error(kwargs):
    with pytest.raises(MolgenError):
        sample_num_atoms(num=3, **kwargs)


def test_sampler_batches_cut_by_count_and_pairs(monkeypatch):
    from molgen.sampling import sizes as mod

    # by count only: pairs far below the limits
    assert mod.sampler_batches([5] * 7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert mod.sampler_batches([], 3) == []
    monkeypatch.setattr(mod, "MAX_BATCH_PAIRS", 100)
    monkeypatch.setattr(mod, "MAX_BATCH_CONTEXT_PAIRS", 1000)
    # ligand pairs: 10 atoms hold 45 pairs, so two per batch (90); 15 atoms alone hold 105 > 100: its own batch
    assert mod.sampler_batches([10, 10, 10, 15, 4], 50) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    # ligand-pocket pairs: 10 atoms beside 30 pocket atoms hold 300, so three per batch (900)
    monkeypatch.setattr(mod, "MAX_BATCH_PAIRS", 10_000)
    assert mod.sampler_batches([10] * 7, 50, context_atoms=30) == [(0, 3), (3, 6), (6, 7)]
    # every molecule lands in exactly one batch, in order
    ranges = mod.sampler_batches([3, 20, 8, 8, 30, 2, 2, 2], 4, context_atoms=20)
    assert [i for a, b in ranges for i in range(a, b)] == list(range(8))
    assert all(b - a <= 4 for a, b in ranges)


def test_pocket_sampling_is_cut_into_batches():
    """100 ligands of 33 atoms in the 291 heavy atoms of the EGFR pocket (the README's case) come in batches
    of 20 (33 x 291 x 20 = 192,060 ligand-pocket pairs; a 21st would pass 200,000)."""
    from molgen.sampling.sizes import sampler_batches

    assert sampler_batches([33] * 100, 100, context_atoms=291) == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)]
