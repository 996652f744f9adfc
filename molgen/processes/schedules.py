"""Noise schedules and sampling time grids (t = 0 noise, t = 1 data).

* Variance-preserving Gaussian schedules ``alpha(t)``, with ``sigma(t) = sqrt(1 - alpha(t)^2)``:

  - ``cosine`` (Nichol & Dhariwal 2021, "Improved DDPM"): with tau = 1 - t the diffusion time,
    alpha(t)^2 = cos^2(pi/2 (tau + s)/(1 + s)) / cos^2(pi/2 s/(1 + s)), s = 0.008. Exact endpoints:
    alpha(0) = 0 (pure noise), alpha(1) = 1 (data).
  - ``polynomial`` (Hoogeboom et al. 2022, "Equivariant Diffusion for Molecule Generation in 3D",
    EDM): alpha~(tau)^2 = (1 - tau^p)^2 on a grid of T = 1000 steps, each step ratio
    alpha~_k^2 / alpha~_{k-1}^2 clipped below at 0.001 (EDM's clipping, which keeps the last steps
    from destroying all signal at once), then alpha^2 = (1 - 2 s) alpha~^2 + s with precision
    s = 1e-5; linear interpolation in tau between grid points. Endpoints are not exact, as in EDM:
    sigma(1)^2 = s and alpha(0)^2 ~ s.

* Discrete unmasking/mixing schedules ``kappa(t)``, kappa(0) = 0, kappa(1) = 1: ``linear``
  (kappa = t) and ``cosine`` (kappa = 1 - cos(pi t / 2)).

* Time grids ``[steps + 1]`` from exactly 0 to exactly 1.

* Training time distributions on [0, 1] (:data:`TIME_DISTS`): ``uniform``; ``logit_normal``, the
  sigmoid of N(0, 1) (Esser et al. 2024); ``beta``, Beta(2, 1) with density 2t (SemlaFlow, Irwin et
  al. 2024), more training near the data. :func:`time_cdf` and :func:`time_quantile` give their CDF
  and inverse, so a sampling grid can put its steps where training put its mass
  (:func:`quantile_grid`: every step holds 1/steps of the training times).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class VPSchedule:
    """Variance-preserving schedule: ``alpha(t)``, ``sigma(t)``, ``snr(t) = alpha^2 / sigma^2``.

    Args:
        name: ``cosine`` or ``polynomial``.
        cosine_s: offset s of the cosine schedule.
        power: exponent p of the polynomial schedule (EDM uses 2).
        precision: s of the polynomial schedule (EDM uses 1e-5).
        clip_value: lower clip of the polynomial schedule's step ratio (EDM uses 0.001).
        grid_size: T, the grid the polynomial schedule is clipped on.
    """

    def __init__(
        self,
        name: str = "cosine",
        cosine_s: float = 0.008,
        power: float = 2.0,
        precision: float = 1e-5,
        clip_value: float = 0.001,
        grid_size: int = 1000,
    ) -> None:
        if name not in ("cosine", "polynomial"):
            raise ValueError(f"unknown diffusion schedule {name!r}; choose cosine or polynomial")
        self.name, self.cosine_s = name, cosine_s
        if name == "polynomial":
            tau = torch.linspace(0, 1, grid_size + 1, dtype=torch.float64)
            a2 = (1 - tau**power) ** 2
            ratio = (a2[1:] / a2[:-1]).clamp(min=clip_value, max=1.0)
            a2 = torch.cat([a2[:1], a2[0] * torch.cumprod(ratio, 0)])
            self._alpha2_grid = (1 - 2 * precision) * a2 + precision  # [T+1], indexed by tau

    def alpha(self, t: Tensor) -> Tensor:
        """alpha(t) for t in [0, 1] (any shape, float); 0 at the noise end, 1 at the data end."""
        tau = (1 - t.double()).clamp(0, 1)
        if self.name == "cosine":
            s = self.cosine_s
            a = torch.cos(0.5 * math.pi * (tau + s) / (1 + s)) / math.cos(0.5 * math.pi * s / (1 + s))
            a = torch.where(tau >= 1, 0.0, a.clamp(0, 1))  # exact ends: cos(pi/2) is 6e-17, not 0
            return torch.where(tau <= 0, 1.0, a).to(t.dtype)
        grid = self._alpha2_grid.to(t.device)
        x = tau * (grid.numel() - 1)
        lo = x.floor().long().clamp(max=grid.numel() - 2)
        w = x - lo
        return ((1 - w) * grid[lo] + w * grid[lo + 1]).sqrt().to(t.dtype)

    def alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha(t), sigma(t)) with alpha^2 + sigma^2 = 1."""
        a = self.alpha(t)
        return a, (1 - a * a).clamp(min=0).sqrt()

    def snr(self, t: Tensor) -> Tensor:
        """alpha^2 / sigma^2 (inf where sigma = 0)."""
        a, s = self.alpha_sigma(t)
        return a * a / (s * s)


