"""Every sampler against a target it must reproduce, with the exact (closed-form) denoiser.

Target: n = 4 atom point clouds x1 ~ N(mu, Sigma) in the zero-centre-of-mass subspace, with
independent per-slot categorical types, charges and bonds. The oracle returns E[x1 | x_t] and the
exact class posterior, so the only errors left are sampling noise and the integrator's
discretisation.

Tolerance: the largest |error| / SE over all compared entries stays below 4.5: the 12 mean
entries (SE = sqrt(Sigma_ii / M)), the 78 distinct covariance entries (SE = sqrt((Sigma_ii Sigma_jj
+ Sigma_ij²) / M), Gaussian sample covariance) and every per-slot class frequency (SE =
sqrt(p (1 - p) / M)); about 140 entries, so 4.5 SE each keeps the family-wise false-alarm rate near
0.1 %. M samples, fixed seeds. Step counts keep the first-order samplers' discretisation bias
on the variances (measured ~ -4/steps, relative) below about 1 SE; 5 DDIM steps give ~16 SE.
"""

from __future__ import annotations

import pytest
import torch

from molgen.processes import MolState, build_process, sample
from tests.processes.process_oracles import GaussianOracle, random_gaussian_target, random_marginals

N, T, C, K = 4, 3, 2, 5
Z_MAX = 4.5

FAST = [
    ("diffusion", {"sampler": "ancestral", "discrete": "masked"}, 160),
    ("diffusion", {"sampler": "ddim", "discrete": "continuous"}, 160),
    ("flow", {"integrator": "euler", "discrete": "uniform"}, 160),
    ("flow", {"integrator": "heun", "discrete": "masked"}, 40),
    # the stochastic samplers keep the marginals: coordinate SDE and categorical remasking together
    ("flow", {"integrator": "euler", "discrete": "masked", "pos_stochasticity": 1.0, "discrete_stochasticity": 2.0},
     160),
]
SLOW = [
    (
        "diffusion",
        {"sampler": "ancestral", "schedule": "polynomial", "grid": "karras", "discrete": "uniform"},
        600,
    ),
    ("diffusion", {"sampler": "ddim", "grid": "karras", "discrete": "masked"}, 600),
    ("flow", {"integrator": "euler", "grid": "log", "discrete": "continuous"}, 600),
    ("flow", {"integrator": "heun", "grid": "uniform", "discrete": "uniform"}, 100),
]


