"""Equivariant optimal-transport alignment of prior samples onto data, per graph.

Equivariant flow matching (Klein et al. 2023, "Equivariant flow matching"; Song et al. 2023,
"EquiFM"): before interpolating, the prior sample x0 of each graph is moved inside its orbit under
atom permutations and rotations to lie close to the data x1, which shortens and straightens the
paths the network has to learn. Two moves, in this order, each one never increasing the cost
Σ_i |x0_i − x1_i|² (the identity is always a feasible choice):

1. permutation: linear assignment (``scipy.optimize.linear_sum_assignment``) of prior atoms to data
   atoms with cost |x1_i − x0_j|²;
2. rotation: Kabsch, the proper rotation R (det +1) minimising Σ_i |R x0_i − x1_i|² about the origin
   of the relative frame (the prior's centre, so the prior's centre of mass is untouched).

One pass, not the joint optimum over both groups. Only free atoms take part. Rotating a prior that
is isotropic about its centre leaves its law unchanged whatever the data; the permutation step does
too when the data's law is permutation-invariant, and otherwise changes the t = 0 marginal slightly,
as in the papers above.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor


def kabsch(a: Tensor, b: Tensor, batch: Tensor, num_graphs: int, mask: Tensor | None = None) -> Tensor:
    """Proper rotations R_g minimising Σ_{i in g} |R_g a_i − b_i|² about the origin.

    Args:
        a: [N, 3] float, points to rotate (relative frame).
        b: [N, 3] float, targets (same frame).
        batch: [N] long, graph index.
        num_graphs: B.
        mask: [N] bool, atoms that take part (all if None).

    Returns:
        R: [B, 3, 3] float with det +1 (identity for graphs without atoms).
    """
    w = torch.ones(a.shape[0], dtype=a.dtype, device=a.device) if mask is None else mask.to(a.dtype)
    outer = (a * w[:, None]).unsqueeze(-1) * b.unsqueeze(-2)  # a_i b_i^T, [N, 3, 3]
    h = torch.zeros(num_graphs, 3, 3, dtype=a.dtype, device=a.device).index_add_(0, batch, outer)
    u, _, vh = torch.linalg.svd(h)
    v = vh.transpose(-1, -2)
    d = torch.sign(torch.linalg.det(v @ u.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.ones(num_graphs, 3, dtype=a.dtype, device=a.device)
    diag[:, 2] = d
    return v @ torch.diag_embed(diag) @ u.transpose(-1, -2)  # R = V diag(1, 1, d) U^T maximises tr(R H)


def assignment(a: Tensor, b: Tensor, batch: Tensor, num_graphs: int, mask: Tensor | None = None) -> Tensor:
    """Per-graph permutation of ``a``'s atoms minimising Σ_i |a_perm(i) − b_i|².

    Args:
        a, b: [N, 3] float; batch: [N] long; num_graphs: B; mask: [N] bool atoms that take part.

    Returns:
        perm: [N] long, global atom indices, identity outside ``mask``; ``a[perm]`` is matched to ``b``.
    """
    n = a.shape[0]
    perm = torch.arange(n, device=a.device)
    mask = torch.ones(n, dtype=torch.bool, device=a.device) if mask is None else mask
    counts = torch.bincount(batch, minlength=num_graphs).tolist()
    a_cpu, b_cpu, m_cpu = a.detach().double().cpu(), b.detach().double().cpu(), mask.cpu()
    start = 0
    for c in counts:
        idx = torch.arange(start, start + c)[m_cpu[start : start + c]]
        start += c
        if idx.numel() < 2:
            continue
        cost = torch.cdist(b_cpu[idx], a_cpu[idx]).pow(2).numpy()
        rows, cols = linear_sum_assignment(cost)
        perm[idx[rows].to(a.device)] = idx[cols].to(a.device)
    return perm


def align_prior(
    x0: Tensor,
    x1: Tensor,
    batch: Tensor,
    num_graphs: int,
    mask: Tensor | None = None,
    permute: bool = True,
    rotate: bool = True,
) -> Tensor:
    """Prior sample moved within its permutation/rotation orbit towards the data, per graph.

    Args:
        x0: [N, 3] float, prior sample relative to the frame centre (zero outside ``mask``).
        x1: [N, 3] float, data relative to the same centre.
        batch: [N] long; num_graphs: B.
        mask: [N] bool, free atoms (others keep their x0).
        permute: do the assignment step.
        rotate: do the Kabsch step.

    Returns:
        [N, 3] aligned prior sample, with Σ|out − x1|² ≤ Σ|x0 − x1|² per graph.
    """
    out = x0
    if permute:
        out = out[assignment(out, x1, batch, num_graphs, mask)]
    if rotate:
        rot = kabsch(out, x1, batch, num_graphs, mask)
        rotated = torch.einsum("nij,nj->ni", rot[batch], out)
        out = rotated if mask is None else torch.where(mask[:, None], rotated, out)
    return out
