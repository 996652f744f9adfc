"""Equivariant OT coupling: cost never increases, exact recovery, proper rotations, prior law kept,
and the flow samplers with and without the permutation coupling against an exact posterior."""

from __future__ import annotations

import math

import pytest
import torch

from molgen.processes import MolState, build_process, sample
from molgen.processes.ot import align_prior, assignment, kabsch
from molgen.processes.state import masked_graph_mean
from tests.processes.process_oracles import PermutationMixtureOracle, com_projector, random_rotation

T, C, K = 3, 2, 5


def zero_com_clouds(sizes: list[int], seed: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    x = scale * torch.randn(sum(sizes), 3, generator=g, dtype=torch.float64)
    mean, _ = masked_graph_mean(x, batch, torch.ones(len(batch), dtype=torch.bool), len(sizes))
    return x - mean[batch], batch


def per_graph_cost(a: torch.Tensor, b: torch.Tensor, batch: torch.Tensor, nb: int) -> torch.Tensor:
    return torch.zeros(nb, dtype=a.dtype).index_add_(0, batch, (a - b).pow(2).sum(-1))


@pytest.mark.parametrize(("permute", "rotate"), [(True, False), (False, True), (True, True)])
def test_alignment_never_increases_cost(permute, rotate):
    sizes = [3, 7, 1, 12, 5] * 20
    x0, batch = zero_com_clouds(sizes, 0)
    x1, _ = zero_com_clouds(sizes, 1, scale=1.5)
    out = align_prior(x0, x1, batch, len(sizes), permute=permute, rotate=rotate)
    before, after = per_graph_cost(x0, x1, batch, len(sizes)), per_graph_cost(out, x1, batch, len(sizes))
    assert (after <= before + 1e-12).all()
    assert (after < before - 1e-6).float().mean() > 0.5  # it does something on most graphs
    # an isometry of each graph: pairwise distances and per-graph CoM are unchanged
    for g in range(5):
        m = batch == g
        d0, d1 = torch.cdist(x0[m], x0[m]), torch.cdist(out[m], out[m])
        assert torch.allclose(
            d0.sort(-1).values.sort(0).values, d1.sort(-1).values.sort(0).values, atol=1e-10
        )
    mean, _ = masked_graph_mean(out, batch, torch.ones_like(batch, dtype=torch.bool), len(sizes))
    assert mean.abs().max() < 1e-12


def axis_rotation(axis: list[float], degrees: float) -> torch.Tensor:
    """Rodrigues' formula: rotation by ``degrees`` about ``axis``."""
    k = torch.tensor(axis, dtype=torch.float64)
    k = k / k.norm()
    kx = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=torch.float64)
    a = math.radians(degrees)
    return torch.eye(3, dtype=torch.float64) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx


