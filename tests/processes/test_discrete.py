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
@pytest.mark.parametrize(
    ("schedule", "steps", "eta"), [("linear", 1, 0.0), ("linear", 3, 0.0), ("cosine", 5, 0.0), ("linear", 4, 3.0),
                                   ("cosine", 3, 30.0)]
)
def test_discrete_sampler_marginals_at_every_grid_point(mode, schedule, steps, eta):
    """Exact for any η too: the reset and the jump both keep the mixture form (η = 30 resets every
    decided token on the 3-step grid)."""
    proc = build_process("flow", K, 2, discrete=mode, discrete_schedule=schedule, discrete_stochasticity=eta)
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


def test_stochasticity_reconsiders_decided_tokens():
    """η > 0 remasks unmasked tokens at rate η; η = 0 never changes them (absorbing)."""
    x = torch.tensor([0, 1, 2] * 2000)
    logits = torch.zeros(6000, 3)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(Categorical(3, "masked").step(x, logits, 0.5, 0.6, g), x)
    moved = Categorical(3, "masked", stochasticity=2.0).step(x, logits, 0.5, 0.6, g)
    # P(remask) = 0.2; a remasked token is redrawn at c = (0.6 - 0.4) / 0.6 = 1/3, then as uniform
    # over 3 classes (1/3 of redraws land on the old class): P(masked) = 0.2 * 2/3, P(changed) = 0.2/3 * 2/3
    frac_masked = float((moved == 3).double().mean())
    frac_changed = float(((moved != x) & (moved < 3)).double().mean())
    assert abs(frac_masked - 0.2 * 2 / 3) < 4 * math.sqrt(0.133 * 0.867 / 6000)
    assert abs(frac_changed - 0.2 / 3 * 2 / 3) < 4 * math.sqrt(0.044 * 0.956 / 6000)


def test_temperature_sharpens_the_jump_distribution():
    logits = torch.log(torch.tensor([[0.2, 0.3, 0.5]])).expand(20000, 3)
    x = torch.full((20000,), 3)
    g = torch.Generator().manual_seed(0)
    cold = Categorical(3, "masked", temperature=0.5).step(x, logits, 0.0, 1.0, g)
    expect = torch.tensor([0.04, 0.09, 0.25], dtype=torch.float64) / 0.38  # p^(1/τ), normalised
    freq = torch.bincount(cold, minlength=3).double() / 20000
    assert ((freq - expect).abs() <= 4 * (expect * (1 - expect) / 20000).sqrt()).all()
    with pytest.raises(ValueError, match="temperature"):
        Categorical(3, "masked", temperature=0.0)
    with pytest.raises(ValueError, match="stochasticity"):
        Categorical(3, "masked", stochasticity=-1.0)
