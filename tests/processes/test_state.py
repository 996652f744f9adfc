"""MolState: dense bonds on pairs, centres, templates, and the way back to molecule graphs."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from molgen.models.graphs import complete_pairs
from molgen.processes.state import MolState
from tests.processes.process_oracles import mixed_batch


def test_from_batch_dense_bonds_match_sparse_bonds():
    batch = mixed_batch()
    state = MolState.from_batch(batch)
    assert state.num_graphs == 4
    assert torch.equal(state.pairs, complete_pairs(batch.batch, 4))  # no context: every pair i < j
    expected = {}
    for (i, j), b in zip(batch.edge_index.t().tolist(), batch.bond_type.tolist()):
        expected[(min(i, j), max(i, j))] = b
    got = {(i, j): b for (i, j), b in zip(state.pairs.t().tolist(), state.bond.tolist())}
    assert {k: v for k, v in got.items() if v > 0} == expected
    assert sum(v == 0 for v in got.values()) == len(got) - len(expected)


def test_from_batch_default_center_is_per_graph_com():
    batch = mixed_batch()
    state = MolState.from_batch(batch)
    for g in range(4):
        assert torch.allclose(state.center[g], batch.pos[batch.batch == g].mean(0), atol=1e-12)


def test_context_pairs_dropped_and_context_bonds_zero():
    batch = mixed_batch(sizes=(4, 3))
    context = torch.tensor([False, False, True, True, False, True, True])
    fixed = torch.zeros(7, dtype=torch.bool)
    state = MolState.from_batch(batch, fixed=fixed, context=context)
    assert torch.equal(state.fixed, context)  # context atoms are always fixed
    both_ctx = context[state.pairs[0]] & context[state.pairs[1]]
    assert not both_ctx.any()
    # graph 0: 4 atoms, 6 pairs minus (2,3); graph 1: 3 atoms, 3 pairs minus (5,6)
    assert state.pairs.shape[1] == 5 + 2
    assert (state.bond[state.pair_context] == 0).all()
    # context centre: CoM of the context atoms of each graph
    assert torch.allclose(state.center[0], batch.pos[2:4].mean(0), atol=1e-12)
    assert torch.allclose(state.center[1], batch.pos[5:7].mean(0), atol=1e-12)
    # ligand–context pairs are kept and fixed; ligand–ligand pairs are free
    lig_ctx = context[state.pairs[0]] ^ context[state.pairs[1]]
    assert lig_ctx.sum() == 4 + 2 and state.pair_fixed[lig_ctx].all()
    assert not state.pair_fixed[~lig_ctx].any()


def test_to_graphs_roundtrip_drops_context():
    batch = mixed_batch(sizes=(3, 5))
    graphs = batch.to_data_list()
    context = torch.zeros(8, dtype=torch.bool)
    context[7] = True  # last atom of graph 1 becomes context
    state = MolState.from_batch(batch, context=context)
    out = state.to_graphs()
    assert [g.num_nodes for g in out] == [3, 4]
    assert torch.equal(out[0].atom_type, graphs[0].atom_type)
    assert torch.allclose(out[0].pos.double(), graphs[0].pos, atol=1e-6)

    def bonds(g: Data) -> set[tuple[int, int, int]]:
        return {
            (min(i, j), max(i, j), b) for (i, j), b in zip(g.edge_index.t().tolist(), g.bond_type.tolist())
        }

    assert bonds(out[0]) == bonds(graphs[0])
    # graph 1 lost its bond to atom 4 (local index 4, the context atom)
    assert bonds(out[1]) == {b for b in bonds(graphs[1]) if 4 not in b[:2]}
    e = out[1].edge_index
    m = e.shape[1] // 2
    assert torch.equal(e[:, :m], e[:, m:].flip(0)) and (e[0, :m] < e[1, :m]).all()


def test_template_with_fragment_and_context():
    frag = Data(
        pos=torch.tensor([[1.0, 0, 0], [2.0, 0, 0]]),
        atom_type=torch.tensor([1, 2]),
        charge=torch.tensor([0, 1]),
        edge_index=torch.tensor([[0, 1], [1, 0]]),
        bond_type=torch.tensor([2, 2]),
        num_nodes=2,
    )
    pocket = Data(
        pos=torch.tensor([[5.0, 5, 5], [7.0, 5, 5], [6.0, 8, 5]]),
        atom_type=torch.tensor([0, 1, 3]),
        charge=torch.tensor([1, 1, 1]),
        node_attr=torch.ones(3, 2),
        num_nodes=3,
    )
    tmpl = MolState.template([4, 2], 4, 3, fragment=frag, context=pocket, dtype=torch.float64)
    assert tmpl.num_atoms == 4 + 3 + 2 + 3
    g0 = tmpl.batch == 0
    assert tmpl.fixed[g0].tolist() == [True, True, False, False, True, True, True]
    assert tmpl.context[g0].tolist() == [False] * 4 + [True] * 3
    assert torch.allclose(tmpl.center, pocket.pos.double().mean(0).expand(2, 3))
    assert tmpl.node_attr.shape == (12, 2) and tmpl.node_attr[tmpl.context].eq(1).all()
    assert tmpl.node_attr[~tmpl.context].eq(0).all()
    # the fragment's bond is a fixed pair with class 2; fragment–free pairs are free
    key = {tuple(p): k for k, p in enumerate(tmpl.pairs.t().tolist())}
    assert tmpl.bond[key[(0, 1)]] == 2 and tmpl.pair_fixed[key[(0, 1)]]
    assert not tmpl.pair_fixed[key[(0, 2)]]
    out = tmpl.to_graphs()
    assert [g.num_nodes for g in out] == [4, 2]
    assert out[1].bond_type.tolist() == [2, 2]  # fragment-only graph keeps its bond


def test_template_unconditional_center_zero_and_checks():
    tmpl = MolState.template(torch.tensor([3, 1]), 4, 3)
    assert tmpl.center.abs().max() == 0 and not tmpl.fixed.any() and tmpl.pos.dtype == torch.float32
    frag = Data(
        pos=torch.zeros(2, 3),
        atom_type=torch.tensor([0, 9]),
        charge=torch.zeros(2, dtype=torch.long),
        edge_index=torch.zeros(2, 0, dtype=torch.long),
        bond_type=torch.zeros(0, dtype=torch.long),
    )
    try:
        MolState.template([3], 4, 3, fragment=frag)
    except ValueError as err:
        assert "atom type" in str(err)
    else:
        raise AssertionError("type index 9 with 4 types accepted")
    try:
        MolState.template([1], 4, 3, fragment=frag)
    except ValueError as err:
        assert "fragment has 2" in str(err)
    else:
        raise AssertionError("fragment larger than the molecule accepted")
