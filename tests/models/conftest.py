"""Fixtures for the denoiser tests: a tiny denoiser factory and mixed batches of random molecules.

A random system is described atom by atom plus a symmetric [N, N] matrix of bond states, so the
same system can be cut into graphs, permuted or given any edge set (complete or radius) and the
edge states always follow the atoms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
import torch
from torch import Tensor

from molgen.models import DenoiserInput, build_model
from molgen.models.graphs import complete_graph

T, C, K, F = 5, 3, 5, 2  # QM9-like vocabulary sizes, 2 extra atom attributes

TINY = {
    "egnn": {"hidden": 16, "edge_dim": 8, "num_layers": 2, "num_rbf": 8},
    "e3nn": {
        "irreps_hidden": "8x0e + 3x1o + 2x1e + 1x2e",
        "num_layers": 2,
        "lmax": 2,
        "edge_dim": 8,
        "num_rbf": 8,
        "radial_hidden": 16,
        "head_hidden": 16,
    },
}


@dataclass
class System:
    """Random molecules in flat batching.

    Attributes:
        pos: [N, 3] float, Å.  atom: [N] long in 0..T (T = masked).  charge: [N] long in 0..C.
        node_attr: [N, F] float.  bonds: [N, N] long in 0..K, symmetric.  batch: [N] long.
        t: [B] float.
    """

    pos: Tensor
    atom: Tensor
    charge: Tensor
    node_attr: Tensor
    bonds: Tensor
    batch: Tensor
    t: Tensor

    @property
    def num_graphs(self) -> int:
        return self.t.numel()

    def to_input(self, edge_index: Tensor | None = None, **extra) -> DenoiserInput:
        """Denoiser input on ``edge_index`` (the complete graph when None)."""
        ei = complete_graph(self.batch, self.num_graphs) if edge_index is None else edge_index
        dt = self.pos.dtype
        return DenoiserInput(
            pos=self.pos,
            h_type=torch.nn.functional.one_hot(self.atom, T + 1).to(dt),
            h_charge=torch.nn.functional.one_hot(self.charge, C + 1).to(dt),
            edge_index=ei,
            e_bond=torch.nn.functional.one_hot(self.bonds[ei[0], ei[1]], K + 1).to(dt),
            t=self.t,
            batch=self.batch,
            num_graphs=self.num_graphs,
            node_attr=self.node_attr,
            **extra,
        )

    def permuted(self, perm: Tensor) -> System:
        """The same molecules with atom ``k`` of the result being atom ``perm[k]`` of this one."""
        return replace(
            self,
            pos=self.pos[perm],
            atom=self.atom[perm],
            charge=self.charge[perm],
            node_attr=self.node_attr[perm],
            bonds=self.bonds[perm][:, perm],
            batch=self.batch[perm],
        )

    def graph(self, g: int) -> System:
        """Graph ``g`` alone, as a batch of one."""
        sel = (self.batch == g).nonzero().flatten()
        sub = self.permuted(sel)
        return replace(sub, batch=torch.zeros_like(sel), t=self.t[g : g + 1])


def make_system(sizes: tuple[int, ...], seed: int, box: float = 3.0) -> System:
    """Random molecules of the given sizes, coordinates uniform in a cube of side ``box`` Å."""
    gen = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    dt = torch.get_default_dtype()
    bonds = torch.randint(0, K + 1, (n, n), generator=gen)
    bonds = torch.triu(bonds, 1)
    return System(
        pos=torch.rand(n, 3, generator=gen, dtype=dt) * box,
        atom=torch.randint(0, T + 1, (n,), generator=gen),
        charge=torch.randint(0, C + 1, (n,), generator=gen),
        node_attr=torch.randn(n, F, generator=gen, dtype=dt),
        bonds=bonds + bonds.T,
        batch=torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)),
        t=torch.rand(len(sizes), generator=gen, dtype=dt),
    )


def edge_dense(edge_index: Tensor, values: Tensor, num_nodes: int) -> Tensor:
    """Per-edge values scattered into [N, N, K] (NaN where there is no edge), for order-free comparison."""
    out = values.new_full((num_nodes, num_nodes, values.shape[-1]), float("nan"))
    out[edge_index[0], edge_index[1]] = values
    return out


@pytest.fixture
def float64() -> Iterator[None]:
    """Run the test in float64 (restores the previous default dtype)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


_MODEL_CACHE: dict[tuple, torch.nn.Module] = {}


@pytest.fixture
def tiny_denoiser(float64) -> Callable[..., torch.nn.Module]:
    """Factory ``(name, seed=0, **overrides) -> model``: a small float64 denoiser in eval mode.

    Models are built once per session (e3nn compiles its tensor products) and handed out with
    their gradients cleared; tests must not change their parameters.
    """

    def make(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
        key = (name, seed, tuple(sorted(overrides.items())))
        if key not in _MODEL_CACHE:
            torch.manual_seed(seed)
            kw = {**TINY[name], **overrides}
            model = build_model(name, num_types=T, num_charges=C, num_bond_types=K, node_attr_dim=F, **kw)
            _MODEL_CACHE[key] = model.double().eval()
        model = _MODEL_CACHE[key]
        model.zero_grad(set_to_none=True)
        return model

    return make


@pytest.fixture
def mixed_batch(float64) -> System:
    """Four random molecules of different sizes (one a lone atom), per-graph times."""
    return make_system((6, 1, 9, 4), seed=123)


@pytest.fixture
def system_factory(float64) -> Callable[..., System]:
    """:func:`make_system` in float64: ``(sizes, seed, box=3.0) -> System``."""
    return make_system


@pytest.fixture
def dense_edges() -> Callable[[Tensor, Tensor, int], Tensor]:
    """:func:`edge_dense`: ``(edge_index, values, num_nodes) -> [N, N, K]`` with NaN off the graph."""
    return edge_dense