def kappa(t: Tensor | float, schedule: str = "linear") -> Tensor:
    """Fraction of tokens that hold their data value at time t: kappa(0) = 0, kappa(1) = 1."""
    t = torch.as_tensor(t, dtype=torch.float64).clamp(0, 1)
    if schedule == "linear":
        return t
    if schedule == "cosine":
        return 1 - torch.cos(0.5 * math.pi * t)
    raise ValueError(f"unknown discrete schedule {schedule!r}; choose linear or cosine")


def uniform_grid(steps: int) -> Tensor:
    """[steps + 1] float64, evenly spaced from 0 to 1."""
    return torch.linspace(0, 1, steps + 1, dtype=torch.float64)


def power_grid(steps: int, power: float = 2.0) -> Tensor:
    """t_k = 1 - (1 - k / steps)^power: steps shrink towards the data end (t = 1) for power > 1."""
    return 1 - (1 - uniform_grid(steps)) ** power


def log_grid(steps: int, min_gap: float = 1e-3) -> Tensor:
    """1 - t log-spaced from 1 down to ``min_gap`` over the first ``steps`` points, then t = 1."""
    if steps == 1:
        return uniform_grid(1)
    gaps = torch.logspace(0, math.log10(min_gap), steps, dtype=torch.float64)
    return torch.cat([1 - gaps, torch.ones(1, dtype=torch.float64)])  # gaps[0] = 1: t_0 = 0


def karras_grid(
    steps: int, schedule: VPSchedule, rho: float = 7.0, sigma_min: float = 0.002, sigma_max: float = 80.0
) -> Tensor:
    """Karras et al. 2022 ("Elucidating the design space", EDM-sampler) spacing for a VP schedule.

    The equivalent variance-exploding noise level ς = sigma / alpha is spaced as
    ς_k = (ς_max^(1/ρ) + k/steps (ς_min^(1/ρ) − ς_max^(1/ρ)))^ρ, with ς_max, ς_min clipped to
    the schedule's range, mapped back to t by inverting ς(t) on a dense table; t_0 = 0, t_steps = 1.
    """
    dense = torch.linspace(0, 1, 20001, dtype=torch.float64)
    a, s = schedule.alpha_sigma(dense)
    log_vs = torch.log(s.clamp(min=1e-300)) - torch.log(a.clamp(min=1e-300))  # decreasing in t
    hi = min(sigma_max, float(log_vs[1:].max().exp()))
    lo = max(sigma_min, float(log_vs[:-1].min().exp()))
    k = uniform_grid(steps)
    vs = (hi ** (1 / rho) + k * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    # invert the decreasing map t -> log ς by searching the reversed (increasing) table
    rev = log_vs.flip(0)
    idx = torch.searchsorted(rev, vs.log()).clamp(1, rev.numel() - 1)
    x0, x1 = rev[idx - 1], rev[idx]
    w = ((vs.log() - x0) / (x1 - x0).clamp(min=1e-300)).clamp(0, 1)
    t_rev = dense.flip(0)
    t = t_rev[idx - 1] + w * (t_rev[idx] - t_rev[idx - 1])
    t[0], t[-1] = 0.0, 1.0
    return torch.cummax(t, 0).values


TIME_DISTS = ("uniform", "logit_normal", "beta")


def _check_dist(dist: str) -> None:
    if dist not in TIME_DISTS:
        raise ValueError(f"unknown time_dist {dist!r}; choose one of {', '.join(TIME_DISTS)}")


def time_cdf(t: Tensor, dist: str) -> Tensor:
    """P(T <= t) of a training time distribution, t in [0, 1] (any shape, float64 out)."""
    _check_dist(dist)
    t = torch.as_tensor(t, dtype=torch.float64).clamp(0, 1)
    if dist == "uniform":
        return t
    if dist == "beta":
        return t * t
    z = torch.logit(t)  # ±inf at the ends, where ndtr gives exactly 0 and 1
    return torch.special.ndtr(z)


def time_quantile(u: Tensor, dist: str) -> Tensor:
    """Inverse of :func:`time_cdf`: the t with P(T <= t) = u, u in [0, 1] (float64 out)."""
    _check_dist(dist)
    u = torch.as_tensor(u, dtype=torch.float64).clamp(0, 1)
    if dist == "uniform":
        return u
    if dist == "beta":
        return u.sqrt()
    return torch.sigmoid(torch.special.ndtri(u))


def quantile_grid(steps: int, dist: str) -> Tensor:
    """[steps + 1] float64 grid t_k = F⁻¹(k / steps) of a training time distribution: each sampler step
    covers the same share, 1 / steps, of the times the network was trained on. t_0 = 0, t_steps = 1."""
    grid = time_quantile(uniform_grid(steps), dist)
    grid[0], grid[-1] = 0.0, 1.0
    return grid


def grid_mass(grid: Tensor, dist: str) -> Tensor:
    """[steps] share of the training times (distribution ``dist``) that falls in each grid step."""
    return time_cdf(grid, dist).diff()
