"""Priors, corruption endpoints, discrete marginals, losses, network inputs, grids and the registry."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from molgen.models.base import DenoiserOutput
from molgen.processes import MolState, build_process
from molgen.processes.schedules import VPSchedule, kappa
from molgen.processes.state import masked_graph_mean
from tests.processes.process_oracles import mixed_batch, random_rotation

T, C, K = 4, 3, 5
SIZES = (3, 5, 2, 4)
CONFIGS = [
    ("diffusion", {"discrete": "masked"}),
    ("diffusion", {"discrete": "continuous", "sampler": "ddim"}),
    ("flow", {"discrete": "uniform"}),
    ("flow", {"discrete": "masked", "ot": "full"}),
]
IDS = [f"{n}-{kw['discrete']}" + ("-ot" if kw.get("ot") else "") for n, kw in CONFIGS]


def com(pos: torch.Tensor, state: MolState, mask: torch.Tensor | None = None) -> torch.Tensor:
    mask = torch.ones_like(state.fixed) if mask is None else mask
    return masked_graph_mean(pos, state.batch, mask, state.num_graphs)[0]


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_prior_zero_com_per_graph(name, kw):
    proc = build_process(name, T, C, **kw)
    tmpl = MolState.template(list(SIZES), T, C, dtype=torch.float64)
    prior = proc.prior(tmpl, torch.Generator().manual_seed(0))
    assert com(prior.pos, prior).abs().max() < 1e-12  # each graph on its own, not the batch
    assert prior.pos.abs().min() > 0  # it is noise, not zeros
    if kw["discrete"] == "masked":
        assert (prior.atom_type == T).all() and (prior.charge == C).all() and (prior.bond == K).all()
    elif kw["discrete"] == "continuous":
        assert prior.atom_type.shape == (sum(SIZES), T) and prior.bond.dtype == torch.float64


def test_prior_covariance_is_com_projector():
    """Free-atom noise of an n-atom graph is N(0, (I - 11ᵀ/n) ⊗ I3): variance (n-1)/n, covariance -1/n."""
    proc = build_process("flow", T, C)
    m, n = 4000, 3
    prior = proc.prior(
        MolState.template([n] * m, T, C, dtype=torch.float64), torch.Generator().manual_seed(1)
    )
    x = prior.pos.view(m, n * 3)
    cov = torch.cov(x.T)
    expected = torch.kron(torch.eye(n, dtype=torch.float64) - 1 / n, torch.eye(3, dtype=torch.float64))
    se = ((expected.diagonal()[:, None] * expected.diagonal()[None] + expected**2) / m).sqrt()
    assert ((cov - expected).abs() / se).max() < 4


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_prior_with_center_and_fixed_atoms(name, kw):
    proc = build_process(name, T, C, **kw)
    frag = Data(
        pos=torch.tensor([[1.0, 2.0, 3.0], [2.5, 2.0, 3.0]]),
        atom_type=torch.tensor([1, 3]),
        charge=torch.tensor([2, 0]),
        edge_index=torch.tensor([[0, 1], [1, 0]]),
        bond_type=torch.tensor([3, 3]),
        num_nodes=2,
    )
    pocket = Data(
        pos=torch.tensor([[5.0, 5, 5], [7.0, 5, 5]]),
        atom_type=torch.tensor([0, 1]),
        charge=torch.tensor([1, 1]),
        num_nodes=2,
    )
    center = torch.tensor([[10.0, -4.0, 2.0], [0.5, 0.5, 0.5], [-3.0, 1.0, 7.0]], dtype=torch.float64)
    tmpl = MolState.template(
        [5, 2, 6], T, C, fragment=frag, context=pocket, center=center, dtype=torch.float64
    )
    prior = proc.prior(tmpl, torch.Generator().manual_seed(2))
    free = ~prior.fixed
    assert (com(prior.pos, prior, free) - center)[[0, 2]].abs().max() < 1e-12  # graph 1 has no free atom
    assert torch.equal(prior.pos[prior.fixed], tmpl.pos[tmpl.fixed])
    final = proc.finalize(prior, None) if kw["discrete"] != "masked" else prior
    assert torch.equal(final.atom_type[prior.fixed], tmpl.atom_type[tmpl.fixed])
    assert torch.equal(final.bond[prior.pair_fixed], tmpl.bond[tmpl.pair_fixed])
    assert (final.bond[prior.pair_context] == 0).all()


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_corrupt_at_one_is_the_data(name, kw):
    proc = build_process(name, T, C, **kw)
    clean = MolState.from_batch(mixed_batch(SIZES, T, C))
    noisy = proc.corrupt(clean, torch.ones(4, dtype=torch.float64), torch.Generator().manual_seed(3))
    assert torch.equal(noisy.pos, clean.pos)
    for field in ("atom_type", "charge", "bond"):
        assert torch.equal(
            getattr(noisy, field),
            proc.represent(getattr(clean, field), field).to(getattr(noisy, field).dtype),
        )
    final = proc.finalize(noisy)
    assert torch.equal(final.atom_type, clean.atom_type) and torch.equal(final.bond, clean.bond)


def test_polynomial_schedule_data_end_keeps_edm_precision():
    """EDM's schedule is not exact at t = 1: sigma(1)^2 = s = 1e-5 (documented), and alpha^2 + sigma^2 = 1."""
    sched = VPSchedule("polynomial")
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    a, s = sched.alpha_sigma(t)
    assert torch.allclose(a**2 + s**2, torch.ones_like(t), atol=1e-12)
    assert abs(float(s[-1]) ** 2 - 1e-5) < 1e-9 and abs(float(a[0]) ** 2 - 1e-5) < 1e-8
    assert (a[1:] >= a[:-1]).all()
    cos = VPSchedule("cosine")
    ac, sc = cos.alpha_sigma(t)
    assert float(ac[0]) == 0.0 and float(ac[-1]) == 1.0 and (ac[1:] > ac[:-1]).all()
    assert torch.allclose(ac**2 + sc**2, torch.ones_like(t), atol=1e-12)


