"""The generative-process interface, the parts diffusion and flow matching share, and the registry.

A process moves a :class:`~molgen.processes.state.MolState` between noise (t = 0) and data (t = 1).
Every continuous variable follows x_t = a(t) x_1 + b(t) ε (diffusion: a = alpha, b = sigma; flow:
a = t, b = 1 − t); categorical variables follow :mod:`molgen.processes.discrete`, or, with
``discrete="continuous"``, the continuous process on one-hot vectors scaled by ``onehot_scale``
(EDM's relaxation, Hoogeboom et al. 2022), decoded by argmax at the end.

Coordinates. Only free atoms move. Their noise ε is standard normal with the free atoms' per-graph
mean removed (scatter with ``dim_size = num_graphs``), placed at ``center``: for a graph without
fixed atoms this is the zero-centre-of-mass subspace (EDM), since its data has free-atom CoM at
``center`` (see ``MolState.from_batch``); for a graph with fixed atoms (pocket, fragment) the
free atoms' noise is centred on ``center`` and the free atoms' CoM moves deterministically with t.
For graphs without fixed atoms the predicted clean coordinates are projected onto the same subspace
(CoM = center) before they enter a step or the loss (EDM removes the mean of the network output).

Fixed atoms (context and inpainted fragment) stay at their clean values at every t, in ``corrupt``
and in every sampler step: the model is trained conditionally on them (as DiffSBDD's conditional
model). Re-noising them to the current level (RePaint) is not implemented; it would need an
unconditionally trained model.

Loss. Per item, then a mean over each graph's free items, then a mean over the graphs that have
free items: coordinates as w(t) |x̂ − x|² (Å², summed over xyz; w from the subclass), categorical
variables as cross-entropy of the logits against the data class (also in the continuous mode: the
posterior mean of a one-hot vector is the class distribution, so cross-entropy trains the same
denoiser as EDM's squared error on h). Bond logits of the two directions of a pair are averaged.
Context and fixed items never enter the loss. An optional local-geometry term (``loss_weights["geom"]``,
off by default) scores the predicted bond lengths and 1-3 distances of graphs at t >= 0.5
(:func:`local_distance_loss`); an optional contact term (``loss_weights["contact"]``) scores predicted
ligand atoms that come closer to a pocket atom than in the data (:func:`contact_loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from molgen.chem.vocab import NUM_BOND_TYPES
from molgen.models.base import DenoiserInput, DenoiserOutput
from molgen.processes.discrete import Categorical
from molgen.processes.schedules import TIME_DISTS, time_quantile
from molgen.processes.state import MolState, masked_graph_mean
from molgen.processes.valence import AROMATIC, atom_caps, kekule_bonds, repair_valence

#: (MolState field, DenoiserOutput logits field, loss key) of the three categorical variables.
CLASS_FIELDS = (
    ("atom_type", "type_logits", "type"),
    ("charge", "charge_logits", "charge"),
    ("bond", "bond_logits", "bond"),
)
DEFAULT_LOSS_WEIGHTS = {"pos": 1.0, "type": 0.4, "charge": 0.4, "bond": 1.0, "geom": 0.0, "contact": 0.0}
#: The local-geometry and contact terms count only graphs at t >= this (the half of the path where bonds
#: are resolved).
GEOM_T_MIN = 0.5
#: Å: the contact term's cap on the data's ligand–pocket distances (:func:`contact_loss`).
CONTACT_DISTANCE = 3.0
#: Valence-constrained bond decoding (:mod:`molgen.processes.valence`): never, on the last bonds, every step.
VALENCE_MODES = ("off", "final", "steps")

Denoise = Callable[[MolState, float], DenoiserOutput]


class GenerativeProcess:
    """Base class of the continuous-time generative processes (t = 0 noise, t = 1 data).

    Args:
        num_types: T atom types.
        num_charges: C charge classes.
        num_bond_types: K bond classes (class 0 = no bond).
        discrete: ``masked`` (absorbing state, default), ``uniform`` or ``continuous`` (one-hot
            relaxation noised like the coordinates).
        discrete_schedule: kappa(t) of the discrete modes, ``linear`` or ``cosine``.
        discrete_stochasticity: sampling only: η, the rate at which decided tokens are reset to the
            prior and drawn again (:mod:`molgen.processes.discrete`; 0 = none).
        discrete_temperature: sampling only: τ of the categorical jumps (1 = the predicted posterior).
        onehot_scale: factor on one-hot vectors in the continuous mode (EDM divides one-hot types
            by 4, hence 0.25).
        loss_weights: weights of ``pos``, ``type``, ``charge``, ``bond``, ``geom`` and ``contact`` in
            ``loss``; missing keys keep their defaults (1.0, 0.4, 0.4, 1.0, 0.0, 0.0). ``geom`` > 0 adds
            the local-geometry term (:func:`local_distance_loss`), ``contact`` > 0 the ligand–pocket
            contact term (:func:`contact_loss`).
        time_dist: training time distribution, ``uniform`` on [0, 1), ``logit_normal`` (sigmoid
            of N(0, 1), Esser et al. 2024) or ``beta`` (Beta(2, 1), density 2t, SemlaFlow); see
            :mod:`molgen.processes.schedules`.
        class_loss: which categorical items the cross-entropy scores: ``all`` free items, or
            ``masked``, only those still masked in the noisy state (masked mode only). Unmasked tokens
            are final under the absorbing process, so the sampler never reads their predictions;
            scoring them (49 % of the type and bond items of a QM9 batch under logit-normal t) only
            teaches the network to copy its input. SemlaFlow and FlowMol score masked tokens only.
        valence: sampling only: ``off`` (bonds as sampled), ``final`` (the last bonds decoded under the
            atoms' valence caps, :mod:`molgen.processes.valence`) or ``steps`` (also after every step's
            jumps, so the network is shown chemically possible partial graphs).
        valence_caps: ``[T, C]`` largest bond-order sum per (atom type, charge)
            (:func:`molgen.processes.valence.valence_caps`); needed unless ``valence`` is ``off``.
        kekule: the vocabulary's graphs have Kekulé bonds only (heavy-atom vocabularies): with
            ``valence`` on, a decided aromatic bond becomes the single or double bond the model finds
            likelier before the caps are applied (:func:`molgen.processes.valence.kekule_bonds`), and the
            repair does not lower a double bond to aromatic.
        refine_time: sampling only: ``None`` (off) or a time in (0, 1]. After the last step the finished
            graph (final types, charges and bonds) is shown to the network at this time, and the free atoms
            move to its clean prediction x̂ (:meth:`refine`), ``refine_passes`` times (one network call
            each). The last step's x̂ was predicted while some tokens were still masked, so its geometry
            need not fit the graph that is written; repeated passes move towards a geometry the network
            takes for clean.
        refine_passes: how many refinement passes (>= 1; used only with ``refine_time``).
    """

    name = "base"

    def __init__(
        self,
        num_types: int,
        num_charges: int,
        num_bond_types: int = NUM_BOND_TYPES,
        *,
        discrete: str = "masked",
        discrete_schedule: str = "linear",
        discrete_stochasticity: float = 0.0,
        discrete_temperature: float = 1.0,
        onehot_scale: float = 0.25,
        loss_weights: dict[str, float] | None = None,
        time_dist: str = "uniform",
        class_loss: str = "all",
        valence: str = "off",
        valence_caps: Tensor | None = None,
        kekule: bool = False,
        refine_time: float | None = None,
        refine_passes: int = 1,
    ) -> None:
        self.num_classes = {"atom_type": num_types, "charge": num_charges, "bond": num_bond_types}
        self.continuous_classes = discrete == "continuous"
        self.onehot_scale = onehot_scale
        self.cat = (
            {}
            if self.continuous_classes
            else {
                f: Categorical(k, discrete, discrete_schedule, discrete_stochasticity, discrete_temperature)
                for f, k in self.num_classes.items()
            }
        )
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(
                f"unknown loss weight(s) {sorted(unknown)}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}"
            )
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        if time_dist not in TIME_DISTS:
            raise ValueError(f"unknown time_dist {time_dist!r}; choose one of {', '.join(TIME_DISTS)}")
        self.time_dist = time_dist
        if class_loss not in ("all", "masked"):
            raise ValueError(f"unknown class_loss {class_loss!r}; choose all or masked")
        if class_loss == "masked" and discrete != "masked":
            raise ValueError(f"class_loss 'masked' needs discrete 'masked', not {discrete!r}")
        self.class_loss = class_loss
        if valence is False:  # YAML 1.1 reads ``off`` as false
            valence = "off"
        if valence not in VALENCE_MODES:
            raise ValueError(f"unknown valence {valence!r}; choose one of {', '.join(VALENCE_MODES)}")
        if valence != "off" and (valence_caps is None or self.continuous_classes):
            raise ValueError(f"valence {valence!r} needs the vocabulary's valence caps and a discrete mode")
        self.valence, self.valence_caps, self.kekule = valence, valence_caps, kekule
        if refine_time is not None and (isinstance(refine_time, bool) or not isinstance(refine_time, int | float)
                                        or not 0 < refine_time <= 1):
            raise ValueError(f"refine_time must be null (off) or a time in (0, 1], got {refine_time!r}")
        if isinstance(refine_passes, bool) or not isinstance(refine_passes, int) or refine_passes < 1:
            raise ValueError(f"refine_passes must be an integer >= 1, got {refine_passes!r}")
        self.refine_times = () if refine_time is None else (float(refine_time),) * refine_passes

    # ---- what a subclass defines -------------------------------------------------------------
    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(a(t), b(t)) of x_t = a x_1 + b ε, same shape as ``t``."""
        raise NotImplementedError

    def time_grid(self, steps: int, device: torch.device | str | None = None) -> Tensor:
        """[steps + 1] float64 times from exactly 0 to exactly 1."""
        raise NotImplementedError

    def _continuous_step(
        self, x: Tensor, x_hat: Tensor, t: float, s: float, noise: Callable[[], Tensor]
    ) -> Tensor:
        """Move a continuous variable from t to s given the clean prediction; ``noise()`` draws fresh ε."""
        raise NotImplementedError

    def _pos_weight(self, t: Tensor) -> Tensor:
        """[B] weight of the coordinate loss."""
        raise NotImplementedError

    def _couple(self, clean: MolState, eps: Tensor) -> Tensor:
        """Hook for couplings of prior noise and data (flow OT); identity here."""
        return eps

    # ---- shared machinery ----------------------------------------------------------------------
    def sample_time(
        self,
        num_graphs: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Training times ``[B]`` in [0, 1)."""
        if self.time_dist == "logit_normal":
            z = torch.randn(num_graphs, generator=generator, device=device)
            return torch.sigmoid(z).clamp(max=1 - 1e-6)
        u = torch.rand(num_graphs, generator=generator, device=device)
        if self.time_dist == "beta":
            return time_quantile(u, "beta").to(u.dtype).clamp(max=1 - 1e-6)
        return u

    def _items(self, state: MolState, field: str) -> tuple[Tensor, Tensor]:
        """(graph index, fixed mask) of the items of a class field: atoms, or pairs for bonds."""
        if field == "bond":
            return state.pair_batch, state.pair_fixed
        return state.batch, state.fixed

    def pos_noise(self, state: MolState, generator: torch.Generator | None = None) -> Tensor:
        """[N, 3] standard normal noise on free atoms minus each graph's free-atom mean; 0 on fixed atoms."""
        eps = torch.randn(
            state.pos.shape, generator=generator, dtype=state.pos.dtype, device=state.pos.device
        )
        free = ~state.fixed
        mean, _ = masked_graph_mean(eps, state.batch, free, state.num_graphs)
        return torch.where(free[:, None], eps - mean[state.batch], torch.zeros_like(eps))

    def project(self, pos: Tensor, state: MolState) -> Tensor:
        """Shift the free atoms of graphs without fixed atoms so their CoM is ``center``: [N, 3]."""
        mean, _ = masked_graph_mean(pos, state.batch, ~state.fixed, state.num_graphs)
        shift = torch.where(state.anchored[:, None], torch.zeros_like(mean), mean - state.center)
        return torch.where(state.fixed[:, None], pos, pos - shift[state.batch])

    def represent(self, classes: Tensor, field: str) -> Tensor:
        """Clean classes ``[M]`` long in this process's representation (long, or scaled one-hot floats)."""
        if not self.continuous_classes:
            return classes
        return self.onehot_scale * F.one_hot(classes, self.num_classes[field]).float()

    def _class_noise(self, state: MolState, field: str, generator: torch.Generator | None) -> Tensor:
        n, k = getattr(state, field).shape[0], self.num_classes[field]
        if self.continuous_classes:
            return torch.randn(n, k, generator=generator, dtype=state.pos.dtype, device=state.pos.device)
        return self.cat[field].prior(n, state.pos.device, generator)

    def impose_fixed(self, state: MolState, template: MolState) -> MolState:
        """Fixed atoms (pos, classes) and fixed pairs (bond; 0 on context pairs) set from a clean template."""
        changes = {"pos": torch.where(state.fixed[:, None], template.pos.to(state.pos.dtype), state.pos)}
        for field, _, _ in CLASS_FIELDS:
            _, fixed = self._items(state, field)
            clean = self.represent(getattr(template, field), field)
            cur = getattr(state, field)
            m = fixed if cur.dim() == 1 else fixed[:, None]
            changes[field] = torch.where(m, clean.to(cur.dtype), cur)
        return state.replace(**changes)

    def prior(self, template: MolState, generator: torch.Generator | None = None) -> MolState:
        """The state at t = 0: free atoms' coordinates ``center + ε`` (ε from :meth:`pos_noise`),
        classes from the categorical prior (masked / uniform) or N(0, I) (continuous); fixed atoms
        and pairs from ``template``. Draw order (coordinates first) matches :meth:`corrupt`.
        """
        eps = self.pos_noise(template, generator)
        state = template.replace(pos=template.center[template.batch] + eps)
        for field, _, _ in CLASS_FIELDS:
            state = state.replace(**{field: self._class_noise(template, field, generator)})
        return self.impose_fixed(state, template)

    def corrupt(self, clean: MolState, t: Tensor, generator: torch.Generator | None = None) -> MolState:
        """Noisy state at time t: x_t = center + a(t) (x_1 − center) + b(t) ε on free atoms.

        Args:
            clean: data state, classes as long.
            t: [B] float in [0, 1].

        Returns:
            The state at t in this process's representation; fixed atoms and pairs clean.
        """
        rel = clean.pos - clean.center[clean.batch]
        eps = self._couple(clean, self.pos_noise(clean, generator))
        a, b = self.coefficients(t.to(clean.pos.dtype)[clean.batch])
        pos = clean.pos + (a - 1)[:, None] * rel + b[:, None] * eps  # exact data where a = 1, b = 0
        changes = {"pos": pos}
        for field, _, _ in CLASS_FIELDS:
            index, _ = self._items(clean, field)
            x1 = getattr(clean, field)
            if self.continuous_classes:
                noise = self._class_noise(clean, field, generator)
                at, bt = self.coefficients(t.to(noise.dtype)[index])
                changes[field] = at[:, None] * self.represent(x1, field).to(noise.dtype) + bt[:, None] * noise
            else:
                changes[field] = self.cat[field].corrupt(x1, t[index], generator)
        return self.impose_fixed(clean.replace(**changes), clean)

    def _features(self, x: Tensor, k: int) -> Tensor:
        """[M, K + 1] network features: one-hot with a "masked" last column, or continuous + zero column."""
        if x.dim() == 1:
            return F.one_hot(x, k + 1).float()
        return torch.cat([x, torch.zeros_like(x[:, :1])], -1)

    def model_input(
        self, state: MolState, t: Tensor, self_cond: DenoiserOutput | None = None
    ) -> DenoiserInput:
        """The network's view of a state: directed complete graph ``[2, 2U] = cat(pairs, pairs.flip(0))``,
        features with the masked column, ``context_mask = fixed`` (all held atoms)."""
        dtype = state.pos.dtype
        e = self._features(state.bond, self.num_classes["bond"]).to(dtype)
        return DenoiserInput(
            pos=state.pos,
            h_type=self._features(state.atom_type, self.num_classes["atom_type"]).to(dtype),
            h_charge=self._features(state.charge, self.num_classes["charge"]).to(dtype),
            edge_index=torch.cat([state.pairs, state.pairs.flip(0)], 1),
            e_bond=torch.cat([e, e], 0),
            t=t.to(dtype),
            batch=state.batch,
            num_graphs=state.num_graphs,
            context_mask=state.fixed,
            node_attr=state.node_attr,
            self_cond=self_cond,
            paired=True,
        )

    @staticmethod
    def pair_logits(bond_logits: Tensor, num_pairs: int) -> Tensor:
        """[2U, K] directed-edge logits -> [U, K] pair logits (mean of the two directions)."""
        return 0.5 * (bond_logits[:num_pairs] + bond_logits[num_pairs:])

    def _logits(self, out: DenoiserOutput, state: MolState, logit_field: str) -> Tensor:
        x = getattr(out, logit_field)
        return self.pair_logits(x, state.pairs.shape[1]) if logit_field == "bond_logits" else x

    @staticmethod
    def _graph_mean(values: Tensor, index: Tensor, mask: Tensor, num_graphs: int) -> Tensor:
        """Mean over each graph's masked items, then over graphs with at least one item: scalar."""
        mean, count = masked_graph_mean(values[:, None], index, mask, num_graphs)
        has = count > 0
        if not has.any():
            return values.sum() * 0.0
        return mean[has, 0].mean()

    def loss(self, out: DenoiserOutput, clean: MolState, noisy: MolState, t: Tensor) -> dict[str, Tensor]:
        """Training losses (scalars): ``loss`` (weighted sum), ``loss_pos`` (Å², weighted by w(t)),
        ``loss_type``, ``loss_charge``, ``loss_bond`` (cross-entropy, nats).

        Args:
            out: network output on ``model_input(noisy, t)``.
            clean: the data state (classes long).
            noisy: the state the network saw (``corrupt(clean, t)``); the targets here do not depend
                on it, it is part of the interface for processes whose targets do.
            t: [B] float.

        With ``class_loss="masked"`` a categorical loss is the mean over each graph's masked items,
        then over the graphs that have any.
        """
        free = ~clean.fixed
        x_hat = self.project(out.pos, clean)
        err = (x_hat - clean.pos).pow(2).sum(-1) * self._pos_weight(t.to(out.pos.dtype))[clean.batch]
        losses = {"loss_pos": self._graph_mean(err, clean.batch, free, clean.num_graphs)}
        for field, logit_field, key in CLASS_FIELDS:
            index, fixed = self._items(clean, field)
            ce = F.cross_entropy(
                self._logits(out, clean, logit_field), getattr(clean, field), reduction="none"
            )
            scored = ~fixed
            if self.class_loss == "masked":
                scored = scored & (getattr(noisy, field) == self.cat[field].mask_index)
            losses[f"loss_{key}"] = self._graph_mean(ce, index, scored, clean.num_graphs)
        w = self.loss_weights
        keys = ["pos", "type", "charge", "bond"]
        if w["geom"] > 0:
            keys.append("geom")
            losses["loss_geom"] = local_distance_loss(x_hat, clean, t >= GEOM_T_MIN)
        if w["contact"] > 0:
            keys.append("contact")
            losses["loss_contact"] = contact_loss(x_hat, clean, t >= GEOM_T_MIN)
        losses["loss"] = sum(w[k] * losses[f"loss_{k}"] for k in keys)
        return losses

    def _continuous_parts(
        self, state: MolState, out: DenoiserOutput
    ) -> dict[str, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """name -> (current value, clean prediction, free mask [M], origin) of every continuous variable.

        Coordinates are given relative to ``center`` (origin = center per atom): the diffusion
        update scales them, which is only translation-equivariant about the frame's centre.
        """
        c = state.center[state.batch]
        parts = {"pos": (state.pos - c, self.project(out.pos, state) - c, ~state.fixed, c)}
        if self.continuous_classes:
            for field, logit_field, _ in CLASS_FIELDS:
                _, fixed = self._items(state, field)
                probs = torch.softmax(self._logits(out, state, logit_field).to(state.pos.dtype), -1)
                x = getattr(state, field)
                parts[field] = (x, self.onehot_scale * probs, ~fixed, torch.zeros_like(x))
        return parts

    def _noise_for(
        self, name: str, state: MolState, generator: torch.Generator | None
    ) -> Callable[[], Tensor]:
        if name == "pos":
            return lambda: self.pos_noise(state, generator)
        return lambda: self._class_noise(state, name, generator)

    def step(
        self,
        state: MolState,
        out: DenoiserOutput,
        t: float,
        t_next: float,
        generator: torch.Generator | None = None,
        denoise: Denoise | None = None,
    ) -> MolState:
        """One sampler step from t to t_next (> t) given the network output at (state, t).

        Continuous variables move by the subclass's update; categorical ones jump as in
        :mod:`molgen.processes.discrete`. Fixed atoms and pairs do not move. ``denoise(state, t)``
        evaluates the network again (used by second-order integrators only).
        """
        changes = {}
        for name, (x, x_hat, free, origin) in self._continuous_parts(state, out).items():
            x_new = self._continuous_step(
                x, x_hat, float(t), float(t_next), self._noise_for(name, state, generator)
            )
            changes[name] = torch.where(free[:, None], x_new + origin, getattr(state, name))
        for field, logit_field, _ in () if self.continuous_classes else CLASS_FIELDS:
            _, fixed = self._items(state, field)
            x = getattr(state, field)
            new = self.cat[field].step(
                x, self._logits(out, state, logit_field), float(t), float(t_next), generator
            )
            changes[field] = torch.where(fixed, x, new)
        state = state.replace(**changes)
        if self.valence == "steps":
            state = self.constrain_valence(state, out)
        return state

    def refine(self, state: MolState, out: DenoiserOutput) -> MolState:
        """The state with its free atoms at the network's clean prediction (CoM-projected like every
        step's x̂); types, charges, bonds and fixed atoms unchanged. ``out`` is the network's output at
        (state, ``refine_time``)."""
        return state.replace(pos=torch.where(state.fixed[:, None], state.pos, self.project(out.pos, state)))

    def constrain_valence(self, state: MolState, out: DenoiserOutput) -> MolState:
        """The state with its decided bonds decoded under the valence caps (:mod:`molgen.processes.valence`):
        only ligand–ligand pairs that are not fixed change; atoms whose type or charge is still masked
        are not constrained. With ``kekule``, aromatic bonds are first made single or double."""
        ligand = ~(state.context[state.pairs[0]] | state.context[state.pairs[1]])
        logits = self._logits(out, state, "bond_logits")[ligand]
        movable, bond, classes = ~state.pair_fixed[ligand], state.bond[ligand], None
        if self.kekule:
            bond = kekule_bonds(bond, logits, movable)
            classes = torch.arange(logits.shape[-1], device=bond.device) != AROMATIC
        cap = atom_caps(state.atom_type, state.charge, self.valence_caps, ~state.context)
        bond = repair_valence(bond, logits, state.pairs[:, ligand], cap, movable, classes)
        return state.replace(bond=state.bond.masked_scatter(ligand, bond))

    def finalize(self, state: MolState, out: DenoiserOutput | None = None) -> MolState:
        """Final state with class indices: argmax of continuous class vectors; masked tokens left
        (none after a step to t = 1) decoded by the argmax of ``out``'s logits."""
        changes = {}
        for field, logit_field, _ in CLASS_FIELDS:
            x = getattr(state, field)
            if x.dim() == 2:
                changes[field] = x.argmax(-1)
            else:
                logits = None if out is None else self._logits(out, state, logit_field)
                changes[field] = self.cat[field].finalize(x, logits)
        state = state.replace(**changes)
        if self.valence != "off" and out is not None:
            state = self.constrain_valence(state, out)
        return state


PROCESSES: dict[str, type[GenerativeProcess]] = {}


def local_pairs(state: MolState) -> Tensor:
    """``[2, L]`` long: the free bonded pairs of the clean graph (1-2) and the pairs two bonds apart (1-3).

    A pair enters when its bond state is free (not both atoms fixed, no context atom). The 1-3 pairs
    are the ends of every two bonds that share an atom, so their distances fix the bond angles; a
    pair may be both 1-2 and 1-3 (three-membered rings) and then enters twice.
    """
    bonded = state.pairs[:, (state.bond > 0) & ~state.pair_fixed]
    src = torch.cat([bonded[0], bonded[1]])  # directed bonds, grouped by their centre atom
    order = torch.argsort(src, stable=True)
    src, dst = src[order], torch.cat([bonded[1], bonded[0]])[order]
    deg = torch.bincount(src, minlength=state.num_atoms)
    first = torch.cumsum(deg, 0) - deg  # index of each atom's first directed bond
    reps = deg[src]  # every directed bond meets every bond of its centre: sum of deg² items, not E²
    e1 = torch.repeat_interleave(torch.arange(src.numel(), device=src.device), reps)
    offset = torch.arange(e1.numel(), device=src.device) - torch.repeat_interleave(torch.cumsum(reps, 0) - reps, reps)
    e2 = first[src[e1]] + offset
    keep = dst[e1] < dst[e2]
    return torch.cat([bonded, torch.stack([dst[e1[keep]], dst[e2[keep]]])], dim=1)


def local_distance_loss(x_hat: Tensor, clean: MolState, graphs: Tensor) -> Tensor:
    """Local geometry: (|x̂_i − x̂_j| − |x_i − x_j|)² (Å²) over :func:`local_pairs`, a mean per graph,
    then over the graphs selected by ``graphs [B]`` bool that have such pairs: scalar.

    The coordinate loss weighs every atom's error alike, so a prediction 0.1 Å off everywhere costs
    the same whether it keeps the bonds or bends them; this term scores only the bond lengths and
    angles (through 1-3 distances), which is what strain checks (PoseBusters' internal energy, bond
    lengths and angles) see. Distances are E(3)-invariant, so the term is too. Needs long classes.
    """
    pairs = local_pairs(clean)
    d_hat = (x_hat[pairs[0]] - x_hat[pairs[1]]).norm(dim=-1)
    d = (clean.pos[pairs[0]] - clean.pos[pairs[1]]).norm(dim=-1)
    index = clean.batch[pairs[0]]
    return GenerativeProcess._graph_mean((d_hat - d).pow(2), index, graphs[index], clean.num_graphs)


def free_context_pairs(state: MolState) -> tuple[Tensor, Tensor]:
    """``(i, j)`` long: every state pair of a free ligand atom ``i`` and a context (pocket) atom ``j``."""
    a, b = state.pairs[:, state.pair_context]
    ligand_first = ~state.context[a]
    i, j = torch.where(ligand_first, a, b), torch.where(ligand_first, b, a)
    free = ~state.fixed[i]
    return i[free], j[free]


def contact_loss(x_hat: Tensor, clean: MolState, graphs: Tensor) -> Tensor:
    """Ligand–pocket contacts: Σ max(0, min(d_ij, D) − d̂_ij)² (Å²) over the pairs of a free ligand atom
    i and a context (pocket) atom j of one graph, divided by the graph's free atoms; a mean over the
    graphs selected by ``graphs [B]`` bool that have free and context atoms: scalar.

    d_ij is the data's distance, d̂_ij the distance of the prediction x̂_i to the pocket atom (which
    never moves), D = :data:`CONTACT_DISTANCE`. A predicted atom is free to sit anywhere at least as
    far from every pocket atom as the data's ligand atom is, or D, whichever is shorter: only an
    approach closer than that costs. It is the flat-bottom clash term of sampling-time guidance
    (:func:`molgen.sampling.guidance.pocket_energy`) with the contact distance taken from the data,
    so a crystal hydrogen bond at 2.7 Å is not penalised. The coordinate loss weighs a 0.5 Å error
    alike whether it points into the protein or away from it; this term sees only the first kind,
    which is what PoseBusters' protein-clash check fails. Distances: E(3)-invariant.
    """
    i, j = free_context_pairs(clean)
    d = (clean.pos[i] - clean.pos[j]).norm(dim=-1)
    d_hat = (x_hat[i] - clean.pos[j]).norm(dim=-1)
    pen = (d.clamp(max=CONTACT_DISTANCE) - d_hat).clamp(min=0).pow(2)
    per_graph = x_hat.new_zeros(clean.num_graphs).index_add(0, clean.batch[i], pen)
    n_free = torch.bincount(clean.batch[~clean.fixed], minlength=clean.num_graphs)
    has_context = torch.bincount(clean.batch[clean.context], minlength=clean.num_graphs) > 0
    selected = graphs & has_context & (n_free > 0)
    if not bool(selected.any()):
        return x_hat.sum() * 0.0
    return (per_graph[selected] / n_free[selected].to(x_hat.dtype)).mean()


def register_process(name: str) -> Callable[[type[GenerativeProcess]], type[GenerativeProcess]]:
    """Class decorator: make a process available as ``process: {name: NAME}`` in configs."""

    def deco(cls: type[GenerativeProcess]) -> type[GenerativeProcess]:
        cls.name = name
        PROCESSES[name] = cls
        return cls

    return deco


def build_process(name: str, num_types: int, num_charges: int, **kwargs) -> GenerativeProcess:
    """Instantiate a registered process by name with the ``process:`` section's keyword arguments."""
    import molgen.processes  # noqa: F401  (registers diffusion and flow)

    try:
        cls = PROCESSES[name]
    except KeyError:
        raise ValueError(f"unknown process {name!r}; known: {sorted(PROCESSES)}") from None
    try:
        return cls(num_types, num_charges, **kwargs)
    except TypeError as err:
        raise ValueError(f"process {name!r}: {err}") from None
