"""Training time distributions and the sampling grids matched to them (t = 0 noise, t = 1 data)."""

from __future__ import annotations

import math

import pytest
import torch

from molgen.processes import build_process
from molgen.processes.schedules import TIME_DISTS, grid_mass, power_grid, quantile_grid, time_cdf, time_quantile

T, C = 4, 3


@pytest.mark.parametrize("dist", TIME_DISTS)
@pytest.mark.parametrize("steps", [1, 2, 7, 20])
def test_matched_grid_gives_every_step_the_same_training_mass(dist, steps):
    grid = quantile_grid(steps, dist)
    assert float(grid[0]) == 0.0 and float(grid[-1]) == 1.0 and (grid.diff() > 0).all()
    assert torch.allclose(grid_mass(grid, dist), torch.full((steps,), 1 / steps, dtype=torch.float64), atol=1e-12)
    # the flow process builds the same grid from its own time_dist
    proc = build_process("flow", T, C, grid="matched", time_dist=dist)
    assert torch.equal(proc.time_grid(steps), grid)


@pytest.mark.parametrize("dist", TIME_DISTS)
def test_quantile_inverts_cdf(dist):
    u = torch.linspace(0.001, 0.999, 101, dtype=torch.float64)
    assert torch.allclose(time_cdf(time_quantile(u, dist), dist), u, atol=1e-12)
    assert float(time_cdf(torch.tensor(0.0), dist)) == 0.0 and float(time_cdf(torch.tensor(1.0), dist)) == 1.0


@pytest.mark.parametrize("dist", TIME_DISTS)
def test_sampled_training_times_follow_the_cdf(dist):
    """Kolmogorov–Smirnov distance of 40,000 draws from the stated CDF, below the 0.1 % critical value."""
    n = 40_000
    t = build_process("flow", T, C, time_dist=dist).sample_time(n, "cpu", torch.Generator().manual_seed(3))
    assert (t >= 0).all() and (t < 1).all()
    ts = t.double().sort().values
    ecdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = (ecdf - time_cdf(ts, dist)).abs().max()
    assert float(ks) < 1.95 / math.sqrt(n)
    # and the exact means: 1/2 (uniform, logit-normal by symmetry), 2/3 for Beta(2, 1)
    mean = {"uniform": 0.5, "logit_normal": 0.5, "beta": 2 / 3}[dist]
    assert abs(float(t.double().mean()) - mean) < 4 * float(t.double().std()) / math.sqrt(n)


def test_power_grid_under_logit_normal_training_is_the_mismatch_we_fixed():
    """The shipped QM9 model's pairing: the 6 of 20 steps that start above t = 0.9 share 1.0 % of the
    training times (a matched grid gives them 30 %)."""
    grid = power_grid(20)
    mass = grid_mass(grid, "logit_normal")
    assert int((grid[:-1] >= 0.9).sum()) == 6
    assert 0.0100 < float(mass[-6:].sum()) < 0.0106
    assert float(mass[-1]) < 1e-8  # the step that writes the final coordinates: 1e-9 of the training times


def test_flowmol_time_weighting():
    proc = build_process("flow", T, C, time_weighting="flowmol")
    t = torch.tensor([0.0, 0.01, 0.5, 0.6, 0.99, 1.0], dtype=torch.float64)
    expected = torch.tensor([0.05, 0.05, 1.0, 1.5, 1.5, 1.5], dtype=torch.float64)
    assert torch.allclose(proc._pos_weight(t), expected)
    with pytest.raises(ValueError, match="time_weighting"):
        build_process("flow", T, C, time_weighting="snr")
    with pytest.raises(ValueError, match="time_dist"):
        build_process("flow", T, C, time_dist="beta21")