@pytest.mark.parametrize("name", ["flow", "diffusion"])
def test_corrupt_at_zero_is_the_prior_draw(name):
    """Same seed: corrupt(clean, 0) draws exactly the prior's coordinates (cosine alpha(0) = 0)."""
    proc = build_process(name, T, C)
    clean = MolState.from_batch(mixed_batch(SIZES, T, C))
    noisy = proc.corrupt(clean, torch.zeros(4, dtype=torch.float64), torch.Generator().manual_seed(4))
    prior = proc.prior(clean, torch.Generator().manual_seed(4))
    assert torch.allclose(noisy.pos, prior.pos, rtol=0, atol=1e-12)
    assert com(noisy.pos - clean.center[clean.batch], noisy).abs().max() < 1e-12
    assert (noisy.atom_type == T).all() and (noisy.bond == K).all()  # masked: everything masked


@pytest.mark.parametrize("mode", ["masked", "uniform"])
@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_discrete_corruption_marginals(mode, schedule):
    """P(x_t = x1) = kappa(t) (+ (1 - kappa)/K for uniform noise); uniform noise is uniform. 4 SE."""
    proc = build_process("flow", T, C, discrete=mode, discrete_schedule=schedule)
    m = 3000
    clean = MolState.from_batch(mixed_batch((6,) * m, T, C, seed=5))
    g = torch.Generator().manual_seed(6)
    for t in (0.0, 0.3, 0.8):
        noisy = proc.corrupt(clean, torch.full((m,), t, dtype=torch.float64), g)
        kap = float(kappa(t, schedule))
        same = (noisy.atom_type == clean.atom_type).double()
        p = kap + (0.0 if mode == "masked" else (1 - kap) / T)
        n = same.numel()
        assert abs(same.mean() - p) <= 4 * math.sqrt(max(p * (1 - p), 1e-12) / n)
        other = noisy.bond[noisy.bond != clean.bond]
        if mode == "masked":
            assert (other == K).all()
        elif t == 0.0:
            freq = torch.bincount(noisy.bond, minlength=K).double() / noisy.bond.numel()
            assert ((freq - 1 / K).abs() <= 4 * math.sqrt((1 / K) * (1 - 1 / K) / noisy.bond.numel())).all()


