"""Noise schedules of the variance-preserving (VP) diffusion (grids: ``diffusion.grids``).

Notation follows the chapter and DDPM (Ho et al. 2020): the forward process
q(x_t | x_0) = N(alpha_t x_0, sigma_t^2 I) with alpha_t = sqrt(alpha_bar_t),
sigma_t = sqrt(1 - alpha_bar_t), and log-SNR lambda_t = log(alpha_t / sigma_t).

Time convention, used everywhere in the package: a timestep ``t`` is a float in
the discrete index range [0, T-1]. Integer values are the training timesteps;
values in between interpolate log(alpha) piecewise linearly, the continuous-time
extension that DPM-Solver uses for discrete-time models (Lu et al. 2022, App. D).
A sampling grid lists the timesteps where the model is evaluated, in descending
order; every sampler appends the clean endpoint (alpha = 1, sigma = 0) itself, so
its last step always outputs x0-hat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "VPSchedule",
    "cosine_schedule",
    "get_schedule",
    "linear_schedule",
]

DTYPE = torch.float64


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation of (xp, fp) at x, xp increasing.

    Outside [xp[0], xp[-1]] the end segments are extended linearly, as DPM-Solver's
    ``interpolate_fn`` does, so the inverse maps stay defined slightly past the ends.
    """
    idx = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    f0, f1 = fp[idx - 1], fp[idx]
    return f0 + (x - x0) * (f1 - f0) / (x1 - x0)


class VPSchedule:
    """A discrete VP noise schedule with its continuous-time interpolation.

    Mirrors the interface of DPM-Solver's ``NoiseScheduleVP`` (marginal alpha, std,
    lambda and the inverse of lambda) with the package's time convention: t is a
    float timestep in [0, T-1]. All tables and results are float64.

    Args:
        betas: (T,) the forward-process variances beta_1..beta_T (DDPM eq. 2),
            indexed 0..T-1.
        name: a label ("linear", "cosine", ...).
    """

    def __init__(self, betas: Tensor | Sequence[float], name: str = "custom") -> None:
        betas = torch.as_tensor(betas, dtype=DTYPE)
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError("betas must be a 1-D sequence of at least 2 values")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("every beta must lie in (0, 1)")
        self.name = name
        self.betas = betas
        self.T = len(betas)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self._t_table = torch.arange(self.T, dtype=DTYPE)
        self._log_alpha_table = 0.5 * torch.log(self.alphas_cumprod)
        # log(alpha) decreases in t; flipped copies serve the inverse map.
        self._log_alpha_rev = self._log_alpha_table.flip(0).contiguous()
        self._t_rev = self._t_table.flip(0).contiguous()

    def __repr__(self) -> str:
        return f"VPSchedule(name={self.name!r}, T={self.T})"

    # ----- marginals q(x_t | x_0) at continuous t -------------------------------
    def log_alpha(self, t: Tensor | float) -> Tensor:
        """log alpha_t, piecewise linear in t between integer timesteps."""
        t = torch.as_tensor(t, dtype=DTYPE)
        return _interp(t.reshape(-1), self._t_table, self._log_alpha_table).reshape(t.shape)

    def alpha(self, t: Tensor | float) -> Tensor:
        """alpha_t = sqrt(alpha_bar_t), the signal scale of x_t."""
        return torch.exp(self.log_alpha(t))

    def alpha_bar(self, t: Tensor | float) -> Tensor:
        """alpha_bar_t = prod_{s<=t} (1 - beta_s) (DDPM eq. 4)."""
        return torch.exp(2.0 * self.log_alpha(t))

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma_t = sqrt(1 - alpha_bar_t), the noise scale of x_t."""
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def lambda_(self, t: Tensor | float) -> Tensor:
        """Half log-SNR lambda_t = log(alpha_t / sigma_t) (DPM-Solver eq. 3.3 ff.)."""
        la = self.log_alpha(t)
        return la - 0.5 * torch.log(-torch.expm1(2.0 * la))

    def sigma_bar(self, t: Tensor | float) -> Tensor:
        """sigma_bar_t = sigma_t / alpha_t = exp(-lambda_t): the noise level of x_t / alpha_t,
        the 'sigma' of the variance-exploding view used by EDM and k-diffusion."""
        return torch.exp(-self.lambda_(t))

    # ----- inverses ---------------------------------------------------------------
    def t_from_lambda(self, lambda_: Tensor | float) -> Tensor:
        """Inverse of lambda_t (DPM-Solver's ``inverse_lambda``), exact for the
        piecewise-linear log(alpha): log alpha = -0.5 log(1 + exp(-2 lambda))."""
        lam = torch.as_tensor(lambda_, dtype=DTYPE)
        log_alpha = -0.5 * torch.logaddexp(torch.zeros_like(lam), -2.0 * lam)
        t = _interp(log_alpha.reshape(-1), self._log_alpha_rev, self._t_rev)
        return t.reshape(lam.shape)

    def t_from_sigma_bar(self, sigma_bar: Tensor | float) -> Tensor:
        """Timestep whose sigma_bar equals the given value."""
        return self.t_from_lambda(-torch.log(torch.as_tensor(sigma_bar, dtype=DTYPE)))

    # ----- convenient ends ------------------------------------------------------------
    @property
    def t_max(self) -> float:
        return float(self.T - 1)

    @property
    def t_min(self) -> float:
        return 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "T": self.T, "betas": self.betas.tolist()}


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> VPSchedule:
    """DDPM's linear beta schedule (Ho et al. 2020, Sec. 4): the package default."""
    return VPSchedule(torch.linspace(beta_start, beta_end, T, dtype=DTYPE), name="linear")


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> VPSchedule:
    """Cosine schedule of Nichol & Dhariwal (2021), eq. 17: alpha_bar(t) = f(t)/f(0),
    f(t) = cos^2(((t/T) + s) / (1 + s) * pi/2), betas clipped at 0.999."""

    def f(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)]
    return VPSchedule(betas, name="cosine")


SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}


def get_schedule(name: str = "linear", T: int = 1000) -> VPSchedule:
    """A schedule by name ('linear' or 'cosine')."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](T)
