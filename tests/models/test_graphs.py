"""Graph builders against brute-force numpy (and torch_cluster when it is installed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molgen.models import graphs
from molgen.models.graphs import (
    _graph_chunks,
    _knn_graph_torch,
    _radius_graph_torch,
    complete_graph,
    knn_graph,
    radius_graph,
    reverse_edges,
)


def random_batch(sizes: list[int], seed: int, box: float = 6.0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return torch.rand(batch.numel(), 3, generator=gen, dtype=torch.float64) * box, batch


def brute_neighbours(pos: np.ndarray, batch: np.ndarray, loop: bool) -> list[list[tuple[float, int]]]:
    """For every target i: sorted (distance, source j) over atoms of its graph."""
    out = []
    for i in range(len(pos)):
        cand = [
            (float(np.sqrt(((pos[i] - pos[j]) ** 2).sum())), j)
            for j in range(len(pos))
            if batch[j] == batch[i] and (loop or j != i)
        ]
        out.append(sorted(cand))
    return out


def as_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.t().tolist()))


def brute_radius(pos, batch, r, max_nb=10**9, loop=False) -> set[tuple[int, int]]:
    nb = brute_neighbours(pos.numpy(), batch.numpy(), loop)
    return {(j, i) for i, cand in enumerate(nb) for d, j in cand[:max_nb] if d < r}


def brute_knn(pos, batch, k, loop=False) -> set[tuple[int, int]]:
    nb = brute_neighbours(pos.numpy(), batch.numpy(), loop)
    return {(j, i) for i, cand in enumerate(nb) for _, j in cand[:k]}


SIZES = [7, 1, 30, 12, 2]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loop", [False, True])
def test_radius_graph_matches_brute_force(seed, loop):
    pos, batch = random_batch(SIZES, seed)
    ei = _radius_graph_torch(pos, 2.5, batch, loop=loop)
    expected = brute_radius(pos, batch, 2.5, loop=loop)
    assert as_set(ei) == expected and ei.shape[1] == len(expected) > 50
    key = ei[0] * pos.shape[0] + ei[1]
    assert torch.equal(key, torch.sort(key).values)  # sorted by source, then target
    assert as_set(ei.flip(0)) == as_set(ei)  # both directions


def test_radius_graph_max_num_neighbors_keeps_nearest():
    pos, batch = random_batch(SIZES, 5)
    ei = _radius_graph_torch(pos, 4.0, batch, max_num_neighbors=3)
    assert as_set(ei) == brute_radius(pos, batch, 4.0, max_nb=3)
    assert torch.bincount(ei[1], minlength=pos.shape[0]).max() == 3


@pytest.mark.parametrize("seed", [0, 3])
def test_knn_graph_matches_brute_force(seed):
    pos, batch = random_batch(SIZES, seed)
    directed = _knn_graph_torch(pos, 4, batch, symmetric=False)
    expected = brute_knn(pos, batch, 4)
    assert as_set(directed) == expected and directed.shape[1] == len(expected)
    # every atom of a graph with more than 4 atoms has exactly 4 sources
    indeg = torch.bincount(directed[1], minlength=pos.shape[0])
    sizes = torch.bincount(batch)[batch]
    assert torch.equal(indeg, torch.clamp(sizes - 1, max=4))
    sym = _knn_graph_torch(pos, 4, batch)
    assert as_set(sym) == expected | {(i, j) for j, i in expected}
    assert as_set(_knn_graph_torch(pos, 4, batch, loop=True, symmetric=False)) == brute_knn(
        pos, batch, 4, loop=True
    )


def test_no_cross_graph_edges_between_overlapping_graphs():
    pos, _ = random_batch([10], 7)
    pos = torch.cat([pos, pos])  # two graphs on top of each other
    batch = torch.repeat_interleave(torch.arange(2), 10)
    for ei in (_radius_graph_torch(pos, 100.0, batch), _knn_graph_torch(pos, 20, batch)):
        assert torch.equal(batch[ei[0]], batch[ei[1]])
        assert ei.shape[1] == 2 * 10 * 9  # complete inside each graph, nothing across


def test_chunking_gives_the_same_edges(monkeypatch):
    pos, batch = random_batch([5, 9, 3, 14, 8, 1, 6], 11)
    full_r, full_k = _radius_graph_torch(pos, 3.0, batch), _knn_graph_torch(pos, 3, batch)
    monkeypatch.setattr(graphs, "_PAIR_BUDGET", 150)
    chunks = _graph_chunks(batch, 150)
    assert len(chunks) > 3
    counts = torch.bincount(batch).tolist()
    for g0, g1, a0, a1 in chunks:
        width = max(counts[g0:g1])
        assert (g1 - g0) * width**2 <= 150 or g1 - g0 == 1
        assert a1 - a0 == sum(counts[g0:g1])
    assert torch.equal(_radius_graph_torch(pos, 3.0, batch), full_r)
    assert torch.equal(_knn_graph_torch(pos, 3, batch), full_k)


def test_empty_and_missing_graph_ids():
    empty = torch.zeros(0, 3)
    assert radius_graph(empty, 1.0, torch.zeros(0, dtype=torch.long)).shape == (2, 0)
    assert knn_graph(empty, 3, torch.zeros(0, dtype=torch.long)).shape == (2, 0)
    pos, _ = random_batch([4, 3], 2)
    batch = torch.tensor([0, 0, 0, 0, 2, 2, 2])  # graph 1 has no atoms
    assert as_set(_radius_graph_torch(pos, 100.0, batch)) == brute_radius(pos, batch, 100.0)


def test_reverse_edges():
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    ei = complete_graph(batch)
    u = ei.shape[1] // 2
    rev = reverse_edges(ei, 7)
    assert torch.equal(rev, torch.cat([torch.arange(u, 2 * u), torch.arange(u)]))
    one_way = torch.tensor([[0, 1, 2], [1, 0, 0]])
    assert reverse_edges(one_way, 3).tolist() == [1, 0, -1]
    assert reverse_edges(torch.zeros(2, 0, dtype=torch.long), 3).numel() == 0


def test_public_builders_agree_with_plain_torch():
    pos, batch = random_batch(SIZES, 4)
    assert as_set(radius_graph(pos, 2.5, batch)) == as_set(_radius_graph_torch(pos, 2.5, batch))
    assert as_set(knn_graph(pos, 4, batch)) == as_set(_knn_graph_torch(pos, 4, batch))


def test_torch_cluster_agrees():
    tc = pytest.importorskip("torch_cluster")
    pos, batch = random_batch(SIZES, 6)
    assert as_set(tc.radius_graph(pos, 2.5, batch, max_num_neighbors=1000)) == as_set(
        _radius_graph_torch(pos, 2.5, batch)
    )
    assert as_set(tc.knn_graph(pos, 4, batch)) == as_set(_knn_graph_torch(pos, 4, batch, symmetric=False))