def test_diffusion_corrupt_moments():
    """x_t = alpha x1 + sigma eps with eps zero-CoM unit noise: check the recovered eps."""
    proc = build_process("diffusion", T, C)
    m = 2000
    clean = MolState.from_batch(mixed_batch((4,) * m, T, C, seed=7))
    t = torch.full((m,), 0.4, dtype=torch.float64)
    noisy = proc.corrupt(clean, t, torch.Generator().manual_seed(8))
    a, s = (float(v) for v in proc.coefficients(torch.tensor(0.4, dtype=torch.float64)))
    c = clean.center[clean.batch]
    eps = ((noisy.pos - c) - a * (clean.pos - c)) / s
    assert com(eps, noisy).abs().max() < 1e-12
    var = eps.var(0)  # per coordinate: (n - 1) / n
    assert ((var - 0.75).abs() <= 4 * 0.75 * math.sqrt(2 / eps.shape[0])).all()


def perfect_output(clean: MolState, shift: torch.Tensor | None = None) -> DenoiserOutput:
    big = 30.0
    pos = clean.pos if shift is None else clean.pos + shift
    bl = big * torch.nn.functional.one_hot(clean.bond, K).double()
    return DenoiserOutput(
        pos,
        big * torch.nn.functional.one_hot(clean.atom_type, T).double(),
        big * torch.nn.functional.one_hot(clean.charge, C).double(),
        torch.cat([bl, bl]),
    )


def test_loss_per_graph_means_then_graph_average():
    proc = build_process("flow", T, C, loss_weights={"type": 0.5})
    clean = MolState.from_batch(mixed_batch((3, 5), T, C))
    t = torch.tensor([0.2, 0.7], dtype=torch.float64)
    noisy = proc.corrupt(clean, t, torch.Generator().manual_seed(9))
    err = torch.zeros(8, 3, dtype=torch.float64)
    err[0, 0], err[1, 0] = 1.0, -1.0  # graph 0: squared errors 1, 1, 0 -> mean 2/3
    err[3, 1], err[4, 1] = 2.0, -2.0  # graph 1: 4, 4, 0, 0, 0 -> mean 8/5
    losses = proc.loss(perfect_output(clean, err), clean, noisy, t)
    assert set(losses) == {"loss", "loss_pos", "loss_type", "loss_charge", "loss_bond"}
    assert all(v.dim() == 0 for v in losses.values())
    assert abs(float(losses["loss_pos"]) - (2 / 3 + 8 / 5) / 2) < 1e-12
    assert float(losses["loss_type"]) < 1e-10 and float(losses["loss_bond"]) < 1e-10
    w = {"pos": 1.0, "type": 0.5, "charge": 0.4, "bond": 1.0}
    total = sum(w[k] * losses[f"loss_{k}"] for k in w)
    assert torch.allclose(losses["loss"], total, atol=1e-14)
    # a pure translation of an unconditioned graph's prediction is projected away
    shifted = proc.loss(perfect_output(clean, torch.tensor([[1.0, 2.0, 3.0]]).expand(8, 3)), clean, noisy, t)
    assert float(shifted["loss_pos"]) < 1e-20


