"""Physics at sampling time: keep generated ligands out of the protein and inside the site.

No training is involved. :class:`GuidedDenoiser` wraps a pocket model's denoiser and, at times
``t >= start`` (t = 0 noise, t = 1 data), moves the predicted clean coordinates x̂₁ of the free
ligand atoms down the gradient of a pocket energy E before the process takes its step. For flow
matching the Euler step is ``x + (s − t)/(1 − t) (x̂₁ − x)``, so guiding x̂₁ guides the velocity
``(x̂₁ − x)/(1 − t)`` by the same displacement over (1 − t), and the step that ends at t = 1 lands on
the guided x̂₁ itself. The process code, its schedule and the network are untouched; context (pocket)
and fixed fragment atoms never move.

The energy, in Å², over the ligand atoms L (free and fixed) of a graph, its heavy pocket atoms and the
protein heavy atoms P it must keep clear of::

    E = w_clash · Σ_{i∈L, j∈P} max(0, d_clash − |x_i − p_j|)²
      + w_site  · |L| · max(0, |c − c₀| − r_site)²            (c = mean of x_i over L)

P is the graph's pocket atoms or, when the wrapper is given the protein's atoms (``protein=``; pocket
sampling passes :attr:`~molgen.sampling.conditioning.PocketCondition.protein_atoms`, the heavy atoms
within :data:`~molgen.sampling.conditioning.PROTEIN_SHELL` of the pocket), those: the pocket is cut
as whole residues within 6 Å of the reference ligand, and a ligand larger than the reference reaches
past it into protein atoms the network never sees (on 7ZTL, 10 of 16 guided ligands had a heavy atom
within 3 Å of a protein atom outside the pocket when only the pocket was used).

* Clash: the flat-bottom quadratic of AutoDock Vina's repulsion term (Trott & Olson 2010: d² for a
  negative surface distance d = r_ij − R_i − R_j), with one contact distance ``d_clash`` for every
  heavy-atom pair, since the ligand's elements are still being decided. The default 3.0 Å is above
  the 0.75 × (sum of van der Waals radii) below which PoseBusters' ``minimum_distance_to_protein``
  check fails (2.55 Å for C–C, 2.3 Å for N–O) and at the short end of hydrogen-bond N–O distances
  (2.7–3.1 Å), so it clears clashes without forbidding contacts. DecompDiff's "clash drift"
  (Guan et al. 2023) guides on the same pairs with a linear hinge; the quadratic has a continuous
  gradient, which vanishes at the contact distance.
* Site: a flat-bottom harmonic restraint on the ligand centroid (as the flat-bottom restraints of
  docking and MD setups): no force while the centroid is within ``site_radius`` of the pocket centre
  c₀ (the mean of the graph's pocket atoms, which is where the prior is centred), or, when a box is
  given, per axis outside the box: ``Σ_a max(0, |c_a − b_a| − h_a)²`` with b the box centre and h
  its half edge lengths. The factor |L| makes the centroid move by the violation itself under the
  update below, whatever the ligand's size.

The update. Per guided network call, ``iterations`` steps of ``x̂ ← x̂ − ½ ∇E(x̂)`` on the free
ligand atoms. With weight 1 a single violated pair (or a displaced centroid) is removed in one step
(the gradient of δ² is 2δ), so the weights are the fraction of a violation removed per step;
weights in (0, 1] converge. The iterations stop early once no pair is closer than ``d_clash − tol``
and no centroid is more than ``tol`` outside its bound (``tol`` = :data:`TOLERANCE`).

Equivariance: distances and the centroid-to-pocket-centre vector move with the complex, so the
guided output rotates and translates with the inputs (tested); a box is fixed in the protein's frame.

Refinement passes (the process option ``refine_time``: the finished graph shown to the network again
after the last step) are network calls too, at ``refine_time`` >= ``start``, so they are guided unless
``refine`` is false; then they see the unguided network (``molgen.processes.sampler.sample``'s
``refine_denoiser``).

Self-conditioning models are fed the guided prediction as ``self_cond`` (the sampler feeds back what
the denoiser returned). The shipped pocket model does not self-condition.
"""

from __future__ import annotations

import difflib
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor, nn

from molgen.errors import MolgenError
from molgen.models.base import DenoiserInput, DenoiserOutput

