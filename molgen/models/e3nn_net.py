"""Tensor-product message passing (e3nn) as a molecule denoiser.

Atom features are irreps (scalars 0e and vectors 1o, pseudovectors 1e, ...). A layer sends from
atom j to atom i the tensor product of j's features with the spherical harmonics Y(x_i − x_j)
(l ≤ lmax, parity (−1)^l), weighted per edge by a radial MLP of an RBF of the distance and the
edge state; messages are averaged, mixed linearly, added to a self-interaction and passed through
a gated nonlinearity. All irreps carry their parity, so the network is O(3)-equivariant
(reflections included) and, working on differences only, translation-invariant.

Readout: a 1o vector per atom is added to the input coordinates (zero for context atoms); the
scalars give type and charge logits and, paired symmetrically, bond logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate
from torch import Tensor, nn
from torch_geometric.utils import scatter

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


class TPConvLayer(nn.Module):
    """One gated tensor-product convolution.

    Args:
        irreps_in: atom feature irreps entering the layer.
        irreps_hidden: requested output irreps; scalars go through SiLU (tanh for odd scalars),
            the rest is gated by extra sigmoid scalars.
        irreps_sh: spherical-harmonic irreps of the edge directions.
        edge_scalar_dim: invariant per-edge inputs of the radial MLP (RBF + edge state).
        radial_hidden: hidden width of the radial MLP.
        cutoff: distance, Å, where messages fade to zero; None for none.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_hidden: o3.Irreps,
        irreps_sh: o3.Irreps,
        edge_scalar_dim: int,
        radial_hidden: int,
        cutoff: float | None,
    ) -> None:
        super().__init__()
        self.cutoff = cutoff
        scalars = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in irreps_hidden if ir.l > 0])
        acts = [F.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
        self.gate = Gate(scalars, acts, f"{gated.num_irreps}x0e", [torch.sigmoid], gated)
        wanted = {ir for _, ir in self.gate.irreps_in}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        irreps_mid = o3.Irreps(mid)
        self.lin_in = o3.Linear(irreps_in, irreps_in)
        self.tp = o3.TensorProduct(
            irreps_in, irreps_sh, irreps_mid, instructions, shared_weights=False, internal_weights=False
        )
        self.radial = FullyConnectedNet([edge_scalar_dim, radial_hidden, self.tp.weight_numel], F.silu)
        self.lin_out = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.self_int = o3.Linear(irreps_in, self.gate.irreps_in)
        self.irreps_out = self.gate.irreps_out
        self.residual = irreps_in == self.irreps_out

    def forward(
        self, h: Tensor, sh: Tensor, edge_scalars: Tensor, dist: Tensor, edge_index: Tensor
    ) -> Tensor:
        """Update atom features.

        Args:
            h: [N, irreps_in.dim].
            sh: [E, irreps_sh.dim] spherical harmonics of x_target − x_source.
            edge_scalars: [E, edge_scalar_dim] invariant edge inputs.
            dist: [E] float, Å.
            edge_index: [2, E] long (source j, target i).

        Returns:
            [N, irreps_out.dim].
        """
        src, dst = edge_index
        weight = self.radial(edge_scalars)
        if self.cutoff is not None:  # the product is linear in its weights: fade them, not the messages
            weight = weight * cosine_cutoff(dist, self.cutoff)
        msg = self.tp(self.lin_in(h)[src], sh, weight)
        agg = scatter(msg, dst, dim=0, dim_size=h.shape[0], reduce="mean")
        out = self.gate(self.lin_out(agg) + self.self_int(h))
        return h + out if self.residual else out


@register_model("e3nn")
class E3NNDenoiser(Denoiser):
    """e3nn tensor-product denoiser: ``forward(DenoiserInput) -> DenoiserOutput``.

    Args:
        num_types: T atom types (inputs have T + 1 columns, the last one "masked").
        num_charges: C charge classes (inputs C + 1).
        num_bond_types: K bond classes including "no bond" (inputs K + 1).
        node_attr_dim: F extra invariant atom features, 0 for none.
        irreps_hidden: atom feature irreps of every layer; must contain 0e scalars and 1o vectors.
        num_layers: convolution layers.
        lmax: highest degree of the edge spherical harmonics.
        edge_dim: size of the embedded edge state.
        num_rbf: Gaussians in the distance basis.
        rbf_max: last Gaussian centre, Å.
        radial_hidden: hidden width of the radial MLPs.
        head_hidden: hidden width of the scalar output heads.
        cutoff: distance, Å, where messages fade to zero; set it for radius graphs.
        self_condition: accept ``inp.self_cond`` (zeros are used when it is None).
    """

    def __init__(
        self,
        num_types: int,
        num_charges: int,
        num_bond_types: int = 5,
        node_attr_dim: int = 0,
        irreps_hidden: str = "32x0e + 8x1o + 8x1e",
        num_layers: int = 4,
        lmax: int = 2,
        edge_dim: int = 16,
        num_rbf: int = 16,
        rbf_max: float = 10.0,
        radial_hidden: int = 32,
        head_hidden: int = 64,
        cutoff: float | None = None,
        self_condition: bool = False,
    ) -> None:
        super().__init__()
        self.num_types, self.num_charges, self.num_bond_types = num_types, num_charges, num_bond_types
        self.node_attr_dim, self.self_condition = node_attr_dim, self_condition
        hidden = o3.Irreps(irreps_hidden).simplify()
        num_scalars = sum(m for m, ir in hidden if ir == o3.Irrep("0e"))
        if num_scalars == 0 or o3.Irrep("1o") not in [ir for _, ir in hidden]:
            raise ValueError(f"irreps_hidden={irreps_hidden!r} needs 0e scalars and 1o vectors")
        sc_nodes = (num_types + num_charges) if self_condition else 0
        sc_edges = (num_bond_types + num_rbf) if self_condition else 0
        node_in = num_types + 1 + num_charges + 1 + node_attr_dim + 1 + sc_nodes
        self.rbf = GaussianRBF(num_rbf, rbf_max)
        self.time = TimeEmbedding(num_scalars)
        self.embed = mlp(node_in + num_scalars, num_scalars, num_scalars)
        self.embed_edge = mlp(num_bond_types + 1 + sc_edges, edge_dim, edge_dim)
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, normalize=False, normalization="component")
        irreps = o3.Irreps(f"{num_scalars}x0e")
        layers = []
        for _ in range(num_layers):
            layers.append(
                TPConvLayer(irreps, hidden, self.irreps_sh, num_rbf + edge_dim, radial_hidden, cutoff)
            )
            irreps = layers[-1].irreps_out
        self.layers = nn.ModuleList(layers)
        self.irreps_out = irreps
        scalar_idx = [
            i
            for (m, ir), sl in zip(irreps, irreps.slices())
            if ir == o3.Irrep("0e")
            for i in range(sl.start, sl.stop)
        ]
        self.register_buffer("scalar_idx", torch.tensor(scalar_idx, dtype=torch.long), persistent=False)
        self.pos_out = o3.Linear(irreps, "1x1o")
        ns = len(scalar_idx)
        self.norm = nn.LayerNorm(ns)
        self.type_head = mlp(ns, head_hidden, num_types)
        self.charge_head = mlp(ns, head_hidden, num_charges)
        self.bond_pair = SymmetricPair(ns, head_hidden)
        self.bond_edge = nn.Linear(edge_dim + num_rbf, head_hidden, bias=False)
        self.bond_head = nn.Sequential(
            nn.SiLU(), nn.Linear(head_hidden, head_hidden), nn.SiLU(), nn.Linear(head_hidden, num_bond_types)
        )

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        """Predict clean coordinates and type, charge and bond logits (shapes in :class:`DenoiserOutput`)."""
        n, ei = inp.pos.shape[0], inp.edge_index
        feats = node_inputs(inp, self.node_attr_dim, self.self_condition, self.num_types, self.num_charges)
        h = self.embed(torch.cat([feats, self.time(inp.t)[inp.batch]], dim=-1))
        e = self.embed_edge(edge_inputs(inp, self.self_condition, self.rbf, self.num_bond_types))
        vec, dist = edge_vectors(inp.pos, ei)
        # unit vectors by hand: e3nn's normalize=True divides by |v| and has no gradient at v = 0
        sh = self.sh(vec / dist[:, None])
        edge_scalars = torch.cat([self.rbf(dist), e], dim=-1)
        for layer in self.layers:
            h = layer(h, sh, edge_scalars, dist, ei)
        dx = self.pos_out(h)
        if inp.context_mask is not None:
            dx = dx.masked_fill(inp.context_mask[:, None], 0.0)
        pos = inp.pos + dx
        s = self.norm(h[:, self.scalar_idx])
        _, dist_out = edge_vectors(pos, ei)
        pair = self.bond_pair(s, ei) + self.bond_edge(torch.cat([e, self.rbf(dist_out)], dim=-1))
        bond_logits = symmetrize_edges(self.bond_head(pair), ei, n)
        return DenoiserOutput(pos, self.type_head(s), self.charge_head(s), bond_logits)