def test_loss_ignores_fixed_and_context_atoms():
    proc = build_process("diffusion", T, C, weighting="x0")
    batch = mixed_batch((4, 3), T, C)
    context = torch.tensor([False, False, False, True, False, False, True])
    fixed = torch.tensor([True, False, False, False, False, False, False])
    clean = MolState.from_batch(batch, fixed=fixed, context=context)
    t = torch.tensor([0.5, 0.5], dtype=torch.float64)
    noisy = proc.corrupt(clean, t, torch.Generator().manual_seed(10))
    out = perfect_output(clean)
    bad = perfect_output(clean)
    bad.pos = bad.pos.clone()
    bad.pos[clean.fixed] += 5.0  # wrong on held atoms only
    bad.type_logits = bad.type_logits.clone()
    bad.type_logits[clean.fixed] = -bad.type_logits[clean.fixed]
    bad.bond_logits = bad.bond_logits.clone()
    u = clean.pairs.shape[1]
    bad.bond_logits[:u][clean.pair_fixed] *= -1
    bad.bond_logits[u:][clean.pair_fixed] *= -1
    good, worse = proc.loss(out, clean, noisy, t), proc.loss(bad, clean, noisy, t)
    for k in good:
        assert torch.allclose(good[k], worse[k], atol=1e-12), k
    # and the loss does see the free atoms
    bad.pos[~clean.fixed] += torch.randn(int((~clean.fixed).sum()), 3, dtype=torch.float64)
    assert float(proc.loss(bad, clean, noisy, t)["loss_pos"]) > 1e-3


@pytest.mark.parametrize(
    ("weighting", "expect"),
    [
        ("x0", lambda snr: 1.0),
        ("eps", lambda snr: min(snr, 5.0)),
        ("snr", lambda snr: min(max(snr, 1.0), 5.0)),
    ],
)
def test_diffusion_loss_weights(weighting, expect):
    proc = build_process("diffusion", T, C, weighting=weighting)
    clean = MolState.from_batch(mixed_batch((2,), T, C))
    err = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]], dtype=torch.float64)  # squared error 1 per atom
    for tv in (0.1, 0.5, 0.9):
        t = torch.tensor([tv], dtype=torch.float64)
        snr = float(proc.schedule.snr(t))
        got = float(proc.loss(perfect_output(clean, err), clean, clean, t)["loss_pos"])
        assert abs(got - expect(snr)) < 1e-12
        # eps weighting is |eps_hat - eps|^2 with eps_hat = (x_t - alpha x_hat) / sigma
        if weighting == "eps" and snr < 5:
            a, s = (float(v) for v in proc.coefficients(t))
            assert abs(got - ((a * err / s) ** 2).sum(-1).mean().item()) < 1e-12


def test_flow_velocity_weighting():
    proc = build_process("flow", T, C, time_weighting="velocity", weight_clip=50.0)
    clean = MolState.from_batch(mixed_batch((2,), T, C))
    err = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]], dtype=torch.float64)
    for tv, w in ((0.5, 4.0), (0.8, 25.0), (0.99, 50.0)):
        got = float(
            proc.loss(perfect_output(clean, err), clean, clean, torch.tensor([tv], dtype=torch.float64))[
                "loss_pos"
            ]
        )
        assert abs(got - w) < 1e-9


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_model_input(name, kw):
    proc = build_process(name, T, C, **kw)
    clean = MolState.from_batch(mixed_batch(SIZES, T, C), fixed=torch.arange(14) == 0)
    t = torch.full((4,), 0.3, dtype=torch.float64)
    noisy = proc.corrupt(clean, t, torch.Generator().manual_seed(11))
    inp = proc.model_input(noisy, t)
    u = clean.pairs.shape[1]
    assert torch.equal(inp.edge_index, torch.cat([clean.pairs, clean.pairs.flip(0)], 1))
    assert (
        inp.h_type.shape == (14, T + 1)
        and inp.h_charge.shape == (14, C + 1)
        and inp.e_bond.shape == (2 * u, K + 1)
    )
    assert torch.equal(inp.e_bond[:u], inp.e_bond[u:])
    assert torch.equal(inp.context_mask, clean.fixed) and torch.equal(inp.t, t) and inp.num_graphs == 4
    if kw["discrete"] == "masked":
        assert torch.equal(inp.h_type[:, T] == 1, noisy.atom_type == T)
        assert torch.equal(inp.h_type.sum(-1), torch.ones(14, dtype=inp.h_type.dtype))
    else:
        assert (inp.h_type[:, T] == 0).all()


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("diffusion", {}),
        ("diffusion", {"grid": "karras"}),
        ("diffusion", {"grid": "karras", "schedule": "polynomial"}),
        ("flow", {"grid": "uniform"}),
        ("flow", {"grid": "power"}),
        ("flow", {"grid": "log"}),
    ],
)
@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_time_grids(name, kw, steps):
    grid = build_process(name, T, C, **kw).time_grid(steps)
    assert grid.shape == (steps + 1,) and float(grid[0]) == 0.0 and float(grid[-1]) == 1.0
    assert (grid[1:] > grid[:-1]).all()
    if name == "flow" and kw["grid"] != "uniform" and steps > 2:
        assert grid[-1] - grid[-2] < grid[1] - grid[0]  # denser near the data


