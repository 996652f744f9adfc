"""The discrete processes alone: with the exact posterior, every grid point has the exact
marginal kappa(t) pi + (1 - kappa(t)) p0, for any number of steps. Tolerance: 4 SE per class."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from molgen.processes import build_process
from molgen.processes.discrete import Categorical, sample_categorical
from tests.processes.process_oracles import class_posterior_logits, random_marginals

K = 4


@pytest.mark.parametrize("mode", ["masked", "uniform"])
@pytest.mark.parametrize(("schedule", "steps"), [("linear", 1), ("linear", 3), ("cosine", 5)])
def test_discrete_sampler_marginals_at_every_grid_point(mode, schedule, steps):
    proc = build_process("flow", K, 2, discrete=mode, discrete_schedule=schedule)
    cat = proc.cat["atom_type"]
    m, slots = 20000, 2
    pi = random_marginals(slots, K, 0)
    slot = torch.arange(m * slots) % slots
    g = torch.Generator().manual_seed(1)
    x = cat.prior(m * slots, torch.device("cpu"), g)
    grid = proc.time_grid(steps).tolist()
    for t, s in itertools.pairwise(grid):
        logits = class_posterior_logits(proc, "atom_type", proc._features(x, K), t, pi[slot])
        x = cat.step(x, logits, t, s, g)
        kap = float(cat.kappa(s))
        for i in range(slots):
            xi = x[slot == i]
            freq = torch.bincount(xi, minlength=K + 1).double() / m
            p0 = torch.zeros(K + 1, dtype=torch.float64)
            if mode == "masked":
                p0[K] = 1.0
            else:
                p0[:K] = 1.0 / K
            expect = kap * torch.cat([pi[i], torch.zeros(1, dtype=torch.float64)]) + (1 - kap) * p0
            se = (expect * (1 - expect) / m).sqrt().clamp(min=1e-12)
            assert ((freq - expect).abs() <= 4 * se).all(), (t, s, freq, expect)
    assert x.max() < K  # t = 1: nothing masked


def test_masked_tokens_are_final_and_fixed_rate():
    cat = Categorical(3, "masked")
    x = torch.tensor([0, 1, 2, 3, 3, 3])
    logits = torch.zeros(6, 3)
    out = cat.step(x, logits, 0.0, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out[:3], x[:3]) and (out[3:] < 3).all()  # unmasked kept, all masked revealed at t = 1
    assert torch.equal(cat.step(x, logits, 0.5, 0.5), x)  # zero step: nothing moves
    assert torch.equal(
        cat.finalize(torch.tensor([3, 1]), torch.tensor([[0.0, 0, 5], [9.0, 0, 0]])), torch.tensor([2, 1])
    )


def test_sample_categorical_frequencies():
    probs = torch.tensor([[0.1, 0.6, 0.3]], dtype=torch.float64).expand(30000, 3)
    draws = sample_categorical(probs, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).double() / 30000
    assert ((freq - probs[0]).abs() <= 4 * (probs[0] * (1 - probs[0]) / 30000).sqrt()).all()
    assert sample_categorical(torch.tensor([[0.0, 0.0, 1.0]])).item() == 2
    assert math.isclose(float(freq.sum()), 1.0)
