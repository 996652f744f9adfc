"""E(n)-equivariant graph network (Satorras et al., 2021) as a molecule denoiser.

Atoms carry invariant features h [N, H] and coordinates x [N, 3]; edges carry an invariant state
e [E, H_e]. Every layer

* builds messages m_ij from h_i, h_j, e_ij and an RBF of |x_i − x_j|;
* moves atom i by the mean over j of (x_i − x_j) / (|x_i − x_j| + 1) · tanh(φ_x(m_ij)), at most 1 Å
  per layer, and not at all for context atoms;
* updates h_i from the mean message and e_ij from a symmetric function of (h_i, h_j).

With ``context_gate`` (pocket models fine-tuned from an unconditional prior, issue 16) every atom
averages its messages from ligand atoms and from pocket atoms (``node_attr[:, 0]``, the ``is_pocket``
column of :mod:`molgen.data.transforms`) separately, and adds the pocket mean scaled by learned
gates that start at zero: ``mean_ligand + g ⊙ mean_pocket`` for the feature update (g [H]) and for
the coordinate step (a scalar). Held fragment atoms are ligand atoms here. A plain mean over all neighbours
would let the 30–60 pocket atoms within reach outweigh a ligand atom's ~25 ligand neighbours and
change the prior's function from the first step; with the gates at zero the network computes the
prior's function on the ligand exactly, and the pocket enters as training opens the gates (the
zero-initialised adapters of ControlNet, Zhang et al. 2023). Without pocket atoms the gated and the
plain layer compute the same thing.

With ``attention`` the means become softmax-weighted means: every edge gets a logit ``w · m_ij + b``
and atom i sums its messages and coordinate steps with weights softmax_j(logit). On a complete graph a
plain mean divides what an atom's two or three bonded neighbours say by its N − 1 neighbours, so the
same local geometry gets a weaker signal in a 32-atom molecule than in a 16-atom one (a bond-length
correction from one neighbour moves a 32-atom molecule's atom at most 1/31 Å per layer); the softmax
lets the weights follow the neighbour that matters whatever the size (the attention of EQGAT-diff and
SemlaFlow). ``w`` and ``b`` start at zero, so the weights start as 1/deg: the attention layer computes
exactly the plain layer's function, and a prior trained without attention warm-starts into it
(:mod:`molgen.training.warm_start`). With ``context_gate`` the softmax runs over ligand sources and over
pocket sources apart, so the gated means stay what they were at zero logits.

Coordinates enter only through differences and distances, so the network is equivariant to
rotations, reflections and translations, and to permutations of atoms.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax

from molgen.models.base import Denoiser, DenoiserInput, DenoiserOutput, register_model
from molgen.models.layers import (
    GaussianRBF,
    SymmetricPair,
    TimeEmbedding,
    cosine_cutoff,
    edge_inputs,
    edge_vectors,
    mlp,
    node_inputs,
    symmetrize_edges,
)


class SourceSplit(NamedTuple):
    """Which edges come from pocket atoms, and how many of each kind every atom receives: the same in
    every layer, so :class:`EGNN` computes it once (``context_gate``)."""

    from_ligand: Tensor  # [E, 1] float, 1 where the source atom is a ligand atom
    from_pocket: Tensor  # [E, 1] float, 1 where the source atom is a pocket atom
    count_ligand: Tensor  # [N, 1] ligand sources per target atom, at least 1
    count_pocket: Tensor  # [N, 1] pocket sources per target atom, at least 1

    @classmethod
    def of(cls, pocket: Tensor, edge_index: Tensor) -> SourceSplit:
        """``pocket``: [N, 1] float, 1 for pocket atoms; ``edge_index``: [2, E] (source, target)."""
        src, dst = edge_index
        n = pocket.shape[0]
        from_pocket = pocket[src]
        from_ligand = 1.0 - from_pocket
        return cls(from_ligand, from_pocket,
                   scatter(from_ligand, dst, dim=0, dim_size=n, reduce="sum").clamp(min=1.0),
                   scatter(from_pocket, dst, dim=0, dim_size=n, reduce="sum").clamp(min=1.0))


class EGNNLayer(nn.Module):
    """One EGNN layer with edge states.

    Args:
        hidden: atom feature size H.
        edge_dim: edge state size H_e.
        num_rbf: size of the distance basis.
        edge_static_dim: size of fixed per-edge features (self-conditioning distances), 0 for none.
        cutoff: distance, Å, at which messages fade to zero (for radius graphs); None for none.
        context_gate: average messages from pocket atoms apart and add them through zero-initialised
            gates (see the module docstring).
        attention: softmax-weighted instead of plain means, logits zero-initialised (module docstring).
    """

    def __init__(
        self, hidden: int, edge_dim: int, num_rbf: int, edge_static_dim: int, cutoff: float | None,
        context_gate: bool = False, attention: bool = False,
    ) -> None:
        super().__init__()
        self.cutoff = cutoff
        if context_gate:
            self.gate_h = nn.Parameter(torch.zeros(hidden))
            self.gate_x = nn.Parameter(torch.zeros(1))
        self.context_gate = context_gate
        self.attn_logit = None
        if attention:
            self.attn_logit = nn.Linear(hidden, 1)
            nn.init.zeros_(self.attn_logit.weight)
            nn.init.zeros_(self.attn_logit.bias)
        # first message layer on [h_i, h_j, e, rbf, static], split so the atom parts run per atom
        self.msg_i = nn.Linear(hidden, hidden)
        self.msg_j = nn.Linear(hidden, hidden, bias=False)
        self.msg_e = nn.Linear(edge_dim + num_rbf + edge_static_dim, hidden, bias=False)
        self.msg_out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.coord = nn.Linear(hidden, 1)
        self.norm = nn.LayerNorm(hidden)
        self.node = mlp(2 * hidden, hidden, hidden)
        self.pair = SymmetricPair(hidden, edge_dim)
        self.edge_e = nn.Linear(edge_dim + num_rbf + edge_static_dim, edge_dim, bias=False)
        self.edge_out = nn.Sequential(nn.SiLU(), nn.Linear(edge_dim, edge_dim))

    def forward(
        self,
        h: Tensor,
        x: Tensor,
        e: Tensor,
        static: Tensor,
        edge_index: Tensor,
        mobile: Tensor,
        rbf: GaussianRBF,
        paired: bool = False,
        sources: SourceSplit | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Update atoms, coordinates and edges.

        Args:
            h: [N, H] atom features.
            x: [N, 3] float, Å.
            e: [E, H_e] edge states, equal for (i, j) and (j, i); [E / 2, H_e], one row per pair,
                when ``paired``.
            static: [E, S] (paired: [E / 2, S]) fixed edge features.
            edge_index: [2, E] long (source j, target i).
            mobile: [N, 1] float, 0 for context atoms, 1 otherwise.
            rbf: the distance basis.
            paired: ``edge_index`` is ``cat([P, P.flip(0)], 1)`` (see :class:`DenoiserInput`): what is
                symmetric in (i, j) (edge states, distance basis, their share of the message) is
                computed once per pair.
            sources: ligand and pocket sources of the edges (``context_gate``; None: no pocket atoms).

        Returns:
            h [N, H], x [N, 3] (context rows unchanged bit for bit), e (same rows as given).
        """
        src, dst = edge_index
        n = h.shape[0]
        vec, dist = edge_vectors(x, edge_index)
        half = edge_index.shape[1] // 2 if paired else None
        edge_feat = torch.cat([e, rbf(dist[:half]), static], dim=-1)
        msg_e = self.msg_e(edge_feat)
        if paired:
            msg_e = torch.cat([msg_e, msg_e], 0)
        hn = self.norm(h)
        m = self.msg_out(self.msg_i(hn).index_select(0, dst) + self.msg_j(hn).index_select(0, src) + msg_e)
        if self.cutoff is not None:
            m = m * cosine_cutoff(dist, self.cutoff)
        step = vec / (dist[:, None] + 1.0) * torch.tanh(self.coord(m))
        gated = self.context_gate and sources is not None
        if self.attn_logit is not None:
            step_mean, m_mean = self._attention_means(step, m, dst, sources if gated else None, n)
        elif gated:
            step_mean, m_mean = self._gated_means(step, m, dst, sources, n)
        else:
            step_mean = scatter(step, dst, dim=0, dim_size=n, reduce="mean")
            m_mean = scatter(m, dst, dim=0, dim_size=n, reduce="mean")
        x = x + mobile * step_mean
        h = h + self.node(torch.cat([hn, m_mean], dim=-1))
        e = e + self.edge_out(self.pair(h, edge_index[:, :half]) + self.edge_e(edge_feat))
        return h, x, e

    def _gated_means(self, step: Tensor, m: Tensor, dst: Tensor, sources: SourceSplit, n: int
                     ) -> tuple[Tensor, Tensor]:
        """Per-atom coordinate step [N, 3] and message [N, H]: the mean over ligand sources plus the
        gated mean over pocket sources (each mean over its own edges; an atom without such edges gets
        zeros)."""

        def mean(values: Tensor, weight: Tensor, count: Tensor) -> Tensor:
            return scatter(values * weight, dst, dim=0, dim_size=n, reduce="sum") / count

        lig, poc = (sources.from_ligand, sources.count_ligand), (sources.from_pocket, sources.count_pocket)
        step_mean = mean(step, *lig) + self.gate_x * mean(step, *poc)
        m_mean = mean(m, *lig) + self.gate_h * mean(m, *poc)
        return step_mean, m_mean

    def _attention_means(self, step: Tensor, m: Tensor, dst: Tensor, sources: SourceSplit | None, n: int
                         ) -> tuple[Tensor, Tensor]:
        """Softmax-weighted means of ``step`` [E, 3] and ``m`` [E, H] per target atom: over all sources,
        or (``sources`` given) over ligand and pocket sources apart, the pocket part gated. At zero
        logits this is :meth:`_gated_means` or the plain mean."""
        logit = self.attn_logit(m).squeeze(-1)
        if sources is None:
            w = softmax(logit, dst, num_nodes=n)[:, None]
            return (scatter(w * step, dst, dim=0, dim_size=n, reduce="sum"),
                    scatter(w * m, dst, dim=0, dim_size=n, reduce="sum"))
        from_pocket = sources.from_pocket.squeeze(-1)
        group = dst + n * from_pocket.long()  # one softmax per (target atom, source kind)
        w = softmax(logit, group, num_nodes=2 * n)[:, None]

        def part(values: Tensor, kind: Tensor) -> Tensor:
            return scatter(w * kind * values, dst, dim=0, dim_size=n, reduce="sum")

        step_mean = part(step, sources.from_ligand) + self.gate_x * part(step, sources.from_pocket)
        m_mean = part(m, sources.from_ligand) + self.gate_h * part(m, sources.from_pocket)
        return step_mean, m_mean