def test_sample_time_and_registry():
    for dist in ("uniform", "logit_normal"):
        t = build_process("flow", T, C, time_dist=dist).sample_time(
            1000, "cpu", torch.Generator().manual_seed(0)
        )
        assert t.shape == (1000,) and (t >= 0).all() and (t < 1).all() and t.std() > 0.1
    with pytest.raises(ValueError, match="unknown process 'flows'"):
        build_process("flows", T, C)
    with pytest.raises(ValueError, match="process 'flow'"):
        build_process("flow", T, C, integrater="heun")
    for name, kw in [
        ("diffusion", {"schedule": "linear"}),
        ("diffusion", {"sampler": "heun"}),
        ("flow", {"ot": "sinkhorn"}),
        ("flow", {"discrete": "absorbing"}),
        ("flow", {"loss_weights": {"coords": 1.0}}),
    ]:
        with pytest.raises(ValueError):
            build_process(name, T, C, **kw)


def test_class_loss_masked_scores_only_masked_tokens():
    """With ``class_loss="masked"`` the cross-entropy is the per-graph mean over the tokens the noisy state
    masks: a wrong prediction on an unmasked token costs nothing, one on a masked token costs its CE."""
    from torch.nn.functional import cross_entropy

    clean = MolState.from_batch(mixed_batch((3, 5), T, C))
    t = torch.tensor([0.5, 0.5], dtype=torch.float64)
    proc = build_process("flow", T, C, class_loss="masked")
    noisy = proc.corrupt(clean, t, torch.Generator().manual_seed(4))
    masked = noisy.atom_type == T
    assert 0 < int(masked.sum()) < 8  # some of each
    out = perfect_output(clean)
    wrong = torch.zeros(8, T, dtype=torch.float64)  # uniform logits everywhere: CE = log T per token
    out = DenoiserOutput(out.pos, wrong, out.charge_logits, out.bond_logits)
    got = float(proc.loss(out, clean, noisy, t)["loss_type"])
    per_graph = [math.log(T) for g in range(2) if masked[clean.batch == g].any()]
    assert abs(got - sum(per_graph) / len(per_graph)) < 1e-12
    # unmasked tokens predicted wrongly: no cost under "masked", full cost under "all"
    logits = 30.0 * torch.nn.functional.one_hot(clean.atom_type, T).double()
    logits[~masked] = 30.0 * torch.nn.functional.one_hot((clean.atom_type[~masked] + 1) % T, T).double()
    out = DenoiserOutput(out.pos, logits, out.charge_logits, out.bond_logits)
    assert float(proc.loss(out, clean, noisy, t)["loss_type"]) < 1e-10
    ce = cross_entropy(logits, clean.atom_type, reduction="none")
    everything = build_process("flow", T, C).loss(out, clean, noisy, t)["loss_type"]
    expected = (ce[clean.batch == 0].mean() + ce[clean.batch == 1].mean()) / 2
    assert torch.allclose(everything, expected) and float(everything) > 1
    with pytest.raises(ValueError, match="needs discrete 'masked'"):
        build_process("flow", T, C, class_loss="masked", discrete="uniform")


