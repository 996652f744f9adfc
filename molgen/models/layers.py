"""Pieces shared by the denoisers: time embedding, radial bases, MLPs, symmetric pair features.

Everything here is invariant: it sees times, distances and scalar features, never raw coordinates.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import Tensor, nn

from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.models.graphs import reverse_edges


def mlp(
    dim_in: int, dim_hidden: int, dim_out: int, num_layers: int = 2, act_last: bool = False
) -> nn.Sequential:
    """``num_layers`` Linear layers with SiLU between them (and after the last if ``act_last``)."""
    dims = [dim_in] + [dim_hidden] * (num_layers - 1) + [dim_out]
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if k < num_layers - 1 or act_last:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t ∈ [0, 1] followed by an MLP.

    Args:
        dim: output size.
        num_freqs: sinusoid frequencies, geometric from 1 to 1000 rad per unit time.
    """

    def __init__(self, dim: int, num_freqs: int = 16) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(1000.0), num_freqs)))
        self.net = mlp(2 * num_freqs, dim, dim)

    def forward(self, t: Tensor) -> Tensor:
        """t: [B] float in [0, 1] -> [B, dim]."""
        arg = t[:, None].to(self.freqs.dtype) * self.freqs
        return self.net(torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1))


#: Exponent beyond which a Gaussian basis value is set to exactly 0: exp(-69) ≈ 1e-30, far above float32's
#: smallest normal number (1.2e-38). Without it 4.6 % of the entries of a QM9 batch are subnormal, and the
#: weight-gradient matmuls that read them ran at 1.9 GFLOP/s instead of 82 on this project's CPU.
RBF_ZERO_EXPONENT = 69.0


class GaussianRBF(nn.Module):
    """Gaussian radial basis on [0, r_max] Å with equally spaced centres.

    Values below exp(-:data:`RBF_ZERO_EXPONENT`) are exactly 0 (never subnormal floats, which CPUs
    compute with slowly); the change to any value is below 1e-30.

    Args:
        num: number of basis functions.
        r_max: last centre, Å.
    """

    def __init__(self, num: int = 16, r_max: float = 10.0) -> None:
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, r_max, num))
        self.gamma = 1.0 / (r_max / (num - 1)) ** 2

    def forward(self, d: Tensor) -> Tensor:
        """d: [E] float, Å -> [E, num]."""
        arg = self.gamma * (d[:, None] - self.centres) ** 2
        far = arg > RBF_ZERO_EXPONENT
        # exp of the clamped argument keeps the backward pass free of subnormals too
        return torch.exp(-arg.clamp(max=RBF_ZERO_EXPONENT)).masked_fill(far, 0.0)


def cosine_cutoff(d: Tensor, cutoff: float | None) -> Tensor:
    """Smooth envelope, 1 at d = 0 and 0 from d = cutoff on (all ones when cutoff is None).

    Multiplying messages by it keeps a radius-graph network continuous as atoms cross the cutoff.
    d: [E] float, Å -> [E, 1].
    """
    if cutoff is None:
        return torch.ones_like(d)[:, None]
    return (0.5 * (torch.cos(math.pi * d / cutoff) + 1.0) * (d < cutoff))[:, None]


def edge_vectors(pos: Tensor, edge_index: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor]:
    """Target-minus-source vectors and their lengths, with a gradient-safe norm.

    Args:
        pos: [N, 3] float, Å.
        edge_index: [2, E] long (source, target).
        eps: added under the square root so that coincident atoms give finite gradients, Å².

    Returns:
        vec: [E, 3] float, Å (x_target − x_source); dist: [E] float, Å.
    """
    vec = pos.index_select(0, edge_index[1]) - pos.index_select(0, edge_index[0])  # index_select: faster gathers
    return vec, torch.sqrt((vec * vec).sum(-1) + eps)


class SymmetricPair(nn.Module):
    """Order-free pair features of two atoms: P h_i + P h_j and (Q h_i) ⊙ (Q h_j).

    Both terms are computed per atom, then gathered, so a pair costs two gathers and an add/multiply.

    Args:
        dim_in: atom feature size.
        dim_out: pair feature size (the two terms are summed).
    """

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.p = nn.Linear(dim_in, dim_out)
        self.q = nn.Linear(dim_in, dim_out, bias=False)

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        """h: [N, dim_in], edge_index: [2, E] -> [E, dim_out], the same for (i, j) and (j, i)."""
        p, q = self.p(h), self.q(h)
        i, j = edge_index
        pi, pj, qi, qj = p.index_select(0, i), p.index_select(0, j), q.index_select(0, i), q.index_select(0, j)
        return (pi + pj) + qi * qj


def symmetrize_edges(x: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """Average every edge's row with the row of its reverse edge.

    Makes (i, j) and (j, i) identical bit for bit whatever rounding the matrix products did;
    edges without a reverse keep their own row.

    Args:
        x: [E, F] per-edge values.
        edge_index: [2, E] long.
        num_nodes: N.
    """
    rev = reverse_edges(edge_index, num_nodes)
    has = rev >= 0
    other = x[rev.clamp_min(0)]
    return torch.where(has[:, None], 0.5 * (x + other), x)


def node_inputs(
    inp: DenoiserInput, node_attr_dim: int, self_condition: bool, num_types: int, num_charges: int
) -> Tensor:
    """Invariant per-atom input features: states, node attributes, context flag, self-conditioning.

    Returns:
        [N, (T + 1) + (C + 1) + F + 1 (+ T + C when self-conditioning)] float.
    """
    n, ref = inp.pos.shape[0], inp.pos
    parts = [inp.h_type.to(ref.dtype), inp.h_charge.to(ref.dtype)]
    if node_attr_dim:
        parts.append(
            inp.node_attr.to(ref.dtype) if inp.node_attr is not None else ref.new_zeros(n, node_attr_dim)
        )
    elif inp.node_attr is not None and inp.node_attr.shape[-1] > 0:
        raise ValueError("node_attr given to a denoiser built with node_attr_dim=0")
    ctx = inp.context_mask
    parts.append(ref.new_zeros(n, 1) if ctx is None else ctx.to(ref.dtype)[:, None])
    if self_condition:
        sc = inp.self_cond
        if sc is None:
            parts.append(ref.new_zeros(n, num_types + num_charges))
        else:
            parts += [sc.type_logits.softmax(-1), sc.charge_logits.softmax(-1)]
    elif inp.self_cond is not None:
        raise ValueError("self_cond given to a denoiser built with self_condition=False")
    return torch.cat(parts, dim=-1)


def edge_inputs(inp: DenoiserInput, self_condition: bool, rbf: GaussianRBF, num_bond_types: int) -> Tensor:
    """Invariant per-edge input features: bond state, and with self-conditioning the softmaxed
    previous bond logits and the RBF of the previous prediction's distances.

    Returns:
        [E, (K + 1) (+ K + num_rbf when self-conditioning)] float.
    """
    ref = inp.pos
    parts = [inp.e_bond.to(ref.dtype)]
    if self_condition:
        e = inp.edge_index.shape[1]
        sc: DenoiserOutput | None = inp.self_cond
        if sc is None:
            parts.append(ref.new_zeros(e, num_bond_types + rbf.centres.numel()))
        else:
            _, d_sc = edge_vectors(sc.pos, inp.edge_index)
            parts += [sc.bond_logits.softmax(-1), rbf(d_sc)]
    return torch.cat(parts, dim=-1)
