"""E(3) and permutation equivariance of both denoisers, in float64 over several seeds.

For a rotation or reflection R and a translation τ: pos_out(R x + τ) = R pos_out(x) + τ and every
logit is unchanged, to 1e-8. Edges are compared as [N, N, K] tensors so edge order never matters.
"""

from __future__ import annotations

import pytest
import torch
from e3nn import o3

from molgen.models import DenoiserOutput, build_model
from molgen.models.graphs import radius_graph, reverse_edges

MODELS = ("egnn", "e3nn")
SEEDS = (0, 1, 2)
TOL = 1e-8


def orthogonal(seed: int, reflect: bool) -> torch.Tensor:
    """Random rotation (det +1), or rotation times a mirror (det −1)."""
    torch.manual_seed(seed)
    r = o3.rand_matrix()
    return r @ torch.diag(torch.tensor([-1.0, 1.0, 1.0])) if reflect else r


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().abs().nan_to_num(0.0).max()) if a.numel() else 0.0


def check_transformed(out, out_t, r, tau, dense, ei, ei_t, n):
    """out_t was computed on R x + τ; compare with out."""
    assert max_err(out_t.pos, out.pos @ r.T + tau) < TOL
    assert max_err(out_t.type_logits, out.type_logits) < TOL
    assert max_err(out_t.charge_logits, out.charge_logits) < TOL
    a, b = dense(ei, out.bond_logits, n), dense(ei_t, out_t.bond_logits, n)
    assert torch.equal(a.isnan(), b.isnan())  # same edge set
    assert max_err(a, b) < TOL


@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODELS)
def test_e3_equivariance(name, seed, reflect, tiny_denoiser, mixed_batch, dense_edges):
    model = tiny_denoiser(name, seed)
    r, tau = orthogonal(seed, reflect), torch.randn(3) * 5.0
    inp = mixed_batch.to_input()
    moved = mixed_batch.to_input()
    moved.pos = mixed_batch.pos @ r.T + tau
    out, out_t = model(inp), model(moved)
    assert torch.linalg.det(r).sign() == (-1 if reflect else 1)
    check_transformed(out, out_t, r, tau, dense_edges, inp.edge_index, moved.edge_index, inp.pos.shape[0])
    assert max_err(out.pos, inp.pos) > 1e-3  # the atoms do move


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODELS)
def test_permutation_equivariance(name, seed, tiny_denoiser, mixed_batch, dense_edges):
    model = tiny_denoiser(name, seed)
    gen = torch.Generator().manual_seed(seed)
    # permute inside every graph so the batch vector stays sorted
    perm = torch.cat(
        [
            torch.nonzero(mixed_batch.batch == g).flatten()[
                torch.randperm(int((mixed_batch.batch == g).sum()), generator=gen)
            ]
            for g in range(mixed_batch.num_graphs)
        ]
    )
    assert not torch.equal(perm, torch.arange(perm.numel()))
    sys_p = mixed_batch.permuted(perm)
    inp, inp_p = mixed_batch.to_input(), sys_p.to_input()
    out, out_p = model(inp), model(inp_p)
    n = perm.numel()
    assert max_err(out_p.pos, out.pos[perm]) < TOL
    assert max_err(out_p.type_logits, out.type_logits[perm]) < TOL
    assert max_err(out_p.charge_logits, out.charge_logits[perm]) < TOL
    a = dense_edges(inp.edge_index, out.bond_logits, n)[perm][:, perm]
    b = dense_edges(inp_p.edge_index, out_p.bond_logits, n)
    assert torch.equal(a.isnan(), b.isnan()) and max_err(a, b) < TOL


