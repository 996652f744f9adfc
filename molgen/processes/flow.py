"""Flow matching with the linear interpolant (t = 0 noise, t = 1 data).

Lipman et al. 2023 ("Flow Matching"), Liu et al. 2023 (rectified flow); for molecules Song et al.
2023 (EquiFM) and Irwin et al. 2024 (SemlaFlow). With x_0 from the prior and x_1 the data,

    x_t = (1 − t) x_0 + t x_1,        u_t = x_1 − x_0 = (x_1 − x_t) / (1 − t).

The network predicts the endpoint x̂_1 ≈ E[x_1 | x_t]; the marginal velocity is
v(x_t, t) = (x̂_1 − x_t) / (1 − t), with 1 − t floored at 1e-12 and the Euler fraction
(s − t) / (1 − t) capped at 1, so a step to t = 1 lands on x̂_1 exactly. Loss on the endpoint,
w(t) ‖x̂_1 − x_1‖², with ``time_weighting`` ``none`` (w = 1, default) or ``velocity``
(w = 1 / (1 − t)², clipped at ``weight_clip``: the velocity-matching loss ‖v̂ − u‖²) or ``flowmol``
(w = t / (1 − t) clamped to [0.05, 1.5], FlowMol, Dunn & Koes 2024).

Coupling: ``ot`` aligns each graph's prior sample to its data by permutation and/or Kabsch
rotation (:mod:`molgen.processes.ot`) before interpolating; sampling is unchanged (the prior).

Stochastic sampling (``pos_stochasticity`` γ ≥ 0, Euler only): the SDE with the same marginals as the
flow (Albergo, Boffi & Vanden-Eijnden 2023, stochastic interpolants; Ma et al. 2024, SiT),
dx = [v + (g²/2) ∇log p_t] dt + g dW with g² = 2γ(1 − t). With the linear interpolant the score is
−ε̂ / (1 − t), ε̂ = (x_t − t x̂_1) / (1 − t) the predicted prior sample, so one Euler–Maruyama step is
x + h (v − γ ε̂) + sqrt(2γ (1 − t) h) z, z prior-shaped noise (zero CoM); the step that ends at t = 1
stays deterministic and lands on x̂_1. Like the categorical ``discrete_stochasticity``, the noise lets
the sampler correct earlier errors; γ = 0 (default) is the deterministic flow.

Integrators: ``euler`` (one network call per step) and ``heun`` (Heun's second-order method: a
second call at the Euler prediction, trapezoidal average of the two velocities; the step that
ends at t = 1 is an Euler step since v is singular there). Categorical variables jump once per
step, before the Heun correction, which sees the jumped classes. Time grids: ``uniform``,
``power`` (t_k = 1 − (1 − k/n)^p, default p = 2), ``log`` (1 − t log-spaced down to
``grid_min_gap``), the last two denser near the data, where the velocity changes fastest, or
``matched``: the quantiles of the training time distribution (``time_dist``), so that every step
covers 1/n of the times the network was trained on. Under logit-normal training times the power grid
spends 6 of 20 steps above t = 0.9, where 1 % of the training times lie, and the network's x̂₁ is worst
there: the grid and the training distribution are one decision.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from molgen.chem.vocab import NUM_BOND_TYPES
from molgen.models.base import DenoiserOutput
from molgen.processes.base import Denoise, GenerativeProcess, register_process
from molgen.processes.ot import align_prior
from molgen.processes.schedules import log_grid, power_grid, quantile_grid, uniform_grid
from molgen.processes.state import MolState

OT_MODES = {
    "none": (False, False),
    "permutation": (True, False),
    "rotation": (False, True),
    "full": (True, True),
}


@register_process("flow")
class FlowMatching(GenerativeProcess):
    """Conditional flow matching with a linear interpolant, optional equivariant OT coupling.

    Args:
        num_types, num_charges, num_bond_types: T, C, K.
        integrator: ``euler`` (default) or ``heun``.
        grid: sampling time grid, ``power`` (default), ``log``, ``uniform`` or ``matched``
            (quantiles of ``time_dist``).
        grid_power: exponent of the ``power`` grid.
        grid_min_gap: smallest 1 − t before the last step of the ``log`` grid.
        ot: coupling, ``none``/False (independent), ``permutation``, ``rotation`` or ``full``/True.
        time_weighting: ``none`` (default), ``velocity`` or ``flowmol``.
        weight_clip: upper clip of the ``velocity`` weight.
        pos_stochasticity: γ of the stochastic sampler (sampling only, Euler only; 0 = the ODE).
        **common: ``discrete``, ``discrete_schedule``, ``onehot_scale``, ``loss_weights``,
            ``time_dist`` of :class:`~molgen.processes.base.GenerativeProcess`.
    """

    def __init__(
        self,
        num_types: int,
        num_charges: int,
        num_bond_types: int = NUM_BOND_TYPES,
        *,
        integrator: str = "euler",
        grid: str = "power",
        grid_power: float = 2.0,
        grid_min_gap: float = 1e-3,
        ot: bool | str | None = False,
        time_weighting: str = "none",
        weight_clip: float = 100.0,
        pos_stochasticity: float = 0.0,
        **common,
    ) -> None:
        super().__init__(num_types, num_charges, num_bond_types, **common)
        if not pos_stochasticity >= 0:
            raise ValueError(f"pos_stochasticity must be >= 0, got {pos_stochasticity}")
        if pos_stochasticity > 0 and integrator != "euler":
            raise ValueError("pos_stochasticity needs the euler integrator (heun would discard the noise)")
        self.pos_stochasticity = float(pos_stochasticity)
        if integrator not in ("euler", "heun"):
            raise ValueError(f"unknown integrator {integrator!r}; choose euler or heun")
        if grid not in ("uniform", "power", "log", "matched"):
            raise ValueError(f"unknown flow grid {grid!r}; choose uniform, power, log or matched")
        if ot is None or isinstance(ot, bool):
            ot = "full" if ot else "none"
        if ot not in OT_MODES:
            raise ValueError(f"unknown ot {ot!r}; choose one of {sorted(OT_MODES)}")
        if time_weighting not in ("none", "velocity", "flowmol"):
            raise ValueError(f"unknown time_weighting {time_weighting!r}; choose none, velocity or flowmol")
        self.integrator, self.grid, self.grid_power, self.grid_min_gap = (
            integrator,
            grid,
            grid_power,
            grid_min_gap,
        )
        self.ot, self.time_weighting, self.weight_clip = ot, time_weighting, weight_clip

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(t, 1 − t)."""
        return t, 1 - t

    def time_grid(self, steps: int, device: torch.device | str | None = None) -> Tensor:
        if self.grid == "power":
            grid = power_grid(steps, self.grid_power)
        elif self.grid == "log":
            grid = log_grid(steps, self.grid_min_gap)
        elif self.grid == "matched":
            grid = quantile_grid(steps, self.time_dist)
        else:
            grid = uniform_grid(steps)
        return grid.to(device)

    def _pos_weight(self, t: Tensor) -> Tensor:
        if self.time_weighting == "none":
            return torch.ones_like(t)
        if self.time_weighting == "flowmol":
            return (t / (1 - t).clamp(min=1e-12)).clamp(0.05, 1.5)
        return (1 - t).clamp(min=1e-12).pow(-2).clamp(max=self.weight_clip)

    def _couple(self, clean: MolState, eps: Tensor) -> Tensor:
        permute, rotate = OT_MODES[self.ot]
        if not (permute or rotate):
            return eps
        rel = clean.pos - clean.center[clean.batch]
        return align_prior(eps, rel, clean.batch, clean.num_graphs, ~clean.fixed, permute, rotate)

    def _continuous_step(
        self, x: Tensor, x_hat: Tensor, t: float, s: float, noise: Callable[[], Tensor]
    ) -> Tensor:
        gap = max(1.0 - t, 1e-12)
        gamma = self.pos_stochasticity
        if gamma == 0 or s >= 1:
            return x + min(1.0, (s - t) / gap) * (x_hat - x)
        h = s - t
        eps_hat = (x - t * x_hat) / gap
        return x + h * ((x_hat - x) / gap - gamma * eps_hat) + (2 * gamma * gap * h) ** 0.5 * noise()

    def step(
        self,
        state: MolState,
        out: DenoiserOutput,
        t: float,
        t_next: float,
        generator: torch.Generator | None = None,
        denoise: Denoise | None = None,
    ) -> MolState:
        euler = super().step(state, out, t, t_next, generator)
        if self.integrator == "euler" or t_next >= 1:
            return euler
        if denoise is None:
            raise ValueError("the heun integrator needs `denoise` to evaluate the network at t_next")
        h = t_next - t
        second = self._continuous_parts(euler, denoise(euler, t_next))
        changes = {}
        for name, (x, x_hat, free, origin) in self._continuous_parts(state, out).items():
            x2, x_hat2, _, _ = second[name]
            v = (x_hat - x) / max(1.0 - t, 1e-12) + (x_hat2 - x2) / max(1.0 - t_next, 1e-12)
            changes[name] = torch.where(free[:, None], x + 0.5 * h * v + origin, getattr(state, name))
        return euler.replace(**changes)