def test_rotated_permuted_copy_is_recovered_exactly():
    """x0 = a shuffled copy of x1 rotated by 15°: permutation then Kabsch give zero cost, and the
    permutation and rotation found are the constructed ones."""
    g = torch.Generator().manual_seed(2)
    corners = 2.0 * torch.tensor(
        [[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=torch.float64
    )
    clouds = [corners + 0.2 * torch.randn(8, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    x1 = torch.cat([x - x.mean(0) for x in clouds])  # min spacing ~2 Å, radius ~1.8 Å
    batch = torch.arange(3).repeat_interleave(8)
    rots = [axis_rotation([1, 2, 3], 15), axis_rotation([0, 0, 1], -15), axis_rotation([1, -1, 0.5], 12)]
    shuffle = torch.cat([torch.randperm(8, generator=g) + 8 * i for i in range(3)])
    x0 = torch.cat([x1[shuffle][batch == i] @ rots[i].T for i in range(3)])  # x0_j = R x1_shuffle(j)
    inverse = torch.empty_like(shuffle)
    inverse[shuffle] = torch.arange(24)
    assert torch.equal(assignment(x0, x1, batch, 3), inverse)  # x0[inverse] lines up with x1
    rot = kabsch(x0[inverse], x1, batch, 3)
    for i in range(3):
        assert torch.allclose(rot[i], rots[i].T, atol=1e-12)
    aligned = align_prior(x0, x1, batch, 3)
    assert per_graph_cost(aligned, x1, batch, 3).max() < 1e-20
    assert per_graph_cost(x0, x1, batch, 3).min() > 1.0
    # each move alone: an arbitrary rotation (no shuffle), an arbitrary shuffle (no rotation)
    x0_rot = torch.cat([x1[batch == i] @ random_rotation(20 + i).T for i in range(3)])
    assert per_graph_cost(align_prior(x0_rot, x1, batch, 3, permute=False), x1, batch, 3).max() < 1e-20
    assert torch.equal(align_prior(x1[shuffle], x1, batch, 3, rotate=False), x1)


def test_kabsch_returns_proper_rotation_for_mirror_images():
    x1, batch = zero_com_clouds([8] * 50, 3)
    mirror = x1 * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)  # reflection: det -1 would be optimal
    rot = kabsch(mirror, x1, batch, 50)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(50, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(
        rot @ rot.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(50, 3, 3), atol=1e-12
    )


def test_ot_keeps_the_prior_law_for_an_invariant_data_law():
    """Data N(0, 4P) is rotation- and permutation-invariant, so the aligned prior is still N(0, P). 4 SE."""
    m, n = 3000, 4
    proc = build_process("flow", T, C, ot="full")
    x1, batch = zero_com_clouds([n] * m, 4, scale=2.0)
    clean = MolState(
        pos=x1,
        atom_type=torch.zeros(m * n, dtype=torch.long),
        charge=torch.zeros(m * n, dtype=torch.long),
        bond=torch.zeros(0, dtype=torch.long),
        pairs=torch.zeros(2, 0, dtype=torch.long),
        batch=batch,
        num_graphs=m,
        fixed=torch.zeros(m * n, dtype=torch.bool),
        context=torch.zeros(m * n, dtype=torch.bool),
        center=torch.zeros(m, 3, dtype=torch.float64),
    )
    eps = build_process("flow", T, C).prior(clean, torch.Generator().manual_seed(5)).pos  # unaligned x0
    aligned = proc.corrupt(clean, torch.zeros(m, dtype=torch.float64), torch.Generator().manual_seed(5)).pos
    assert per_graph_cost(aligned, x1, batch, m).sum() < 0.9 * per_graph_cost(eps, x1, batch, m).sum()
    x = aligned.view(m, 3 * n)
    p = com_projector(n)
    se = ((p.diagonal()[:, None] * p.diagonal()[None] + p**2) / m).sqrt()
    assert ((torch.cov(x.T) - p).abs() / se).max() < 4
    assert (x.mean(0).abs() / (p.diagonal() / m).sqrt()).max() < 4


@pytest.mark.parametrize("integrator", ["euler", "heun"])
@pytest.mark.parametrize("ot", ["none", "permutation"])
def test_flow_sampler_with_and_without_ot_hits_permutation_mixture(integrator, ot):
    """Target: uniform over the 6 atom orders of a fixed 3-atom cloud; exact posterior for each coupling.

    Every sample lands within 0.05 Å of one copy, and the copies' frequencies are uniform
    (each within 4 SE of 1/6).
    """
    m, steps = 1500, 60
    c = torch.tensor([[-1.2, 0.1, 0.0], [0.3, 0.9, 0.0], [0.9, -1.0, 0.0]], dtype=torch.float64)
    c = c - c.mean(0)
    proc = build_process("flow", T, C, ot=ot, integrator=integrator, grid="power")
    oracle = PermutationMixtureOracle(c, T, C, K, ot=ot == "permutation")
    out = sample(
        oracle,
        proc,
        MolState.template([3] * m, T, C, dtype=torch.float64),
        steps,
        generator=torch.Generator().manual_seed(6),
    )
    x = out.pos.view(m, 3, 3)
    dist = (x[:, None] - oracle.copies[None]).pow(2).sum(-1).mean(-1).sqrt()  # RMSD to each copy
    best = dist.min(-1)
    assert best.values.max() < 0.05
    freq = torch.bincount(best.indices, minlength=6).double() / m
    assert ((freq - 1 / 6).abs() <= 4 * math.sqrt((1 / 6) * (5 / 6) / m)).all(), freq