#: Å: a pair counts as clear at ``d_clash − TOLERANCE`` and a centroid as inside at ``+ TOLERANCE``.
TOLERANCE = 1e-3
#: Pocket atoms farther than this beyond ``d_clash`` from a ligand atom are left out of the pair list
#: of one network call (Å); the update moves an atom by far less per call.
PAIR_MARGIN = 4.0


class GuidanceSettings(BaseModel):
    """Settings of sampling-time guidance (the ``guidance`` key of a generate step, ``molgen sample
    --guidance``). Distances in Å; weights dimensionless (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(0.5, ge=0.0, le=1.0, description="guide the network calls at t >= start")
    clash_distance: float = Field(3.0, gt=0.0, description="ligand–pocket heavy-atom contact distance, Å")
    clash_weight: float = Field(1.0, ge=0.0, le=1.0, description="fraction of an overlap removed per iteration")
    site_radius: float = Field(2.0, ge=0.0, description="flat bottom of the centroid restraint, Å")
    site_weight: float = Field(1.0, ge=0.0, le=1.0, description="fraction of a centroid excess removed per iteration")
    iterations: int = Field(20, ge=1, le=1000, description="gradient steps per guided network call")
    refine: bool = Field(True, description="also guide the refinement passes after the last step "
                                           "(the process option refine_time); false: they see the model alone")

    def summary(self) -> dict:
        return self.model_dump()


def parse_guidance(value: Any, source: str | None = "guidance") -> GuidanceSettings | None:
    """Guidance settings from a YAML value or CLI options: None/False -> off, True -> defaults, a
    mapping -> those settings (the rest default), a :class:`GuidanceSettings` as is.

    Args:
        value: the setting.
        source: prefix of the keys in error messages (None: the bare key).

    Raises:
        MolgenError: an unknown key or a value out of range, in one line naming the key.
    """
    if value is None or value is False:
        return None
    if value is True:
        return GuidanceSettings()
    if isinstance(value, GuidanceSettings):
        return value
    if not isinstance(value, dict):
        raise MolgenError(f"{source or 'guidance'}: expected true/false or a mapping of settings, got {value!r}")
    try:
        return GuidanceSettings.model_validate(value)
    except ValidationError as err:
        known = ", ".join(GuidanceSettings.model_fields)
        parts = []
        for e in err.errors():
            key = ".".join(str(x) for x in e["loc"])
            key = f"{source}.{key}" if source else key
            if e["type"] == "extra_forbidden":
                hint = difflib.get_close_matches(str(e["loc"][-1]), list(GuidanceSettings.model_fields), n=1)
                more = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {known})"
                parts.append(f"{key}: unknown key{more}")
            else:
                parts.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
        raise MolgenError("; ".join(parts)) from None


# ---- the energy ------------------------------------------------------------------------------------
def ligand_pocket_pairs(pos: Tensor, batch: Tensor, ligand: Tensor, pocket: Tensor, cutoff: float,
                        walls: Tensor | None = None) -> Tensor:
    """Ligand–protein pairs closer than ``cutoff``: ``[2, Q]`` long (ligand atom, protein atom).

    Args:
        pos: [N, 3] float, Å.
        batch: [N] long, graph index (sorted).
        ligand, pocket: [N] bool masks.
        cutoff: Å.
        walls: [P, 3] float, Å: protein atoms shared by every graph; the second row then indexes
            ``walls``. None: the pocket atoms of the same graph (indices into ``pos``).
    """
    lig_idx, poc_idx = ligand.nonzero().view(-1), pocket.nonzero().view(-1)
    if walls is not None:
        if lig_idx.numel() == 0 or walls.shape[0] == 0:
            return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
        near = (torch.cdist(pos[lig_idx], walls.to(pos.dtype)) < cutoff).nonzero()
        return torch.stack([lig_idx[near[:, 0]], near[:, 1]])
    if lig_idx.numel() == 0 or poc_idx.numel() == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device)
    out = []
    lb, pb = batch[lig_idx], batch[poc_idx]
    for g in torch.unique(lb).tolist():
        li, pj = lig_idx[lb == g], poc_idx[pb == g]
        if pj.numel() == 0:
            continue
        near = (torch.cdist(pos[li], pos[pj]) < cutoff).nonzero()
        out.append(torch.stack([li[near[:, 0]], pj[near[:, 1]]]))
    return torch.cat(out, 1) if out else torch.zeros(2, 0, dtype=torch.long, device=pos.device)


def _site(pos: Tensor, batch: Tensor, num_graphs: int, ligand: Tensor, pocket: Tensor, radius: float,
          box: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
    """Ligand atoms per graph ``[B]`` and the vector ``[B, 3]`` (Å) by which each ligand centroid lies
    outside its bound: radially beyond ``radius`` of the pocket atoms' mean, or per axis outside the
    box; 0 inside, and 0 for a graph without ligand atoms or without pocket atoms and box."""
    dt = pos.dtype
    n = torch.bincount(batch[ligand], minlength=num_graphs).to(dt)
    npk = torch.bincount(batch[pocket], minlength=num_graphs).to(dt)
    zeros = torch.zeros(num_graphs, 3, dtype=dt, device=pos.device)
    c = zeros.index_add(0, batch, pos * ligand.to(dt)[:, None]) / n.clamp(min=1)[:, None]
    if box is not None:
        rel = c - box[0]
        excess = torch.sign(rel) * (rel.abs() - box[1]).clamp(min=0)
        ok = n > 0
    else:
        center = zeros.index_add(0, batch, pos * pocket.to(dt)[:, None]) / npk.clamp(min=1)[:, None]
        rel = c - center
        norm = rel.norm(dim=-1, keepdim=True)
        excess = rel / norm.clamp(min=1e-12) * (norm - radius).clamp(min=0)
        ok = (n > 0) & (npk > 0)
    return n, torch.where(ok[:, None], excess, zeros)


def pocket_energy(pos: Tensor, batch: Tensor, num_graphs: int, ligand: Tensor, pocket: Tensor,
                  settings: GuidanceSettings, pairs: Tensor | None = None,
                  box: tuple[Tensor, Tensor] | None = None, walls: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The guidance energy per graph and its gradient (analytic), as in the module docstring.

    Args:
        pos: [N, 3] float, Å.
        batch: [N] long; num_graphs: B.
        ligand: [N] bool, ligand atoms (free and fixed); pocket: [N] bool, heavy pocket atoms.
        settings: distances and weights.
        pairs: [2, Q] candidate (ligand, protein) pairs (default: all pairs within the clash distance).
        box: (centre [3], half edge lengths [3]) Å, or None for the sphere around the pocket centre.
        walls: [P, 3] float, Å: the protein atoms of the clash term (default: the pocket atoms).

    Returns:
        energy: [B] float, Å²; grad: [N, 3] float, Å: dE/dx on the ligand atoms, zero on the others
            (the pocket is fixed: its atoms' share of the pocket centre is not differentiated).
    """
    if pairs is None:
        pairs = ligand_pocket_pairs(pos, batch, ligand, pocket, settings.clash_distance, walls)
    energy = pos.new_zeros(num_graphs)
    grad = torch.zeros_like(pos)
    if pairs.numel() and settings.clash_weight > 0:
        i, j = pairs
        v = pos[i] - (pos if walls is None else walls.to(pos.dtype))[j]
        d = v.norm(dim=-1)
        overlap = (settings.clash_distance - d).clamp(min=0)
        energy = energy.index_add(0, batch[i], settings.clash_weight * overlap.pow(2))
        # d/dx_i of (d0 − d)² = −2 (d0 − d) v / d
        g = -2 * settings.clash_weight * (overlap / d.clamp(min=1e-12))[:, None] * v
        grad = grad.index_add(0, i, g)
    if settings.site_weight > 0:
        n, excess = _site(pos, batch, num_graphs, ligand, pocket, settings.site_radius, box)
        m = ligand.to(pos.dtype)[:, None]
        energy = energy + settings.site_weight * n * excess.pow(2).sum(-1)
        # E = w n |e(c)|², e the excess vector: dE/dc = 2 w n e (the excess grows 1:1 with c outside
        # the bound, radially for the sphere, per axis for the box), dc/dx_i = 1/n.
        grad = grad + (2 * settings.site_weight * excess)[batch] * m
    return energy, grad