def test_local_pairs_are_bonds_and_two_bond_neighbours():
    """Chain graphs of 3 and 5 atoms: every bond, then every pair that shares a bonded neighbour; a fixed
    pair (both atoms fixed) is dropped, and its 1-3 pairs with it."""
    from molgen.processes.base import local_pairs

    clean = MolState.from_batch(mixed_batch((3, 5), T, C))
    got = {tuple(sorted(p)) for p in local_pairs(clean).t().tolist()}
    bonds = {(0, 1), (1, 2), (3, 4), (4, 5), (5, 6), (6, 7)}
    assert got == bonds | {(0, 2), (3, 5), (4, 6), (5, 7)}
    assert local_pairs(clean).shape[1] == 10  # no pair twice in chains
    clean.fixed[[3, 4]] = True  # graph 1's first bond is fixed: (3, 4) goes, so does (3, 5)
    got = {tuple(sorted(p)) for p in local_pairs(clean).t().tolist()}
    assert got == (bonds - {(3, 4)}) | {(0, 2), (4, 6), (5, 7)}


def test_local_distance_loss_exact_and_invariant():
    """By hand: graph 0 a straight chain at x = 0, 1, 2 Å whose last atom is predicted 0.3 Å further out
    (the 1-2 and 0-2 distances are both 0.3 Å long: (0 + 0.09 + 0.09) / 3 per graph); graph 1 exact. The
    term is zero for a rotated and translated exact prediction (where the coordinate loss is not), and
    counts only the graphs at t >= 0.5."""
    from molgen.processes.base import GEOM_T_MIN, local_distance_loss

    clean = MolState.from_batch(mixed_batch((3, 5), T, C))
    clean.pos[:3] = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]], dtype=torch.float64)
    both = torch.tensor([True, True])
    x_hat = clean.pos.clone()
    x_hat[2, 0] += 0.3
    assert abs(float(local_distance_loss(x_hat, clean, both)) - (0.18 / 3) / 2) < 1e-12
    assert abs(float(local_distance_loss(x_hat, clean, torch.tensor([True, False]))) - 0.18 / 3) < 1e-12
    assert float(local_distance_loss(x_hat, clean, torch.tensor([False, True]))) == 0.0
    rot = random_rotation(3)
    moved = clean.pos @ rot.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert float(local_distance_loss(moved, clean, both)) < 1e-20
    # in the process loss: a term of its own, weighted into ``loss``, only when its weight is > 0
    t = torch.tensor([0.9, GEOM_T_MIN - 0.1], dtype=torch.float64)
    proc = build_process("flow", T, C, loss_weights={"geom": 2.0})
    shift = x_hat - clean.pos
    shift[3:, 1] += 0.7  # graph 1 (t < 0.5) is translated: no local error at all
    losses = proc.loss(perfect_output(clean, shift), clean, clean, t)
    assert abs(float(losses["loss_geom"]) - 0.18 / 3) < 1e-12
    w = {"pos": 1.0, "type": 0.4, "charge": 0.4, "bond": 1.0, "geom": 2.0}
    assert torch.allclose(losses["loss"], sum(w[k] * losses[f"loss_{k}"] for k in w), atol=1e-14)
    assert "loss_geom" not in build_process("flow", T, C).loss(perfect_output(clean, shift), clean, clean, t)


def test_local_pairs_branched_and_ring():
    """A star (atom 0 bonded to 1, 2, 3) has the three 1-3 pairs of its leaves; a three-membered ring gives each
    pair once as a bond and once as two bonds apart."""
    from molgen.processes.base import local_pairs

    def state(n: int, bonds: list[tuple[int, int]]) -> MolState:
        ij = torch.tensor(bonds).t()
        g = Data(pos=torch.randn(n, 3, dtype=torch.float64), atom_type=torch.zeros(n, dtype=torch.long),
                 charge=torch.zeros(n, dtype=torch.long), edge_index=torch.cat([ij, ij.flip(0)], 1),
                 bond_type=torch.ones(2 * len(bonds), dtype=torch.long), num_nodes=n)
        return MolState.from_batch(Batch.from_data_list([g]))

    star = sorted(tuple(sorted(p)) for p in local_pairs(state(4, [(0, 1), (0, 2), (0, 3)])).t().tolist())
    assert star == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    ring = sorted(tuple(sorted(p)) for p in local_pairs(state(3, [(0, 1), (1, 2), (0, 2)])).t().tolist())
    assert ring == [(0, 1), (0, 1), (0, 2), (0, 2), (1, 2), (1, 2)]