@register_model("egnn")
class EGNN(Denoiser):
    """EGNN denoiser: ``forward(DenoiserInput) -> DenoiserOutput``.

    Args:
        num_types: T atom types (inputs have T + 1 columns, the last one "masked").
        num_charges: C charge classes (inputs C + 1).
        num_bond_types: K bond classes including "no bond" (inputs K + 1).
        node_attr_dim: F extra invariant atom features (pocket residue features), 0 for none.
        hidden: atom feature size.
        edge_dim: edge state size.
        num_layers: message-passing layers.
        num_rbf: Gaussians in the distance basis.
        rbf_max: last Gaussian centre, Å.
        cutoff: distance, Å, where messages fade to zero; set it for radius graphs, None for
            complete graphs.
        self_condition: accept ``inp.self_cond`` (zeros are used when it is None).
        context_gate: every layer averages messages from context atoms apart and adds them through
            zero-initialised gates (:class:`EGNNLayer`), for pocket models warm-started from a prior.
        attention: softmax-weighted means with zero-initialised logits (:class:`EGNNLayer`).
    """

    def __init__(
        self,
        num_types: int,
        num_charges: int,
        num_bond_types: int = 5,
        node_attr_dim: int = 0,
        hidden: int = 128,
        edge_dim: int = 32,
        num_layers: int = 6,
        num_rbf: int = 16,
        rbf_max: float = 10.0,
        cutoff: float | None = None,
        self_condition: bool = False,
        context_gate: bool = False,
        attention: bool = False,
    ) -> None:
        super().__init__()
        self.num_types, self.num_charges, self.num_bond_types = num_types, num_charges, num_bond_types
        self.node_attr_dim, self.self_condition = node_attr_dim, self_condition
        sc_nodes = (num_types + num_charges) if self_condition else 0
        sc_edges = (num_bond_types + num_rbf) if self_condition else 0
        node_in = num_types + 1 + num_charges + 1 + node_attr_dim + 1 + sc_nodes
        edge_in = num_bond_types + 1 + sc_edges
        self.rbf = GaussianRBF(num_rbf, rbf_max)
        self.time = TimeEmbedding(hidden)
        self.embed = mlp(node_in + hidden, hidden, hidden)
        self.embed_edge = mlp(edge_in, edge_dim, edge_dim)
        static = num_rbf if self_condition else 0
        self.context_gate = context_gate
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, edge_dim, num_rbf, static, cutoff, context_gate, attention)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.type_head = mlp(hidden, hidden, num_types)
        self.charge_head = mlp(hidden, hidden, num_charges)
        self.bond_pair = SymmetricPair(hidden, hidden)
        self.bond_edge = nn.Linear(edge_dim + num_rbf, hidden, bias=False)
        self.bond_head = nn.Sequential(
            nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, num_bond_types)
        )

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        """Predict clean coordinates and type, charge and bond logits (shapes in :class:`DenoiserOutput`).

        With ``inp.paired`` the edge states live on the E / 2 pairs and the bond logits are computed
        once per pair: the same values as per directed edge, and a forward 1.22-1.24x faster on 200
        QM9-sized molecules with 1-2 CPU threads (``python -m benchmarks.sampling --skip throughput,scaling``).
        """
        n, ei = inp.pos.shape[0], inp.edge_index
        half = ei.shape[1] // 2 if inp.paired else None
        x0 = inp.pos
        feats = node_inputs(inp, self.node_attr_dim, self.self_condition, self.num_types, self.num_charges)
        h = self.embed(torch.cat([feats, self.time(inp.t)[inp.batch]], dim=-1))
        e = self.embed_edge(edge_inputs(inp, self.self_condition, self.rbf, self.num_bond_types)[:half])
        if self.self_condition:
            static = e.new_zeros(e.shape[0], self.rbf.centres.numel())
            if inp.self_cond is not None:
                static = self.rbf(edge_vectors(inp.self_cond.pos, ei[:, :half])[1])
        else:
            static = e.new_zeros(e.shape[0], 0)
        ctx = inp.context_mask
        mobile = x0.new_ones(n, 1) if ctx is None else (~ctx).to(x0.dtype)[:, None]
        pocket = inp.node_attr[:, 0] > 0.5 if inp.node_attr is not None and self.node_attr_dim > 0 else None
        sources = None
        if self.context_gate and pocket is not None:
            sources = SourceSplit.of(pocket[:, None].to(x0.dtype), ei)
        x = x0
        for layer in self.layers:
            h, x, e = layer(h, x, e, static, ei, mobile, self.rbf, inp.paired, sources)
        if ctx is not None:
            x = torch.where(ctx[:, None], x0, x)
        h = self.norm(h)
        bond_logits = self.bond_logits(h, x, e, ei[:, :half], pocket)
        if inp.paired:
            bond_logits = torch.cat([bond_logits, bond_logits], 0)
        else:
            bond_logits = symmetrize_edges(bond_logits, ei, n)
        return DenoiserOutput(x, self.type_head(h), self.charge_head(h), bond_logits)

    def bond_logits(self, h: Tensor, x: Tensor, e: Tensor, pairs: Tensor, pocket: Tensor | None) -> Tensor:
        """[P, K] bond logits of the edges ``pairs`` [2, P] (edge states ``e`` [P, H_e]); zeros on the
        edges that touch a ``pocket`` atom ([N] bool or None), whose bond class the processes hold at
        "no bond" and leave out of the loss (:mod:`molgen.processes.state`), so the head skips them."""
        if pocket is not None:
            rows = ~(pocket[pairs[0]] | pocket[pairs[1]])
            out = h.new_zeros(pairs.shape[1], self.num_bond_types)
            out[rows] = self.bond_logits(h, x, e[rows], pairs[:, rows], None)
            return out
        _, dist = edge_vectors(x, pairs)
        return self.bond_head(self.bond_pair(h, pairs) + self.bond_edge(torch.cat([e, self.rbf(dist)], dim=-1)))
