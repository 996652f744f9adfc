"""Gaussian diffusion in continuous time, variance preserving (t = 0 noise, t = 1 data).

Forward process (Ho et al. 2020; Kingma et al. 2021, VDM; Hoogeboom et al. 2022, EDM for molecules):
x_t = alpha_t x_1 + sigma_t ε with alpha_t² + sigma_t² = 1, alpha going 0 -> 1 as t goes 0 -> 1
(schedules in :mod:`molgen.processes.schedules`); ε is zero-CoM noise on the free atoms.

The network always predicts the clean coordinates x̂ (interface of ``molgen.models``). The
ε-parametrisation is read off it, ε̂ = (x_t − alpha_t x̂) / sigma_t, so ‖ε̂ − ε‖² = SNR(t) ‖x̂ − x‖²
with SNR = alpha² / sigma²; the ``weighting`` option picks the loss:

* ``snr`` (default): x0-loss weighted by the truncated SNR, clamp(SNR, 1, snr_clip)
  (Salimans & Ho 2022 "max(SNR, 1)", clipped above because x̂ is the network's output).
* ``eps``: ‖ε̂ − ε‖², i.e. weight min(SNR, snr_clip); with ``snr_clip=None`` this is EDM's
  L_simple exactly (use it with the polynomial schedule, whose SNR stays below 1e5).
* ``x0``: plain ‖x̂ − x‖² (weight 1).

Sampler step t -> s (> t), generalised DDIM (Song et al. 2021) written with x̂ and ε̂:
with alpha_{t|s} = alpha_t / alpha_s, sigma²_{t|s} = sigma_t² − alpha²_{t|s} sigma_s², the posterior
q(x_s | x_t, x̂) has variance v = sigma²_{t|s} sigma_s² / sigma_t², and

    x_s = alpha_s x̂ + sqrt(sigma_s² − eta² v) ε̂ + eta sqrt(v) z,    z ~ N(0, I) (zero-CoM for coordinates).

``eta = 1`` is the ancestral (DDPM, reverse-SDE) sampler, exactly the posterior mean
(alpha_{t|s} sigma_s² / sigma_t²) x_t + (alpha_s sigma²_{t|s} / sigma_t²) x̂ plus its noise;
``eta = 0`` is deterministic DDIM, the first-order exponential integrator of the probability-flow
ODE. The last step (s = 1) returns x̂, the mean of p(x_1 | x_t), as EDM does. Any number of steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from molgen.chem.vocab import NUM_BOND_TYPES
from molgen.processes.base import GenerativeProcess, register_process
from molgen.processes.schedules import VPSchedule, karras_grid, uniform_grid

SAMPLERS = {"ancestral": 1.0, "ddim": 0.0}


@register_process("diffusion")
class GaussianDiffusion(GenerativeProcess):
    """Variance-preserving Gaussian diffusion for coordinates (and continuous one-hot classes).

    Args:
        num_types, num_charges, num_bond_types: T, C, K.
        schedule: ``cosine`` (default) or ``polynomial`` (EDM, with its step-ratio clipping).
        cosine_s: offset of the cosine schedule.
        poly_power, poly_precision, poly_clip: p, s and the step-ratio clip of the polynomial schedule.
        weighting: coordinate loss, ``snr`` (default), ``eps`` or ``x0`` (module docstring).
        snr_clip: upper clip of the SNR weights (None: no clip).
        sampler: ``ancestral`` (eta = 1, default) or ``ddim`` (eta = 0).
        eta: overrides the sampler's eta (0 <= eta <= 1 interpolates).
        grid: sampling time grid, ``uniform`` or ``karras`` (rho spacing of sigma / alpha).
        rho: exponent of the ``karras`` grid.
        **common: ``discrete``, ``discrete_schedule``, ``onehot_scale``, ``loss_weights``,
            ``time_dist`` of :class:`~molgen.processes.base.GenerativeProcess`.
    """

    def __init__(
        self,
        num_types: int,
        num_charges: int,
        num_bond_types: int = NUM_BOND_TYPES,
        *,
        schedule: str = "cosine",
        cosine_s: float = 0.008,
        poly_power: float = 2.0,
        poly_precision: float = 1e-5,
        poly_clip: float = 0.001,
        weighting: str = "snr",
        snr_clip: float | None = 5.0,
        sampler: str = "ancestral",
        eta: float | None = None,
        grid: str = "uniform",
        rho: float = 7.0,
        **common,
    ) -> None:
        super().__init__(num_types, num_charges, num_bond_types, **common)
        self.schedule = VPSchedule(
            schedule, cosine_s=cosine_s, power=poly_power, precision=poly_precision, clip_value=poly_clip
        )
        if weighting not in ("snr", "eps", "x0"):
            raise ValueError(f"unknown weighting {weighting!r}; choose snr, eps or x0")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown diffusion sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
        if grid not in ("uniform", "karras"):
            raise ValueError(f"unknown diffusion grid {grid!r}; choose uniform or karras")
        self.weighting, self.snr_clip, self.sampler = weighting, snr_clip, sampler
        self.eta = SAMPLERS[sampler] if eta is None else float(eta)
        self.grid, self.rho = grid, rho

    def coefficients(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha_t, sigma_t)."""
        return self.schedule.alpha_sigma(t)

    def time_grid(self, steps: int, device: torch.device | str | None = None) -> Tensor:
        grid = uniform_grid(steps) if self.grid == "uniform" else karras_grid(steps, self.schedule, self.rho)
        return grid.to(device)

    def _pos_weight(self, t: Tensor) -> Tensor:
        if self.weighting == "x0":
            return torch.ones_like(t)
        snr = self.schedule.snr(t)
        if self.weighting == "snr":
            snr = snr.clamp(min=1.0)
        return snr if self.snr_clip is None else snr.clamp(max=self.snr_clip)

    def _continuous_step(
        self, x: Tensor, x_hat: Tensor, t: float, s: float, noise: Callable[[], Tensor]
    ) -> Tensor:
        if s >= 1:
            return x_hat
        (a_t, a_s), (s_t, s_s) = (
            v.tolist() for v in self.schedule.alpha_sigma(torch.tensor([t, s], dtype=torch.float64))
        )
        if s_t <= 0:
            return x_hat
        eps_hat = (x - a_t * x_hat) / s_t
        a_ts = a_t / a_s if a_s > 0 else 0.0  # both at alpha = 0: the state stays pure noise
        var_ts = max(s_t**2 - a_ts**2 * s_s**2, 0.0)
        noise_var = self.eta**2 * var_ts * s_s**2 / s_t**2
        x_s = a_s * x_hat + max(s_s**2 - noise_var, 0.0) ** 0.5 * eps_hat
        return x_s + noise_var**0.5 * noise() if noise_var > 0 else x_s
