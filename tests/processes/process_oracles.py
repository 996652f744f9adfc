"""Exact (closed-form) denoisers and fixtures shared by the process tests.

A denoiser here is a plain callable DenoiserInput -> DenoiserOutput that knows the target
distribution and the process's schedule (the test may; the network may not).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.processes.base import GenerativeProcess


def com_projector(n: int) -> Tensor:
    """[3n, 3n] projector onto the zero-centre-of-mass subspace of n atoms (atom-major flattening)."""
    p = torch.eye(n, dtype=torch.float64) - 1.0 / n
    return torch.kron(p, torch.eye(3, dtype=torch.float64))


def random_gaussian_target(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """(mu [n, 3], cov [3n, 3n]), both inside the zero-CoM subspace; cov has full rank there."""
    g = torch.Generator().manual_seed(seed)
    p = com_projector(n)
    mu = (p @ (2 * torch.randn(3 * n, generator=g, dtype=torch.float64))).view(n, 3)
    a = torch.randn(3 * n, 3 * n, generator=g, dtype=torch.float64) / math.sqrt(3 * n)
    cov = p @ (a @ a.T + 0.3 * torch.eye(3 * n, dtype=torch.float64)) @ p
    return mu, cov


def random_marginals(rows: int, k: int, seed: int) -> Tensor:
    """[rows, k] random class distributions, every class at least 5 %."""
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(rows, k, generator=g, dtype=torch.float64) + 0.25
    return w / w.sum(-1, keepdim=True)


def class_posterior_logits(process: GenerativeProcess, field: str, h: Tensor, t: float, pi: Tensor) -> Tensor:
    """Exact log p(x1 | x_t) of an independent categorical target with per-item marginals ``pi [M, K]``.

    ``h [M, K + 1]`` is the network's view of the token (one-hot with mask column, or continuous).
    """
    k = pi.shape[-1]
    if process.continuous_classes:
        a, b = (float(v) for v in process.coefficients(torch.tensor(t, dtype=torch.float64)))
        # p(x_t | x1 = j) ∝ exp(-|x_t - a s e_j|^2 / 2b^2); the j-dependent part is a s x_t[j] / b^2
        return pi.log() + a * process.onehot_scale * h[:, :k].double() / max(b * b, 1e-300)
    cat = process.cat[field]
    cur = h.argmax(-1)
    kap = float(cat.kappa(t))
    if cat.mode == "masked":
        known = torch.nn.functional.one_hot(cur.clamp(max=k - 1), k).double()
        post = torch.where((cur == k)[:, None], pi, known)
    else:
        like = kap * torch.nn.functional.one_hot(cur, k).double() + (1 - kap) / k  # p(x_t = cur | x1 = j)
        post = pi * like
    return post.clamp(min=1e-300).log()


class GaussianOracle:
    """E[x1 | x_t] for x1 ~ N(mu, cov) in the zero-CoM subspace of n-atom graphs (centre 0), with
    independent categorical targets per atom slot (types, charges) and per pair slot (bonds).

    With x_t = a x1 + b ε, ε ~ N(0, P): E[x1 | x_t] = mu + a cov (a² cov + b² P)^+ (x_t − a mu).
    """

    def __init__(
        self,
        process: GenerativeProcess,
        mu: Tensor,
        cov: Tensor,
        pi_type: Tensor,
        pi_charge: Tensor,
        pi_bond: Tensor,
    ) -> None:
        self.process, self.mu, self.cov = process, mu, cov
        self.n = mu.shape[0]
        self.p = com_projector(self.n)
        self.pi = {"atom_type": pi_type, "charge": pi_charge, "bond": pi_bond}
        self.calls = 0

    def __call__(self, inp: DenoiserInput) -> DenoiserOutput:
        self.calls += 1
        t = float(inp.t[0])
        assert torch.all(inp.t == inp.t[0])
        a, b = (float(v) for v in self.process.coefficients(torch.tensor(t, dtype=torch.float64)))
        s = a * a * self.cov + b * b * self.p
        gain = a * self.cov @ torch.linalg.pinv(s, hermitian=True, rtol=1e-10)
        x = inp.pos.double().reshape(-1, 3 * self.n)
        mu = self.mu.reshape(-1)
        x_hat = mu + (x - a * mu) @ gain.T
        n_atoms, n_pairs = inp.pos.shape[0], inp.edge_index.shape[1] // 2
        slot = torch.arange(n_atoms) % self.n
        pair_slot = torch.arange(n_pairs) % self.pi["bond"].shape[0]
        lt = class_posterior_logits(self.process, "atom_type", inp.h_type, t, self.pi["atom_type"][slot])
        lc = class_posterior_logits(self.process, "charge", inp.h_charge, t, self.pi["charge"][slot])
        lb = class_posterior_logits(self.process, "bond", inp.e_bond[:n_pairs], t, self.pi["bond"][pair_slot])
        dt = inp.pos.dtype
        return DenoiserOutput(x_hat.reshape(-1, 3).to(dt), lt.to(dt), lc.to(dt), torch.cat([lb, lb]).to(dt))


class PermutationMixtureOracle:
    """E[x1 | x_t] for flow matching when x1 is uniform over the n! atom permutations of a fixed
    zero-CoM cloud ``c [n, 3]`` (a mixture of point masses), prior N(0, P).

    Independent coupling: w_π ∝ N(x_t; t πc, (1 − t)² P). Permutation-OT coupling (the prior is
    permuted to the assignment-optimal order before interpolating): the law of the aligned prior
    given πc is n! p0(y) 1[identity assignment is optimal between y and πc], so additionally
    w_π ∝ 1[identity optimal for y_π = (x_t − t πc) / (1 − t)]. Since the target is
    permutation-invariant the aligned prior's marginal is still p0, so sampling from p0 is exact.
    Only the coordinates matter here; class logits are uninformative.
    """

    def __init__(self, c: Tensor, num_types: int, num_charges: int, num_bonds: int, ot: bool) -> None:
        self.c, self.ot = c, ot
        self.n = c.shape[0]
        self.perms = torch.tensor(list(itertools.permutations(range(self.n))))
        self.copies = c[self.perms]  # [n!, n, 3]
        self.k = (num_types, num_charges, num_bonds)

    def weights(self, x: Tensor, t: float) -> Tensor:
        """[M, n!] posterior weights of the copies given x_t = x [M, n, 3]."""
        gap = max(1.0 - t, 1e-12)
        diff = x[:, None] - t * self.copies[None]  # [M, n!, n, 3]
        logw = -diff.pow(2).sum((-1, -2)) / (2 * gap * gap)
        if self.ot:
            y = diff / gap
            # cost of matching y (row i) to copy atom sigma(i), for every sigma: [M, n!, n!]
            cost = (y[:, :, None] - self.copies[:, self.perms][None]).pow(2).sum((-1, -2))
            ident = cost[..., 0]  # perms[0] is the identity
            ok = ident <= cost.min(-1).values + 1e-9
            logw = torch.where(ok, logw, torch.full_like(logw, -math.inf))
            none = ~ok.any(-1)  # off the support (discretisation error): fall back to the plain weights
            logw[none] = -diff[none].pow(2).sum((-1, -2)) / (2 * gap * gap)
        return torch.softmax(logw, -1)

    def __call__(self, inp: DenoiserInput) -> DenoiserOutput:
        t = float(inp.t[0])
        x = inp.pos.double().reshape(-1, self.n, 3)
        x_hat = torch.einsum("mk,kia->mia", self.weights(x, t), self.copies)
        n_atoms, n_edges = inp.pos.shape[0], inp.edge_index.shape[1]
        dt = inp.pos.dtype
        return DenoiserOutput(
            x_hat.reshape(-1, 3).to(dt),
            torch.zeros(n_atoms, self.k[0], dtype=dt),
            torch.zeros(n_atoms, self.k[1], dtype=dt),
            torch.zeros(n_edges, self.k[2], dtype=dt),
        )


def mixed_batch(
    sizes: tuple[int, ...] = (3, 5, 2, 4),
    num_types: int = 4,
    num_charges: int = 3,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Batch:
    """A batch of molecule graphs of different sizes, random positions (not centred), chain bonds."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for n in sizes:
        ij = (
            torch.stack([torch.arange(n - 1), torch.arange(1, n)])
            if n > 1
            else torch.zeros(2, 0, dtype=torch.long)
        )
        bt = torch.randint(1, 5, (ij.shape[1],), generator=g)
        graphs.append(
            Data(
                pos=(3 * torch.randn(n, 3, generator=g, dtype=torch.float64) + 5).to(dtype),
                atom_type=torch.randint(num_types, (n,), generator=g),
                charge=torch.randint(num_charges, (n,), generator=g),
                edge_index=torch.cat([ij, ij.flip(0)], 1),
                bond_type=torch.cat([bt, bt]),
                num_nodes=n,
            )
        )
    return Batch.from_data_list(graphs)


def random_rotation(seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """A uniformly random proper rotation [3, 3]."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q
