"""Chemistry from the model's own pocket-free branch: classifier-free mixing of pocket predictions.

A pocket model fine-tuned from the drug-like prior is trained on complexes *and* on ligands alone
(``data.extra_train``: MOSES conformers without a pocket), so the same network answers two questions:
what the ligand should be given the pocket (the conditional prediction, ``c``) and given no pocket (the
unconditional one, ``u``: the prior's chemistry, kept by the fine-tuning). In pockets it has not seen,
the conditional prediction of atom types, charges and bonds is much worse than the unconditional one
(README, "Pocket fine-tuning"); :class:`PriorMixDenoiser` samples with the two blended, as classifier-free
guidance does (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance")::

    logits = u + w_chem · (c − u)        (atom types, charges, ligand–ligand bonds)
    x̂₁    = u + w_pos  · (c − u)        (ligand coordinates)

Weights 1 are the model as it is, 0 the pocket-free branch; between them a geometric mixture of the
two categorical predictions. Guidance papers use weights above 1 to strengthen the condition; here the
weights are at most 1, to take the chemistry from the branch that keeps it while the coordinates
(``w_pos`` 1 by default) still come from the pocket. The unconditional branch is the network on the
ligand atoms alone: pocket atoms and every edge touching them are dropped, the ligand's coordinates
stay in the pocket's frame (the network is translation-equivariant, so its frame does not matter).
Fixed fragment atoms are ligand atoms and stay in both branches.

Equivariance: both branches are E(3)-equivariant and the blend is affine in their outputs, so the
mixed prediction is too (tested). Cost: two network calls per step, the second on the ligand only.
"""

from __future__ import annotations

import torch
from torch import nn

from molgen.errors import MolgenError
from molgen.models.base import DenoiserInput, DenoiserOutput


def ligand_only(inp: DenoiserInput, pocket: torch.Tensor) -> tuple[DenoiserInput, torch.Tensor, torch.Tensor]:
    """The input restricted to the ligand atoms (``~pocket``), the kept node indices and the kept edges.

    Returns:
        ``(sub, nodes, keep)``: the sub-input, [n] long indices of its atoms in ``inp``, [E] bool over
        ``inp.edge_index`` of the edges kept (both ends ligand atoms).
    """
    lig = ~pocket
    nodes = lig.nonzero().squeeze(1)
    new_index = torch.full_like(inp.batch, -1)
    new_index[nodes] = torch.arange(nodes.numel(), device=nodes.device)
    ei = inp.edge_index
    keep = lig[ei[0]] & lig[ei[1]]
    sc = inp.self_cond
    if sc is not None:
        sc = DenoiserOutput(sc.pos[nodes], sc.type_logits[nodes], sc.charge_logits[nodes], sc.bond_logits[keep])
    sub = DenoiserInput(
        pos=inp.pos[nodes], h_type=inp.h_type[nodes], h_charge=inp.h_charge[nodes],
        edge_index=new_index[ei[:, keep]], e_bond=inp.e_bond[keep], t=inp.t, batch=inp.batch[nodes],
        num_graphs=inp.num_graphs,
        context_mask=None if inp.context_mask is None else inp.context_mask[nodes],
        node_attr=None if inp.node_attr is None else inp.node_attr[nodes], self_cond=sc,
        # dropping the same pairs from both halves of a paired edge list keeps it paired
        paired=inp.paired,
    )
    return sub, nodes, keep


class PriorMixDenoiser(nn.Module):
    """Blend a pocket model's conditional predictions with its pocket-free ones (module docstring).

    Args:
        net: the pocket model's denoiser (``forward(DenoiserInput) -> DenoiserOutput``).
        chemistry: ``w_chem``, weight of the pocket on atom types, charges and bonds, in [0, 1].
        positions: ``w_pos``, weight of the pocket on the ligand coordinates, in [0, 1].
    """

    def __init__(self, net: nn.Module, chemistry: float = 0.0, positions: float = 1.0) -> None:
        super().__init__()
        for name, w in (("chemistry", chemistry), ("positions", positions)):
            if not 0.0 <= float(w) <= 1.0:
                raise MolgenError(f"prior mix: the {name} weight must lie in [0, 1], got {w}")
        self.net, self.chemistry, self.positions = net, float(chemistry), float(positions)

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        cond = self.net(inp)
        if inp.node_attr is None or inp.node_attr.shape[-1] == 0:
            return cond
        pocket = inp.node_attr[:, 0] > 0.5
        if not bool(pocket.any()) or (self.chemistry == 1.0 and self.positions == 1.0):
            return cond
        sub, nodes, keep = ligand_only(inp, pocket)
        unc = self.net(sub)

        def mix(c: torch.Tensor, u: torch.Tensor, w: float) -> torch.Tensor:
            return u + w * (c - u)

        pos, types, charges = cond.pos.clone(), cond.type_logits.clone(), cond.charge_logits.clone()
        bonds = cond.bond_logits.clone()
        # free ligand atoms: their rows in the sub-input, and in the full input
        free_sub = (torch.ones_like(nodes, dtype=torch.bool) if inp.context_mask is None
                    else ~inp.context_mask[nodes]).nonzero().squeeze(1)
        free = nodes[free_sub]
        pos[free] = mix(cond.pos[free], unc.pos[free_sub], self.positions)
        types[nodes] = mix(cond.type_logits[nodes], unc.type_logits, self.chemistry)
        charges[nodes] = mix(cond.charge_logits[nodes], unc.charge_logits, self.chemistry)
        bonds[keep] = mix(cond.bond_logits[keep], unc.bond_logits, self.chemistry)
        return DenoiserOutput(pos, types, charges, bonds)


__all__ = ["PriorMixDenoiser", "ligand_only"]