def guide_positions(pos: Tensor, batch: Tensor, num_graphs: int, free: Tensor, ligand: Tensor, pocket: Tensor,
                    settings: GuidanceSettings, box: tuple[Tensor, Tensor] | None = None,
                    walls: Tensor | None = None) -> Tensor:
    """``settings.iterations`` steps of ``x ← x − ½ ∇E`` on the free ligand atoms: ``[N, 3]``.

    Args:
        pos: [N, 3] float, Å (the predicted clean coordinates).
        free: [N] bool, the atoms that may move (a subset of ``ligand``).
        ligand, pocket: [N] bool; box, walls: see :func:`pocket_energy`.
    """
    pairs = ligand_pocket_pairs(pos, batch, ligand, pocket, settings.clash_distance + PAIR_MARGIN, walls)
    x = pos.clone()
    move = free[:, None].to(pos.dtype)
    for _ in range(settings.iterations):
        _, grad = pocket_energy(x, batch, num_graphs, ligand, pocket, settings, pairs, box, walls)
        if not bool(grad.any()):
            break
        x = x - 0.5 * grad * move
        if _satisfied(x, batch, num_graphs, ligand, pocket, settings, pairs, box, walls):
            break
    return x


def _satisfied(x: Tensor, batch: Tensor, num_graphs: int, ligand: Tensor, pocket: Tensor,
               settings: GuidanceSettings, pairs: Tensor, box: tuple[Tensor, Tensor] | None,
               walls: Tensor | None) -> bool:
    if pairs.numel() and settings.clash_weight > 0:
        d = (x[pairs[0]] - (x if walls is None else walls.to(x.dtype))[pairs[1]]).norm(dim=-1)
        if bool((d < settings.clash_distance - TOLERANCE).any()):
            return False
    if settings.site_weight > 0:
        _, excess = _site(x, batch, num_graphs, ligand, pocket, settings.site_radius, box)
        if bool((excess.norm(dim=-1) > TOLERANCE).any()):
            return False
    return True