def run_gaussian(name: str, kw: dict, steps: int, m: int, seed: int = 0) -> dict[str, float]:
    """Sample m graphs and return the largest |error| / SE of the mean, covariance and class frequencies."""
    mu, cov = random_gaussian_target(N, seed)
    pis = {
        "atom_type": random_marginals(N, T, seed + 1),
        "charge": random_marginals(N, C, seed + 2),
        "bond": random_marginals(N * (N - 1) // 2, K, seed + 3),
    }
    proc = build_process(name, T, C, **kw)
    oracle = GaussianOracle(proc, mu, cov, pis["atom_type"], pis["charge"], pis["bond"])
    template = MolState.template([N] * m, T, C, dtype=torch.float64)
    out = sample(oracle, proc, template, steps, generator=torch.Generator().manual_seed(seed + 10))
    assert out.atom_type.dtype == torch.long and out.bond.dtype == torch.long
    assert out.atom_type.max() < T and out.charge.max() < C and out.bond.max() < K  # nothing left masked
    x = out.pos.view(m, 3 * N)
    d = cov.diagonal()
    z = {
        "mean": ((x.mean(0) - mu.reshape(-1)) / (d / m).sqrt()).abs().max(),
        "cov": ((torch.cov(x.T) - cov) / ((d[:, None] * d[None] + cov**2) / m).sqrt()).abs().max(),
    }
    for field, pi in pis.items():
        cls = getattr(out, field).view(m, -1)
        freq = (
            torch.stack([torch.bincount(cls[:, i], minlength=pi.shape[1]) for i in range(cls.shape[1])]) / m
        )
        z[field] = ((freq - pi) / (pi * (1 - pi) / m).sqrt()).abs().max()
    return {k: float(v) for k, v in z.items()}


def _id(cfg: tuple) -> str:
    name, kw, steps = cfg
    return "-".join([name, *(str(v) for v in kw.values()), str(steps)])


@pytest.mark.parametrize("cfg", FAST, ids=[_id(c) for c in FAST])
def test_sampler_reproduces_gaussian_target(cfg):
    z = run_gaussian(*cfg, m=2500)
    assert max(z.values()) < Z_MAX, z


@pytest.mark.slow
@pytest.mark.parametrize("cfg", FAST + SLOW, ids=[_id(c) for c in FAST + SLOW])
def test_sampler_reproduces_gaussian_target_large(cfg):
    name, kw, steps = cfg
    z = run_gaussian(name, kw, steps if kw.get("integrator") == "heun" else max(steps, 600), m=12000, seed=5)
    assert max(z.values()) < Z_MAX, z


def test_discretisation_error_is_visible():
    """The check has power: 5 DDIM steps shrink the variances by ~20 %, far beyond the tolerance."""
    z = run_gaussian("diffusion", {"sampler": "ddim"}, 5, m=2500)
    assert z["cov"] > 2 * Z_MAX, z


def test_stochastic_flow_sampler_is_stochastic_and_checked():
    """pos_stochasticity > 0 adds noise (two generators differ where the ODE would not), and only with Euler."""
    mu, cov = random_gaussian_target(N, 0)
    pis = [random_marginals(N, T, 1), random_marginals(N, C, 2), random_marginals(N * (N - 1) // 2, K, 3)]
    outs = {}
    for gamma in (0.0, 1.0):
        proc = build_process("flow", T, C, pos_stochasticity=gamma, discrete="continuous")
        oracle = GaussianOracle(proc, mu, cov, *pis)
        template = MolState.template([N] * 8, T, C, dtype=torch.float64)
        # same seed, so the same prior; gamma > 0 adds noise at every step but the last
        outs[gamma] = sample(oracle, proc, template, 10, generator=torch.Generator().manual_seed(0)).pos
    assert not torch.allclose(outs[0.0], outs[1.0])
    with pytest.raises(ValueError, match="euler"):
        build_process("flow", T, C, pos_stochasticity=1.0, integrator="heun")
    with pytest.raises(ValueError, match=">= 0"):
        build_process("flow", T, C, pos_stochasticity=-0.5)


def test_refine_time_moves_free_atoms_to_the_prediction_on_the_finished_graph():
    """``refine_time``: one more network call after the last step, at that time, on the finished graph (no
    masked token); free atoms move to its x̂, fixed atoms and every class stay; nothing else changes."""
    from torch_geometric.data import Data

    from molgen.models.base import DenoiserOutput

    frag = Data(pos=torch.tensor([[1.0, 2.0, 0.5], [2.2, 1.5, 0.0]]), atom_type=torch.tensor([1, 2]),
                charge=torch.tensor([1, 1]), edge_index=torch.tensor([[0, 1], [1, 0]]),
                bond_type=torch.tensor([1, 1]), num_nodes=2)
    template = MolState.template([5, 3, 6], T, C, fragment=[None, frag, frag], dtype=torch.float64)

    def net(calls):
        def denoise(inp):  # x̂ = 1.5 x about the origin (graph 0's centre), fixed logits
            calls.append((float(inp.t[0]), inp.h_type.clone(), inp.e_bond.clone()))
            g = torch.Generator().manual_seed(7)
            n, e = inp.pos.shape[0], inp.edge_index.shape[1]
            return DenoiserOutput(1.5 * inp.pos, torch.randn(n, T, generator=g, dtype=inp.pos.dtype),
                                  torch.randn(n, C, generator=g, dtype=inp.pos.dtype),
                                  torch.randn(e, K, generator=g, dtype=inp.pos.dtype))
        return denoise

    runs = {}
    for refine in (None, 0.9):
        calls = []
        proc = build_process("flow", T, C, num_bond_types=K, discrete="masked", refine_time=refine)
        runs[refine] = (sample(net(calls), proc, template, 6, generator=torch.Generator().manual_seed(0)), calls)
    (base, base_calls), (refined, calls) = runs[None], runs[0.9]
    assert len(base_calls) == 6 and len(calls) == 7 and calls[-1][0] == 0.9
    _, h_type, e_bond = calls[-1]
    assert (h_type[:, -1] == 0).all() and (e_bond[:, -1] == 0).all()  # no masked type or bond is shown
    assert torch.equal(h_type[:, :T].argmax(-1), refined.atom_type)
    for field in ("atom_type", "charge", "bond"):
        assert torch.equal(getattr(refined, field), getattr(base, field))
    free = ~template.fixed
    torch.testing.assert_close(refined.pos[free], 1.5 * base.pos[free])
    torch.testing.assert_close(refined.pos[template.fixed], template.pos[template.fixed])
    assert not torch.allclose(refined.pos[free], base.pos[free])


@pytest.mark.parametrize("key,bad", [("refine_time", v) for v in (0.0, -0.5, 1.5, "0.9", True)]
                         + [("refine_passes", v) for v in (0, 1.5, True)])
def test_refine_settings_outside_their_range_are_rejected(key, bad):
    with pytest.raises(ValueError, match=key):
        build_process("flow", T, C, **{"refine_time": 0.9, key: bad})


def test_refine_passes_are_repeated_calls_at_the_refine_time():
    """Three passes: three more calls at refine_time; x̂ = 1.5 x three times scales the free atoms by 3.375."""
    from molgen.models.base import DenoiserOutput

    template = MolState.template([4, 5], T, C, dtype=torch.float64)
    seen = []

    def net(inp):
        seen.append(float(inp.t[0]))
        n, e = inp.pos.shape[0], inp.edge_index.shape[1]
        z = torch.zeros
        return DenoiserOutput(1.5 * inp.pos, z(n, T, dtype=inp.pos.dtype), z(n, C, dtype=inp.pos.dtype),
                              z(e, K, dtype=inp.pos.dtype))

    out = {}
    for refine in (None, 0.95):
        proc = build_process("flow", T, C, num_bond_types=K, refine_time=refine, refine_passes=3)
        out[refine] = sample(net, proc, template, 4, generator=torch.Generator().manual_seed(3)).pos
    assert len(seen) == 4 + 7 and seen[-3:] == [0.95] * 3
    torch.testing.assert_close(out[0.95], 3.375 * out[None])


def test_refine_denoiser_takes_the_refinement_passes_and_only_those():
    """``refine_denoiser``: the steps call ``denoiser``, the passes call the other network (x̂ = 2 x
    there instead of 1.5 x, so the free atoms end at 2³ instead of 1.5³ times the unrefined ones)."""
    from molgen.models.base import DenoiserOutput

    template = MolState.template([4, 5], T, C, dtype=torch.float64)

    def net(scale, seen):
        def denoise(inp):
            seen.append(float(inp.t[0]))
            n, e = inp.pos.shape[0], inp.edge_index.shape[1]
            z = torch.zeros
            return DenoiserOutput(scale * inp.pos, z(n, T, dtype=inp.pos.dtype), z(n, C, dtype=inp.pos.dtype),
                                  z(e, K, dtype=inp.pos.dtype))
        return denoise

    steps_seen, passes_seen = [], []
    base = sample(net(1.5, []), build_process("flow", T, C, num_bond_types=K), template, 4,
                  generator=torch.Generator().manual_seed(3)).pos
    proc = build_process("flow", T, C, num_bond_types=K, refine_time=0.95, refine_passes=3)
    out = sample(net(1.5, steps_seen), proc, template, 4, generator=torch.Generator().manual_seed(3),
                 refine_denoiser=net(2.0, passes_seen)).pos
    assert steps_seen == proc.time_grid(4, "cpu").tolist()[:-1] and passes_seen == [0.95] * 3
    torch.testing.assert_close(out, 8.0 * base)
