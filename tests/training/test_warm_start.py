"""Warm start (train.init_from): a pocket network started from an unconditional prior computes the
prior's function on ligand atoms, exactly; anything else that does not fit is a one-line error."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from molgen.chem.vocab import DRUG_HEAVY, NUM_BOND_TYPES, QM9_HEAVY
from molgen.errors import MolgenError
from molgen.models import DenoiserInput
from molgen.models.graphs import complete_graph
from molgen.training.checkpoint import FORMAT
from molgen.training.module import build_components
from molgen.training.warm_start import warm_start

TINY = {"name": "egnn", "hidden": 16, "edge_dim": 8, "num_layers": 2, "num_rbf": 8}
FLOW = {"name": "flow"}


def _model_file(tmp_path, vocab, model_cfg=TINY, seed=0):
    torch.manual_seed(seed)
    cfg = {"model": dict(model_cfg), "process": FLOW, "data": {"context": "none"}, "train": {}}
    net, _ = build_components(cfg, vocab)
    path = tmp_path / f"prior_{vocab.name}_{model_cfg['hidden']}.ckpt"
    torch.save({"format": FORMAT, "config": cfg, "stats": {}, "vocab": vocab.to_dict(),
                "state_dict": net.state_dict(), "meta": {}}, path)
    return net, path


def _pocket_net(vocab, model_cfg=TINY):
    torch.manual_seed(1)  # other random weights than the prior's
    cfg = {"model": {**model_cfg, "pocket_radius": 5.0}, "process": FLOW, "data": {"context": "pocket"}, "train": {}}
    net, _ = build_components(cfg, vocab)
    return net


def _ligand_input(vocab, attr_dim: int, n: int = 7) -> DenoiserInput:
    g = torch.Generator().manual_seed(3)
    batch = torch.zeros(n, dtype=torch.long)
    ei = complete_graph(batch, 1)
    return DenoiserInput(
        pos=torch.randn(n, 3, generator=g),
        h_type=torch.nn.functional.one_hot(torch.randint(0, vocab.num_types + 1, (n,), generator=g),
                                           vocab.num_types + 1).float(),
        h_charge=torch.nn.functional.one_hot(torch.randint(0, vocab.num_charges + 1, (n,), generator=g),
                                             vocab.num_charges + 1).float(),
        edge_index=ei,
        e_bond=torch.nn.functional.one_hot(torch.randint(0, NUM_BOND_TYPES + 1, (ei.shape[1],), generator=g),
                                           NUM_BOND_TYPES + 1).float(),
        t=torch.tensor([0.4]), batch=batch, num_graphs=1,
        node_attr=torch.zeros(n, attr_dim),  # ligand atoms carry no pocket-residue features
    )


def test_pocket_network_from_prior_is_the_prior_on_ligand_atoms(tmp_path):
    prior, path = _model_file(tmp_path, DRUG_HEAVY)
    pocket = _pocket_net(DRUG_HEAVY)
    attr_dim = pocket.net.node_attr_dim
    assert attr_dim > 0
    before = pocket(_ligand_input(DRUG_HEAVY, attr_dim)).pos
    info = warm_start(pocket, path)
    assert info["embedding_widened"] and info["new_columns"] == attr_dim
    inp = _ligand_input(DRUG_HEAVY, attr_dim)
    got, want = pocket(inp), prior(replace(inp, node_attr=None))
    assert not torch.allclose(before, want.pos)  # the test has power: unrelated weights differ
    for a, b in zip((got.pos, got.type_logits, got.charge_logits, got.bond_logits),
                    (want.pos, want.type_logits, want.charge_logits, want.bond_logits), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # the new residue-feature columns start at zero and are trainable
    w = pocket.net.embed[0].weight
    head = (DRUG_HEAVY.num_types + 1) + (DRUG_HEAVY.num_charges + 1)
    assert torch.count_nonzero(w[:, head:head + attr_dim]) == 0 and w.requires_grad


def test_warm_start_refuses_what_does_not_fit(tmp_path):
    _, other_vocab = _model_file(tmp_path, QM9_HEAVY)
    with pytest.raises(MolgenError, match="vocabulary"):
        warm_start(_pocket_net(DRUG_HEAVY), other_vocab)
    _, wider = _model_file(tmp_path, DRUG_HEAVY, {**TINY, "hidden": 24})
    with pytest.raises(MolgenError, match="shape"):
        warm_start(_pocket_net(DRUG_HEAVY), wider)
    with pytest.raises(MolgenError, match="not found"):
        warm_start(_pocket_net(DRUG_HEAVY), tmp_path / "missing.ckpt")


def _ligand_and_pocket_input(vocab, attr_dim: int, n_lig: int = 7, n_pocket: int = 12) -> DenoiserInput:
    """The ligand of :func:`_ligand_input` with pocket atoms around it, all within the 5 Å radius."""
    lig = _ligand_input(vocab, attr_dim, n_lig)
    g = torch.Generator().manual_seed(4)
    n = n_lig + n_pocket
    pos = torch.cat([lig.pos, torch.randn(n_pocket, 3, generator=g)])
    types = torch.cat([lig.h_type, torch.nn.functional.one_hot(
        torch.randint(0, vocab.num_types, (n_pocket,), generator=g), vocab.num_types + 1).float()])
    charges = torch.cat([lig.h_charge, torch.nn.functional.one_hot(
        torch.full((n_pocket,), vocab.num_charges // 2), vocab.num_charges + 1).float()])
    attr = torch.zeros(n, attr_dim)
    attr[n_lig:, 0] = 1.0  # is_pocket
    attr[n_lig:, 1:] = torch.rand(n_pocket, attr_dim - 1, generator=g).round()
    batch = torch.zeros(n, dtype=torch.long)
    ei = complete_graph(batch, 1)
    pocket_pair = (ei[0] >= n_lig) & (ei[1] >= n_lig)
    ei = ei[:, ~pocket_pair]  # the process's state holds no pocket–pocket pairs
    bonds = torch.zeros(ei.shape[1], NUM_BOND_TYPES + 1)
    bonds[:, 0] = 1.0
    lig_edges = (ei[0] < n_lig) & (ei[1] < n_lig)
    lig_ei = complete_graph(torch.zeros(n_lig, dtype=torch.long), 1)
    # the ligand pairs keep their bond inputs (looked up by atom pair)
    lut = {(int(a), int(b)): k for k, (a, b) in enumerate(lig_ei.T)}
    for k in torch.nonzero(lig_edges).flatten().tolist():
        bonds[k] = lig.e_bond[lut[(int(ei[0, k]), int(ei[1, k]))]]
    return DenoiserInput(pos=pos, h_type=types, h_charge=charges, edge_index=ei, e_bond=bonds, t=lig.t,
                         batch=batch, num_graphs=1, context_mask=torch.arange(n) >= n_lig, node_attr=attr)


def test_gated_pocket_network_from_prior_is_the_prior_with_pocket_atoms_in_reach(tmp_path):
    """model.context_gate: with the pocket in reach, step 0 is still the prior's function on the ligand;
    without the gates the pocket messages enter the ligand atoms' mean at once."""
    prior, path = _model_file(tmp_path, DRUG_HEAVY)
    gated = _pocket_net(DRUG_HEAVY, {**TINY, "context_gate": True})
    plain = _pocket_net(DRUG_HEAVY)
    info = warm_start(gated, path)
    warm_start(plain, path)
    assert info["new_gates"] == 2 * TINY["num_layers"] and info["copied"] == len(prior.state_dict())
    attr_dim = gated.net.node_attr_dim
    both = _ligand_and_pocket_input(DRUG_HEAVY, attr_dim)
    n_lig = 7
    assert bool(gated.edge_mask(both).all())  # every pocket atom is within the radius
    want = prior(replace(_ligand_input(DRUG_HEAVY, attr_dim, n_lig), node_attr=None))
    got, other = gated(both), plain(both)
    torch.testing.assert_close(got.pos[:n_lig], want.pos, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.type_logits[:n_lig], want.type_logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.charge_logits[:n_lig], want.charge_logits, rtol=0, atol=1e-5)
    assert (other.pos[:n_lig] - want.pos).abs().max() > 1e-3  # the plain mean has changed the function
    # the gates are trainable from zero: a loss on the ligand gives them a gradient
    got.pos[:n_lig].square().sum().backward()
    grads = [p.grad for n, p in gated.named_parameters() if n.endswith("gate_x")]
    assert grads and all(g is not None and float(g.abs().sum()) > 0 for g in grads)


