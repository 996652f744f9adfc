"""Graph construction in plain torch (no pyg-lib / torch-cluster needed).

Convention for complete graphs: ``pairs [2, U]`` lists every pair i < j inside each graph (graphs
in batch order, i ascending, then j ascending); the directed ``edge_index [2, 2U]`` is
``cat([pairs, pairs.flip(0)], 1)``, so edge e and edge e + U are the two directions of one pair.

Radius and kNN graphs (for pockets and large systems) are built graph by graph in padded blocks, so
memory grows with the size of the largest graph, not the batch; ``torch_cluster`` is used when
installed. Edges never cross graphs. :func:`reverse_edges` finds the partner direction of each edge.
"""

from __future__ import annotations

import torch
from torch import Tensor


def complete_pairs(batch: Tensor, num_graphs: int | None = None) -> Tensor:
    """All pairs i < j that share a graph.

    Args:
        batch: [N] long, graph index per atom, sorted ascending (PyG flat batching).
        num_graphs: B; inferred from ``batch`` when None.

    Returns:
        pairs: [2, U] long with U = Σ_b n_b (n_b − 1) / 2.
    """
    n = batch.numel()
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=batch.device)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1
    counts = torch.bincount(batch, minlength=num_graphs)
    ends = torch.cumsum(counts, 0)  # exclusive end of each graph
    idx = torch.arange(n, device=batch.device)
    partners = ends[batch] - idx - 1  # atoms after i in its graph
    src = torch.repeat_interleave(idx, partners)
    starts = torch.cumsum(partners, 0) - partners
    offset = torch.arange(src.numel(), device=batch.device) - torch.repeat_interleave(starts, partners)
    dst = src + 1 + offset
    return torch.stack([src, dst])


def complete_graph(batch: Tensor, num_graphs: int | None = None) -> Tensor:
    """Directed complete graph ``[2, 2U]``: the pairs of :func:`complete_pairs`, then reversed."""
    pairs = complete_pairs(batch, num_graphs)
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def pair_key(i: Tensor, j: Tensor, num_nodes: int) -> Tensor:
    """Order-independent integer key of the unordered pair {i, j} (for lookups by searchsorted)."""
    return torch.minimum(i, j) * num_nodes + torch.maximum(i, j)