# ---- the wrapper -----------------------------------------------------------------------------------
class GuidedDenoiser(nn.Module):
    """A pocket denoiser whose coordinate prediction is guided out of the protein and into the site.

    At network calls with ``t >= settings.start`` (per graph), the predicted coordinates of the free
    ligand atoms are moved by :func:`guide_positions`; everything else the network returns (types,
    charges, bonds, context coordinates) is passed through unchanged. Pocket atoms are recognised by
    ``node_attr[:, 0]`` (the ``is_pocket`` feature), free atoms by ``~context_mask``.

    Args:
        net: the denoiser (``forward(DenoiserInput) -> DenoiserOutput``), e.g. a PocketRadiusDenoiser.
        settings: :class:`GuidanceSettings`.
        box: (centre, edge lengths) in Å of a pocket given as a box: the centroid is restrained
            inside it instead of within ``site_radius`` of the pocket atoms' centre.
        protein: [P, 3] float, Å: the protein heavy atoms to keep clear of, the same for every graph
            (default: each graph's pocket atoms).
    """

    def __init__(self, net: nn.Module, settings: GuidanceSettings,
                 box: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
                 protein: Tensor | None = None) -> None:
        super().__init__()
        self.net, self.settings, self.box = net, settings, box
        self.protein = protein
        self.calls = 0  # guided network calls (for summaries and tests)

    def forward(self, inp: DenoiserInput) -> DenoiserOutput:
        out = self.net(inp)
        if inp.node_attr is None or inp.node_attr.shape[-1] == 0:
            return out
        active = (inp.t >= self.settings.start)[inp.batch]
        if not bool(active.any()):
            return out
        pocket = inp.node_attr[:, 0] > 0.5
        held = inp.context_mask if inp.context_mask is not None else torch.zeros_like(pocket)
        ligand = ~pocket & active
        free = ligand & ~held
        if not bool(free.any()):
            return out
        box = None
        if self.box is not None:
            dt = out.pos.dtype
            box = (torch.tensor(self.box[0], dtype=dt, device=out.pos.device),
                   0.5 * torch.tensor(self.box[1], dtype=dt, device=out.pos.device))
        # pocket atoms of the prediction are their input coordinates (the denoiser contract); use the
        # inputs so a network that moves them anyway cannot shift the target
        pos = torch.where(pocket[:, None], inp.pos.to(out.pos.dtype), out.pos)
        walls = None if self.protein is None else self.protein.to(device=out.pos.device, dtype=out.pos.dtype)
        guided = guide_positions(pos, inp.batch, inp.num_graphs, free, ligand, pocket, self.settings, box, walls)
        self.calls += 1
        return DenoiserOutput(torch.where(free[:, None], guided, out.pos), out.type_logits, out.charge_logits,
                              out.bond_logits)


__all__ = [
    "GuidanceSettings",
    "GuidedDenoiser",
    "guide_positions",
    "ligand_pocket_pairs",
    "parse_guidance",
    "pocket_energy",
]
