"""Discrete processes in continuous time for atom types, charges and bond classes.

Mixture path (Campbell et al. 2024, "Generative Flows on Discrete State-Spaces" / Discrete Flow
Models; Gat et al. 2024, "Discrete Flow Matching"): given the data class x1, a token at time t is

    p_t(x | x1) = kappa(t) δ(x, x1) + (1 − kappa(t)) p_0(x),

with ``p_0`` the prior: the absorbing "masked" state M (``mode="masked"``, an extra class index K)
or the uniform distribution over the K classes (``mode="uniform"``). kappa(0) = 0, kappa(1) = 1.

Sampler step t -> s (> t): every eligible token jumps, with probability
c = (kappa(s) − kappa(t)) / (1 − kappa(t)), to a class drawn from the predicted clean-class
distribution p̂(x1 | x_t). Conditioned on x1 this reproduces p_s(· | x1) exactly for any step size
(jump-to-x1 keeps the mixture form: kappa_s = c + (1 − c) kappa_t), so with the exact posterior the
single-token marginals are exact at every grid point. For the masked mode only masked tokens are
eligible (unmasked tokens are final: absorbing process); for the uniform mode every token is. This is
the Euler step of the marginal rate u_t(j | x) = kappa'/(1 − kappa) (p̂(j | x) − δ(j, x)) taken in
its exact-per-token form.

Two sampling-time options (Campbell et al. 2024, section 3.3 and appendix): ``stochasticity`` η adds
detailed-balance noise, so that tokens already decided are reconsidered in the light of the rest of the
molecule: before the jump, every eligible token not at the prior is reset to a prior draw with
probability r = min(1, η (s − t)) (masked mode: remasked), which moves kappa_t to kappa' = (1 − r)
kappa_t, and the jump then uses c = (kappa(s) − kappa') / (1 − kappa'). Both operations keep the mixture
form, so the marginals stay exact at every grid point for any η; as s − t → 0 the rates are Campbell's
R^DB (remask rate η, extra unmask rate η kappa / (1 − kappa)). ``temperature`` τ draws from
softmax(logits / τ) instead of softmax(logits): τ < 1 sharpens, and is not exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from molgen.processes.schedules import kappa

MODES = ("masked", "uniform")


def sample_categorical(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One draw per row of ``probs [M, K]`` (rows need not be normalised) by inverse CDF: ``[M]`` long."""
    cdf = probs.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=probs.dtype)
    return (cdf < u * cdf[:, -1:]).sum(-1).clamp(max=probs.shape[-1] - 1)


class Categorical:
    """One categorical variable with K classes under the mixture path above.

    Args:
        num_classes: K.
        mode: ``masked`` (absorbing state, class index K) or ``uniform``.
        schedule: kappa schedule, ``linear`` or ``cosine``.
        stochasticity: η ≥ 0, the reset rate of decided tokens per unit time (0: none).
        temperature: τ > 0 of the jump distribution (1: the predicted posterior).
    """

    def __init__(
        self,
        num_classes: int,
        mode: str = "masked",
        schedule: str = "linear",
        stochasticity: float = 0.0,
        temperature: float = 1.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown discrete mode {mode!r}; choose one of {MODES} or 'continuous'")
        if not stochasticity >= 0:
            raise ValueError(f"discrete stochasticity must be >= 0, got {stochasticity}")
        if not temperature > 0:
            raise ValueError(f"discrete temperature must be > 0, got {temperature}")
        self.num_classes, self.mode, self.schedule = num_classes, mode, schedule
        self.stochasticity, self.temperature = float(stochasticity), float(temperature)
        kappa(0.0, schedule)  # fail early on an unknown schedule

    @property
    def mask_index(self) -> int | None:
        """Index of the masked state (K), or None for the uniform mode."""
        return self.num_classes if self.mode == "masked" else None

    def kappa(self, t: Tensor | float) -> Tensor:
        return kappa(t, self.schedule)

    def prior(self, num: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
        """[num] long draws from p_0."""
        if self.mode == "masked":
            return torch.full((num,), self.num_classes, dtype=torch.long, device=device)
        return torch.randint(self.num_classes, (num,), generator=generator, device=device)

    def corrupt(self, x1: Tensor, t: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw x_t ~ p_t(· | x1).

        Args:
            x1: [M] long, data classes.
            t: [M] float, time per token.
        """
        keep = torch.rand(x1.shape, generator=generator, device=x1.device, dtype=torch.float64) < self.kappa(
            t
        ).to(x1.device)
        return torch.where(keep, x1, self.prior(x1.numel(), x1.device, generator))

    def step(
        self, x: Tensor, logits: Tensor, t: float, s: float, generator: torch.Generator | None = None
    ) -> Tensor:
        """One sampler step t -> s.

        Args:
            x: [M] long, current classes (K = masked).
            logits: [M, K] float, predicted log p̂(x1 | x_t) (unnormalised).
            t, s: current and next time, s > t.
        """
        kt, ks = float(self.kappa(t)), float(self.kappa(s))
        if self.stochasticity > 0 and s > t:
            r = min(1.0, self.stochasticity * (s - t))
            x = self._reset(x, r, generator)
            kt *= 1 - r
        c = 1.0 if kt >= 1 else min(1.0, max(0.0, (ks - kt) / (1 - kt)))
        jump = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64) < c
        if self.mode == "masked":
            jump &= x == self.num_classes
        idx = jump.nonzero().squeeze(-1)
        if idx.numel() == 0:
            return x
        probs = torch.softmax(logits[idx].double() / self.temperature, -1)
        return x.index_put((idx,), sample_categorical(probs, generator))

    def _reset(self, x: Tensor, r: float, generator: torch.Generator | None) -> Tensor:
        """Send each token to a fresh prior draw with probability r (masked: remask the unmasked ones;
        a masked token is already at the prior)."""
        reset = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float64) < r
        return torch.where(reset, self.prior(x.numel(), x.device, generator), x)

    def finalize(self, x: Tensor, logits: Tensor | None) -> Tensor:
        """Replace any masked token left by the argmax of ``logits [M, K]``."""
        if self.mode != "masked":
            return x
        masked = x == self.num_classes
        if not masked.any():
            return x
        if logits is None:
            raise ValueError("masked tokens left and no logits to decode them")
        return torch.where(masked, logits.argmax(-1), x)