def reverse_edges(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Index of the reverse edge of every directed edge.

    Args:
        edge_index: [2, E] long, directed edges (source, target).
        num_nodes: N.

    Returns:
        rev: [E] long; ``edge_index[:, rev[e]]`` is ``edge_index[:, e]`` flipped, or -1 where the
        graph lacks the reverse edge (e.g. a truncated radius graph).
    """
    if edge_index.shape[1] == 0:
        return torch.zeros(0, dtype=torch.long, device=edge_index.device)
    src, dst = edge_index
    key = src * num_nodes + dst
    order = torch.argsort(key)
    sorted_key = key[order]
    want = dst * num_nodes + src
    pos = torch.searchsorted(sorted_key, want).clamp_max(key.numel() - 1)
    found = sorted_key[pos] == want
    return torch.where(found, order[pos], torch.full_like(pos, -1))


def _graph_chunks(batch: Tensor, budget: int) -> list[tuple[int, int, int, int]]:
    """Split consecutive graphs into chunks of at most ``budget`` padded atom pairs.

    Returns:
        (first graph, last graph + 1, first atom, last atom + 1) per chunk.
    """
    counts = torch.bincount(batch).tolist()
    chunks, g0, a0, atom, width = [], 0, 0, 0, 0
    for g, n in enumerate(counts):
        new_width = max(width, n)
        if g > g0 and (g + 1 - g0) * new_width**2 > budget:
            chunks.append((g0, g, a0, atom))
            g0, a0, new_width = g, atom, n
        width = new_width
        atom += n
    if counts:
        chunks.append((g0, len(counts), a0, atom))
    return chunks


def _dense_sq_dist(pos: Tensor, batch: Tensor, g0: int, g1: int, a0: int, a1: int) -> tuple[Tensor, Tensor]:
    """Squared distances inside each graph of one chunk, padded.

    Returns:
        d2: [G, M, M] float, Å², +inf between padding entries and across graphs;
        atom: [G, M] long, flat atom index of each slot (-1 for padding).
    """
    from torch_geometric.utils import to_dense_batch

    b = batch[a0:a1] - g0
    dense, mask = to_dense_batch(pos[a0:a1], b, batch_size=g1 - g0)
    diff = dense[:, :, None, :] - dense[:, None, :, :]
    d2 = (diff * diff).sum(-1)  # exact per pair, unlike the matmul shortcut in cdist
    valid = mask[:, :, None] & mask[:, None, :]
    d2 = d2.masked_fill(~valid, float("inf"))
    idx = torch.arange(a0, a1, device=pos.device)
    atom, _ = to_dense_batch(idx, b, fill_value=-1, batch_size=g1 - g0)
    return d2, atom


def _sorted_edges(src: Tensor, dst: Tensor, num_nodes: int) -> Tensor:
    key = torch.sort(src * num_nodes + dst).values
    return torch.stack([key // num_nodes, key % num_nodes])


_PAIR_BUDGET = 1 << 22  # padded pairs per chunk: ~16 M floats of distances + 3x for differences


def _radius_graph_torch(
    pos: Tensor, r: float, batch: Tensor, max_num_neighbors: int = 64, loop: bool = False
) -> Tensor:
    n = pos.shape[0]
    srcs, dsts = [], []
    for g0, g1, a0, a1 in _graph_chunks(batch, _PAIR_BUDGET):
        d2, atom = _dense_sq_dist(pos, batch, g0, g1, a0, a1)
        m = d2.shape[-1]
        if not loop:
            d2 = d2.masked_fill(torch.eye(m, dtype=torch.bool, device=pos.device), float("inf"))
        k = min(max_num_neighbors, m)
        # keep the k nearest neighbours of every target atom, then those within r
        d2k, jk = torch.topk(d2, k, dim=-1, largest=False)
        keep = d2k < r * r
        gi, i, slot = keep.nonzero(as_tuple=True)
        dsts.append(atom[gi, i])
        srcs.append(atom[gi, jk[gi, i, slot]])
    if not srcs:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    return _sorted_edges(torch.cat(srcs), torch.cat(dsts), n)


def _knn_graph_torch(
    pos: Tensor, k: int, batch: Tensor, loop: bool = False, symmetric: bool = True
) -> Tensor:
    n = pos.shape[0]
    srcs, dsts = [], []
    for g0, g1, a0, a1 in _graph_chunks(batch, _PAIR_BUDGET):
        d2, atom = _dense_sq_dist(pos, batch, g0, g1, a0, a1)
        m = d2.shape[-1]
        if not loop:
            d2 = d2.masked_fill(torch.eye(m, dtype=torch.bool, device=pos.device), float("inf"))
        d2k, jk = torch.topk(d2, min(k, m), dim=-1, largest=False)
        keep = torch.isfinite(d2k) & (atom[:, :, None] >= 0)
        gi, i, slot = keep.nonzero(as_tuple=True)
        dsts.append(atom[gi, i])
        srcs.append(atom[gi, jk[gi, i, slot]])
    if not srcs:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    src, dst = torch.cat(srcs), torch.cat(dsts)
    if symmetric:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
        key = torch.unique(src * n + dst)
        return torch.stack([key // n, key % n])
    return _sorted_edges(src, dst, n)


try:  # optional compiled backend; the plain-torch path below is the reference
    import torch_cluster as _torch_cluster
except ImportError:  # pragma: no cover - depends on the install
    _torch_cluster = None


def radius_graph(
    pos: Tensor, r: float, batch: Tensor, max_num_neighbors: int = 64, loop: bool = False
) -> Tensor:
    """Directed edges between atoms of the same graph closer than ``r``.

    Distances are computed graph by graph in padded blocks (memory grows with the square of the
    largest graph in a block, never with the square of the whole batch). Uses ``torch_cluster``
    when it is installed.

    Args:
        pos: [N, 3] float, Å.
        r: cutoff, Å; pairs with distance < r are joined.
        batch: [N] long, graph index per atom, sorted ascending.
        max_num_neighbors: at most this many sources per target atom; the plain-torch path keeps
            the nearest ones (torch_cluster's choice may differ). When no atom has more neighbours
            than this, every edge is present in both directions.
        loop: include self-loops (i, i).

    Returns:
        edge_index: [2, E] long, (source, target), sorted by source then target.
    """
    if pos.shape[0] == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    if _torch_cluster is not None:
        ei = _torch_cluster.radius_graph(pos, r, batch, loop=loop, max_num_neighbors=max_num_neighbors)
        return _sorted_edges(ei[0], ei[1], pos.shape[0])
    return _radius_graph_torch(pos, r, batch, max_num_neighbors, loop)


def knn_graph(pos: Tensor, k: int, batch: Tensor, loop: bool = False, symmetric: bool = True) -> Tensor:
    """Edges from each atom's ``k`` nearest atoms of the same graph.

    Args:
        pos: [N, 3] float, Å.
        k: neighbours per target atom (fewer in graphs with at most k atoms).
        batch: [N] long, graph index per atom, sorted ascending.
        loop: count the atom itself as one of its neighbours.
        symmetric: also add the reverse of every edge (the union of both kNN relations), so that
            both directions of every pair are present, as the denoisers expect.

    Returns:
        edge_index: [2, E] long, (source = neighbour, target = centre), sorted by source then target.
    """
    if pos.shape[0] == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    if _torch_cluster is not None:
        n = pos.shape[0]
        src, dst = _torch_cluster.knn_graph(pos, k, batch, loop=loop)
        if symmetric:
            key = torch.unique(torch.cat([src * n + dst, dst * n + src]))
            return torch.stack([key // n, key % n])
        return _sorted_edges(src, dst, n)
    return _knn_graph_torch(pos, k, batch, loop, symmetric)