@pytest.mark.parametrize("name", MODELS)
def test_bond_logits_symmetric_bit_for_bit(name, tiny_denoiser, mixed_batch):
    inp = mixed_batch.to_input()
    out = tiny_denoiser(name)(inp)
    rev = reverse_edges(inp.edge_index, inp.pos.shape[0])
    assert (rev >= 0).all()
    assert torch.equal(out.bond_logits, out.bond_logits[rev])
    assert out.bond_logits.std(0).min() > 0  # not a constant per class


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODELS)
def test_graph_alone_equals_graph_in_mixed_batch(name, seed, tiny_denoiser, mixed_batch, dense_edges):
    model = tiny_denoiser(name, seed)
    inp = mixed_batch.to_input()
    out = model(inp)
    n = inp.pos.shape[0]
    full = dense_edges(inp.edge_index, out.bond_logits, n)
    for g in range(mixed_batch.num_graphs):
        sel = (mixed_batch.batch == g).nonzero().flatten()
        alone = mixed_batch.graph(g)
        inp_g = alone.to_input()
        out_g = model(inp_g)
        assert max_err(out_g.pos, out.pos[sel]) < TOL
        assert max_err(out_g.type_logits, out.type_logits[sel]) < TOL
        assert max_err(out_g.charge_logits, out.charge_logits[sel]) < TOL
        sub = full[sel][:, sel]
        mine = dense_edges(inp_g.edge_index, out_g.bond_logits, sel.numel())
        assert torch.equal(sub.isnan(), mine.isnan()) and max_err(sub, mine) < TOL
    # the per-graph time is used: another time for graph 2 changes graph 2 only
    inp.t = inp.t.clone()
    inp.t[2] += 0.3
    out2 = model(inp)
    in2 = mixed_batch.batch == 2
    assert max_err(out2.pos[in2], out.pos[in2]) > 1e-6
    assert max_err(out2.pos[~in2], out.pos[~in2]) < TOL


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODELS)
def test_context_atoms_do_not_move(name, seed, tiny_denoiser, mixed_batch, dense_edges):
    model = tiny_denoiser(name, seed)
    gen = torch.Generator().manual_seed(seed)
    ctx = torch.rand(mixed_batch.pos.shape[0], generator=gen) < 0.5
    ctx[:3] = torch.tensor([True, False, True])
    inp = mixed_batch.to_input(context_mask=ctx)
    out = model(inp)
    assert torch.equal(out.pos[ctx], inp.pos[ctx])
    assert ((out.pos[~ctx] - inp.pos[~ctx]).norm(dim=-1) > 1e-4).all()
    # still equivariant with context atoms present
    r, tau = orthogonal(seed + 10, reflect=True), torch.randn(3)
    moved = mixed_batch.to_input(context_mask=ctx)
    moved.pos = inp.pos @ r.T + tau
    out_t = model(moved)
    assert torch.equal(out_t.pos[ctx], moved.pos[ctx])
    check_transformed(out, out_t, r, tau, dense_edges, inp.edge_index, moved.edge_index, inp.pos.shape[0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODELS)
def test_radius_graph_equivariance(name, seed, tiny_denoiser, system_factory, dense_edges):
    cutoff = 3.0
    model = tiny_denoiser(name, seed, cutoff=cutoff)
    sys_ = system_factory((40, 25), seed, box=8.0)
    ei = radius_graph(sys_.pos, cutoff, sys_.batch)
    inp = sys_.to_input(ei)
    r, tau = orthogonal(seed, reflect=seed % 2 == 1), torch.randn(3) * 3.0
    moved_pos = sys_.pos @ r.T + tau
    ei_t = radius_graph(moved_pos, cutoff, sys_.batch)  # edges recomputed from moved coordinates
    sys_.pos = moved_pos
    moved = sys_.to_input(ei_t)
    out, out_t = model(inp), model(moved)
    n = moved_pos.shape[0]
    assert 0 < ei.shape[1] < n * (n - 1) // 2  # a proper, sparse radius graph
    check_transformed(out, out_t, r, tau, dense_edges, ei, ei_t, n)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", MODELS)
def test_self_conditioning_equivariance(name, seed, tiny_denoiser, mixed_batch, dense_edges):
    model = tiny_denoiser(name, seed, self_condition=True)
    inp = mixed_batch.to_input()
    n, e = inp.pos.shape[0], inp.edge_index.shape[1]
    gen = torch.Generator().manual_seed(seed)
    bond = torch.randn(e, 5, generator=gen)
    rev = reverse_edges(inp.edge_index, n)
    prev = DenoiserOutput(
        pos=inp.pos + 0.5 * torch.randn(n, 3, generator=gen),
        type_logits=torch.randn(n, 5, generator=gen),
        charge_logits=torch.randn(n, 3, generator=gen),
        bond_logits=bond + bond[rev],
    )
    inp.self_cond = prev
    out = model(inp)
    assert max_err(out.pos, model(mixed_batch.to_input()).pos) > 1e-6  # self-conditioning is used
    r, tau = orthogonal(seed, reflect=seed != 1), torch.randn(3) * 2.0
    moved = mixed_batch.to_input()
    moved.pos = inp.pos @ r.T + tau
    moved.self_cond = DenoiserOutput(
        prev.pos @ r.T + tau, prev.type_logits, prev.charge_logits, prev.bond_logits
    )
    check_transformed(out, model(moved), r, tau, dense_edges, inp.edge_index, moved.edge_index, n)


@pytest.mark.parametrize("name", MODELS)
def test_outputs_depend_on_atom_types(name, tiny_denoiser, mixed_batch):
    model = tiny_denoiser(name)
    inp = mixed_batch.to_input()
    out = model(inp)
    changed = mixed_batch.graph(0)  # same molecules, with atom 0 of graph 0 of another type
    mixed_batch.atom = mixed_batch.atom.clone()
    mixed_batch.atom[0] = (mixed_batch.atom[0] + 1) % 6
    out2 = model(mixed_batch.to_input())
    g0 = mixed_batch.batch == 0
    for a, b in (
        (out.pos, out2.pos),
        (out.type_logits, out2.type_logits),
        (out.charge_logits, out2.charge_logits),
    ):
        assert max_err(a[g0][1:], b[g0][1:]) > 1e-6  # neighbours of atom 0 see the change
        assert max_err(a[~g0], b[~g0]) == 0.0  # other graphs do not
    assert max_err(out.bond_logits, out2.bond_logits) > 1e-6
    assert changed.pos.shape[0] == int(g0.sum())


@pytest.mark.parametrize("name", MODELS)
def test_gradients_flow_and_are_correct(name, tiny_denoiser, system_factory):
    model = tiny_denoiser(name)
    sys_ = system_factory((4, 3), seed=7)
    inp = sys_.to_input()
    out = model(inp)
    loss = out.pos.square().sum() + out.bond_logits.square().mean()
    loss = loss + out.type_logits.logsumexp(-1).sum() + out.charge_logits.logsumexp(-1).sum()
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    live = sum(float(g.abs().sum()) > 0 for g in grads.values())
    assert live >= 0.9 * len(grads), f"only {live}/{len(grads)} parameter tensors get a gradient"

    # analytic gradients w.r.t. coordinates match finite differences (on random projections of
    # every output, which keeps the number of backward passes small)
    gen = torch.Generator().manual_seed(3)
    weights = [
        torch.randn(x.shape, generator=gen)
        for x in (out.pos, out.type_logits, out.charge_logits, out.bond_logits)
    ]

    def f(pos):
        inp.pos = pos
        o = model(inp)
        outs = (o.pos, o.type_logits, o.charge_logits, o.bond_logits)
        return torch.stack([(w * x).sum() for w, x in zip(weights, outs)])

    assert torch.autograd.gradcheck(f, (sys_.pos.clone().requires_grad_(),), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_default_model_shapes_and_errors(name, mixed_batch):
    model = build_model(name, num_types=5, num_charges=3).double()
    inp = mixed_batch.to_input()
    inp.node_attr = None
    out = model(inp)
    n, e = inp.pos.shape[0], inp.edge_index.shape[1]
    assert out.pos.shape == (n, 3) and out.type_logits.shape == (n, 5)
    assert out.charge_logits.shape == (n, 3) and out.bond_logits.shape == (e, 5)
    with pytest.raises(ValueError, match="self_condition=False"):
        inp.self_cond = out
        model(inp)
    with pytest.raises(ValueError, match="node_attr_dim=0"):
        model(mixed_batch.to_input())


@pytest.mark.parametrize("self_condition", [False, True])
def test_egnn_paired_edges_give_the_per_edge_result(self_condition, tiny_denoiser, mixed_batch):
    """``paired=True`` (edge states per pair) computes what the per-directed-edge path computes."""
    model = tiny_denoiser("egnn", 0, self_condition=self_condition)
    inp = mixed_batch.to_input()
    if self_condition:
        inp.self_cond = model(mixed_batch.to_input())
    with torch.no_grad():
        plain = model(inp)
        inp.paired = True
        fast = model(inp)
    for f in ("pos", "type_logits", "charge_logits", "bond_logits"):
        torch.testing.assert_close(getattr(fast, f), getattr(plain, f), rtol=1e-12, atol=1e-12)
    # the bond logits of (i, j) and (j, i) are the same rows
    u = inp.edge_index.shape[1] // 2
    assert torch.equal(fast.bond_logits[:u], fast.bond_logits[u:])


@pytest.mark.parametrize("seed", SEEDS)
def test_egnn_context_gate_equivariance_and_no_pocket_equals_plain(seed, mixed_batch, dense_edges):
    """context_gate: with pocket atoms (node_attr[:, 0] > 0.5, held fixed) and open gates the network is
    still E(3)-equivariant; with no pocket atom it computes what the plain EGNN with the same weights does."""
    from tests.models.conftest import TINY, C, F, K, T

    torch.manual_seed(seed)
    gated = build_model("egnn", num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F,
                        context_gate=True, **TINY["egnn"]).double().eval()
    plain = build_model("egnn", num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F,
                        **TINY["egnn"]).double().eval()
    plain.load_state_dict({k: v for k, v in gated.state_dict().items() if "gate" not in k})
    # no pocket atom: the same function
    mixed_batch.node_attr[:, 0] = -1.0
    inp = mixed_batch.to_input()
    a, b = gated(inp), plain(inp)
    assert max_err(a.pos, b.pos) < 1e-12 and max_err(a.type_logits, b.type_logits) < 1e-12
    # pocket atoms and open gates: equivariant, pocket atoms still
    with torch.no_grad():
        for layer in gated.layers:
            layer.gate_h.normal_()
            layer.gate_x.fill_(0.7)
    pocket = _mark_pocket(mixed_batch, seed)
    inp = mixed_batch.to_input(context_mask=pocket)
    out = gated(inp)
    assert max_err(out.pos, plain(inp).pos) > 1e-6  # the gates matter
    _check_pocket_equivariance(gated, mixed_batch, pocket, out, seed + 20, dense_edges)


def _mark_pocket(system, seed: int) -> torch.Tensor:
    """About 40 % of the atoms made pocket atoms (``node_attr[:, 0]`` = 1); the [N] bool mask."""
    gen = torch.Generator().manual_seed(seed)
    pocket = torch.rand(system.pos.shape[0], generator=gen) < 0.4
    pocket[:2] = torch.tensor([True, False])
    system.node_attr[:, 0] = pocket.double()
    return pocket


def _check_pocket_equivariance(model, system, pocket, out, seed: int, dense_edges) -> None:
    """``out`` (the model on ``system`` with the pocket held) transforms with a random E(3) map; pocket atoms stay."""
    r, tau = orthogonal(seed, reflect=seed % 2 == 0), torch.randn(3, dtype=torch.float64)
    moved = system.to_input(context_mask=pocket)
    inp_pos = moved.pos
    moved.pos = inp_pos @ r.T + tau
    out_t = model(moved)
    assert torch.equal(out_t.pos[pocket], moved.pos[pocket])
    check_transformed(out, out_t, r, tau, dense_edges, moved.edge_index, moved.edge_index, inp_pos.shape[0])


def _open_attention(model, seed: int) -> None:
    """Random attention logits (they start at zero, where the layer is the plain mean)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.layers:
            layer.attn_logit.weight.copy_(torch.randn(layer.attn_logit.weight.shape, generator=gen,
                                                      dtype=torch.float64) * 2.0)
            layer.attn_logit.bias.fill_(0.3)


@pytest.mark.parametrize("seed", SEEDS)
def test_egnn_attention_equivariance_and_zero_logits_equal_plain(seed, mixed_batch, dense_edges):
    """attention: at its zero initialisation the network is the plain EGNN with the same weights; with
    random logits it is still E(3)- and permutation-equivariant, gives a graph the same output alone and
    in a mixed batch, and differs from the plain mean."""
    from tests.models.conftest import TINY, C, F, K, T

    torch.manual_seed(seed)
    att = build_model("egnn", num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F,
                      attention=True, **TINY["egnn"]).double().eval()
    plain = build_model("egnn", num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F,
                        **TINY["egnn"]).double().eval()
    plain.load_state_dict({k: v for k, v in att.state_dict().items() if "attn_logit" not in k})
    inp = mixed_batch.to_input()
    a, b = att(inp), plain(inp)
    for f in ("pos", "type_logits", "charge_logits", "bond_logits"):
        assert max_err(getattr(a, f), getattr(b, f)) < 1e-12
    _open_attention(att, seed)
    out = att(inp)
    assert max_err(out.pos, b.pos) > 1e-4 and max_err(out.type_logits, b.type_logits) > 1e-4
    r, tau = orthogonal(seed + 30, reflect=seed % 2 == 1), torch.randn(3, dtype=torch.float64) * 5.0
    moved = mixed_batch.to_input()
    moved.pos = inp.pos @ r.T + tau
    check_transformed(out, att(moved), r, tau, dense_edges, inp.edge_index, moved.edge_index, inp.pos.shape[0])
    gen = torch.Generator().manual_seed(seed)
    perm = torch.cat([torch.nonzero(mixed_batch.batch == g).flatten()[
        torch.randperm(int((mixed_batch.batch == g).sum()), generator=gen)] for g in range(mixed_batch.num_graphs)])
    out_p = att(mixed_batch.permuted(perm).to_input())
    assert max_err(out_p.pos, out.pos[perm]) < TOL and max_err(out_p.type_logits, out.type_logits[perm]) < TOL
    for g in range(mixed_batch.num_graphs):
        sel = (mixed_batch.batch == g).nonzero().flatten()
        alone = att(mixed_batch.graph(g).to_input())
        assert max_err(alone.pos, out.pos[sel]) < TOL and max_err(alone.type_logits, out.type_logits[sel]) < TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_egnn_attention_with_context_gate_equivariance_and_zero_logits_equal_gated(seed, mixed_batch, dense_edges):
    """attention + context_gate: zero logits give the gated network's means (ligand and pocket sources
    averaged apart); random logits and open gates keep E(3) equivariance and the pocket atoms still."""
    from tests.models.conftest import TINY, C, F, K, T

    torch.manual_seed(seed)
    kw = dict(num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F, context_gate=True, **TINY["egnn"])
    att = build_model("egnn", attention=True, **kw).double().eval()
    gated = build_model("egnn", **kw).double().eval()
    with torch.no_grad():
        for layer in att.layers:
            layer.gate_h.normal_()
            layer.gate_x.fill_(0.7)
    gated.load_state_dict({k: v for k, v in att.state_dict().items() if "attn_logit" not in k})
    pocket = _mark_pocket(mixed_batch, seed)
    inp = mixed_batch.to_input(context_mask=pocket)
    a, b = att(inp), gated(inp)
    assert max_err(a.pos, b.pos) < 1e-12 and max_err(a.type_logits, b.type_logits) < 1e-12
    _open_attention(att, seed)
    out = att(inp)
    assert max_err(out.pos, b.pos) > 1e-4
    _check_pocket_equivariance(att, mixed_batch, pocket, out, seed + 40, dense_edges)


@pytest.mark.parametrize("paired", [False, True])
def test_egnn_bond_head_skips_pairs_with_a_pocket_atom(paired, tiny_denoiser, mixed_batch, monkeypatch):
    """The bond head runs on pairs of two non-pocket atoms only (``node_attr[:, 0] > 0.5`` marks pocket
    atoms; the processes hold the other pairs at "no bond" and leave them out of the loss): zeros there,
    and on the ligand pairs what the head computes over every pair."""
    from molgen.models.egnn import EGNN

    model = tiny_denoiser("egnn", 0)
    pocket = _mark_pocket(mixed_batch, 3)
    inp = mixed_batch.to_input(context_mask=pocket)
    if paired:
        u = inp.edge_index[:, inp.edge_index[0] < inp.edge_index[1]]
        inp = mixed_batch.to_input(torch.cat([u, u.flip(0)], 1), context_mask=pocket, paired=True)
    src, dst = inp.edge_index
    touches = pocket[src] | pocket[dst]
    assert 0 < int(touches.sum()) < touches.numel()
    with torch.no_grad():
        out = model(inp)
        head = EGNN.bond_logits
        monkeypatch.setattr(EGNN, "bond_logits", lambda self, h, x, e, pairs, pk: head(self, h, x, e, pairs, None))
        every = model(inp)
    assert torch.equal(out.bond_logits[touches], torch.zeros_like(out.bond_logits[touches]))
    assert every.bond_logits[touches].abs().max() > 1e-3  # the full head gives those pairs logits
    torch.testing.assert_close(out.bond_logits[~touches], every.bond_logits[~touches], rtol=1e-12, atol=1e-12)
    for f in ("pos", "type_logits", "charge_logits"):
        assert torch.equal(getattr(out, f), getattr(every, f))