def test_attention_network_from_a_prior_without_attention_is_the_prior(tmp_path):
    """model.attention: a prior trained with plain means warm-starts into the attention network (its
    logits left at zero), which computes the prior's function, unconditionally and as a gated pocket
    network on the ligand with pocket atoms in reach; the logits then get gradients."""
    prior, path = _model_file(tmp_path, DRUG_HEAVY)
    torch.manual_seed(1)
    cfg = {"model": {**TINY, "attention": True}, "process": FLOW, "data": {"context": "none"}, "train": {}}
    att, _ = build_components(cfg, DRUG_HEAVY)
    before = att(_ligand_input(DRUG_HEAVY, 0)).pos
    info = warm_start(att, path)
    assert info["new_attention"] == 2 * TINY["num_layers"] and info["copied"] == len(prior.state_dict())
    inp = replace(_ligand_input(DRUG_HEAVY, 0), node_attr=None)
    got, want = att(inp), prior(inp)
    assert not torch.allclose(before, want.pos)
    for a, b in zip((got.pos, got.type_logits, got.charge_logits, got.bond_logits),
                    (want.pos, want.type_logits, want.charge_logits, want.bond_logits), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    got.pos.square().sum().backward()
    grads = [p.grad for n, p in att.named_parameters() if n.endswith("attn_logit.weight")]
    assert grads and all(g is not None and float(g.abs().sum()) > 0 for g in grads)

    pocket = _pocket_net(DRUG_HEAVY, {**TINY, "context_gate": True, "attention": True})
    info = warm_start(pocket, path)
    assert info["new_attention"] == 2 * TINY["num_layers"] and info["new_gates"] == 2 * TINY["num_layers"]
    n_lig = 7
    out = pocket(_ligand_and_pocket_input(DRUG_HEAVY, pocket.net.node_attr_dim, n_lig))
    torch.testing.assert_close(out.pos[:n_lig], want.pos, rtol=0, atol=1e-5)
    torch.testing.assert_close(out.type_logits[:n_lig], want.type_logits, rtol=0, atol=1e-5)


def test_self_conditioned_pocket_network_from_a_prior_without_it_is_the_prior(tmp_path):
    """train.self_condition: the warm-started network gets zero self-conditioning columns (atom embedding,
    edge embedding, every layer's static edge features), so it computes the source's function with no
    previous prediction and with any previous prediction; those columns then get gradients."""
    from molgen.models import DenoiserOutput

    prior, path = _model_file(tmp_path, DRUG_HEAVY)
    torch.manual_seed(1)
    cfg = {"model": {**TINY, "pocket_radius": 5.0}, "process": FLOW, "data": {"context": "pocket"},
           "train": {"self_condition": True}}
    pocket, _ = build_components(cfg, DRUG_HEAVY)
    assert pocket.net.self_condition
    info = warm_start(pocket, path)
    # embed, embed_edge and msg_e + edge_e of each layer
    assert info["self_condition_widened"] == 2 + 2 * TINY["num_layers"]
    assert info["new_columns"] == pocket.net.node_attr_dim
    inp = _ligand_input(DRUG_HEAVY, pocket.net.node_attr_dim)
    want = prior(replace(inp, node_attr=None))
    g = torch.Generator().manual_seed(5)
    n, e = inp.pos.shape[0], inp.edge_index.shape[1]
    previous = DenoiserOutput(torch.randn(n, 3, generator=g), torch.randn(n, DRUG_HEAVY.num_types, generator=g),
                              torch.randn(n, DRUG_HEAVY.num_charges, generator=g),
                              torch.randn(e, NUM_BOND_TYPES, generator=g))
    for sc in (None, previous):
        got = pocket(replace(inp, self_cond=sc))
        for a, b in zip((got.pos, got.type_logits, got.charge_logits, got.bond_logits),
                        (want.pos, want.type_logits, want.charge_logits, want.bond_logits), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    got.pos.square().sum().backward()
    w = pocket.net.embed[0].weight
    hidden = w.shape[0]
    sc_cols = w.grad[:, w.shape[1] - hidden - DRUG_HEAVY.num_types - DRUG_HEAVY.num_charges:w.shape[1] - hidden]
    assert float(sc_cols.abs().sum()) > 0
    layer = pocket.net.layers[0]
    assert float(layer.msg_e.weight.grad[:, -TINY["num_rbf"]:].abs().sum()) > 0