def test_contact_loss_exact_and_invariant():
    """By hand, one graph of two ligand atoms and two pocket atoms on the x axis: ligand atom 0 at 0 Å,
    1 at 5 Å; pocket atom 2 at 2.7 Å (a hydrogen-bond distance from atom 0), 3 at 9 Å. Predicted: atom 0
    at 0.5 Å (2.2 Å from atom 2, 0.5 Å closer than the data: 0.25), atom 1 at 6.5 Å (2.5 Å from atom 3,
    where the data has 4 Å, capped at 3 Å: 0.25; 3.8 Å from atom 2, farther than the data's 2.3 Å: no
    cost). Sum 0.5 over 2 free atoms = 0.25 Å². A second graph without pocket
    atoms never counts; the value is E(3)-invariant; a prediction that moves away costs nothing."""
    from molgen.processes.base import GEOM_T_MIN, contact_loss

    g0 = Data(pos=torch.tensor([[0.0, 0, 0], [5.0, 0, 0], [2.7, 0, 0], [9.0, 0, 0]], dtype=torch.float64),
              atom_type=torch.zeros(4, dtype=torch.long), charge=torch.zeros(4, dtype=torch.long),
              edge_index=torch.tensor([[0, 1], [1, 0]]), bond_type=torch.tensor([1, 1]),
              context=torch.tensor([False, False, True, True]))
    g1 = Data(pos=torch.tensor([[0.0, 0, 0], [1.5, 0, 0]], dtype=torch.float64),
              atom_type=torch.zeros(2, dtype=torch.long), charge=torch.zeros(2, dtype=torch.long),
              edge_index=torch.tensor([[0, 1], [1, 0]]), bond_type=torch.tensor([1, 1]),
              context=torch.tensor([False, False]))
    clean = MolState.from_batch(Batch.from_data_list([g0, g1]))
    x_hat = clean.pos.clone()
    x_hat[0, 0], x_hat[1, 0] = 0.5, 6.5
    x_hat[4, 0] = -3.0  # graph 1 has no pocket: whatever its prediction, it does not count
    both = torch.tensor([True, True])
    assert abs(float(contact_loss(x_hat, clean, both)) - 0.25) < 1e-12
    assert float(contact_loss(x_hat, clean, torch.tensor([False, True]))) == 0.0
    away = clean.pos.clone()
    away[0, 0], away[1, 0] = -1.0, 5.2  # every ligand atom farther from every pocket atom, or as far
    assert float(contact_loss(away, clean, both)) == 0.0
    rot = random_rotation(3)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    moved = clean.replace(pos=clean.pos @ rot.T + shift)
    assert abs(float(contact_loss(x_hat @ rot.T + shift, moved, both)) - 0.25) < 1e-12
    # in the process loss: a term of its own, only at t >= GEOM_T_MIN, weighted into ``loss``
    proc = build_process("flow", T, C, loss_weights={"contact": 2.0})
    t = torch.tensor([0.9, 0.9], dtype=torch.float64)
    out = perfect_output(clean, x_hat - clean.pos)
    losses = proc.loss(out, clean, clean, t)
    assert abs(float(losses["loss_contact"]) - float(contact_loss(proc.project(out.pos, clean), clean, both))) < 1e-12
    assert float(losses["loss_contact"]) > 0
    w = {"pos": 1.0, "type": 0.4, "charge": 0.4, "bond": 1.0, "contact": 2.0}
    assert torch.allclose(losses["loss"], sum(w[k] * losses[f"loss_{k}"] for k in w), atol=1e-14)
    low = proc.loss(out, clean, clean, torch.tensor([GEOM_T_MIN - 0.1, 0.9], dtype=torch.float64))
    assert float(low["loss_contact"]) == 0.0
    assert "loss_contact" not in build_process("flow", T, C).loss(out, clean, clean, t)
