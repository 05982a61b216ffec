"""Noise schedules of the variance-preserving (VP) diffusion and timestep grids.

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
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SPACINGS",
    "VPSchedule",
    "linear_schedule",
    "cosine_schedule",
    "get_schedule",
    "make_ddim_timesteps",
    "make_timesteps",
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


# ----- timestep grids ----------------------------------------------------------------

SPACINGS = ("leading", "uniform", "linspace", "trailing", "quadratic", "logsnr", "karras")
"""Timestep spacings. 'uniform' is the chapter's name for 'leading' (DDIM's code)."""


def _check_steps(T: int, num_steps: int) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)):
        raise ValueError(f"steps must be an integer, got {num_steps!r}")
    if not 1 <= num_steps <= T:
        raise ValueError(f"steps must be between 1 and T={T}, got {num_steps}")


def _check_spacing(spacing: str) -> None:
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")


def _dedup_descending(ts: list[int], asked: int, spacing: str) -> list[int]:
    out = sorted(set(ts), reverse=True)
    if len(out) < asked:
        warnings.warn(
            f"{spacing} spacing gave {len(out)} distinct timesteps for {asked} requested",
            UserWarning,
            stacklevel=3,
        )
    return out


def make_ddim_timesteps(T: int, num_steps: int, spacing: str = "uniform") -> list[int]:
    """Create a DDIM timestep subsequence, as in the chapter (descending integers).

    'uniform' (= 'leading', DDIM's code): ``range(0, T, T // num_steps)[:num_steps]``;
    'quadratic': ``int(linspace(0, sqrt(0.8 T), num_steps) ** 2)`` (DDIM's code keeps
    the 0.8 factor so the grid stops short of T); 'linspace': ``round(linspace(0, T-1, N))``;
    'trailing' (Lin et al. 2023, Table 2): ``round(arange(T, 0, -T/N)) - 1``.
    Duplicates are removed with a warning, since the caller then gets fewer steps.
    The float spacings 'logsnr' and 'karras' need a schedule: see ``make_timesteps``.
    """
    _check_steps(T, num_steps)
    if spacing in ("uniform", "leading"):
        ts = list(range(0, T, T // num_steps))[:num_steps]
    elif spacing == "quadratic":
        ts = (np.linspace(0, np.sqrt(T * 0.8), num_steps) ** 2).astype(int).tolist()
    elif spacing == "linspace":
        ts = np.round(np.linspace(0, T - 1, num_steps)).astype(int).tolist()
    elif spacing == "trailing":
        ts = (np.round(np.arange(T, 0, -T / num_steps)) - 1).astype(int).tolist()
    elif spacing in ("logsnr", "karras"):
        raise ValueError(
            f"{spacing} spacing needs a noise schedule: use make_timesteps(schedule, ...)"
        )
    else:
        _check_spacing(spacing)
        raise AssertionError  # unreachable
    return _dedup_descending(ts, num_steps, spacing)


def make_timesteps(
    schedule: VPSchedule, num_steps: int, spacing: str = "leading", rho: float = 7.0
) -> Tensor:
    """The model-evaluation timesteps of an ``num_steps``-step sampler, descending, float64.

    Integer spacings come from ``make_ddim_timesteps``. 'logsnr' is uniform in lambda
    between t = T-1 and t = 0 (DPM-Solver's 'logSNR' skip type); 'karras' is EDM's
    grid (Karras et al. 2022, eq. 5) in sigma_bar with ``rho`` = 7, between the
    schedule's own sigma_bar at t = T-1 and t = 0. Both give fractional timesteps.
    """
    _check_spacing(spacing)
    _check_steps(schedule.T, num_steps)
    if spacing in ("logsnr", "karras"):
        t_hi, t_lo = schedule.t_max, schedule.t_min
        if num_steps == 1:
            return torch.tensor([t_hi], dtype=DTYPE)
        u = torch.linspace(0, 1, num_steps, dtype=DTYPE)
        if spacing == "logsnr":
            l_hi, l_lo = schedule.lambda_(t_hi), schedule.lambda_(t_lo)
            ts = schedule.t_from_lambda(l_hi + u * (l_lo - l_hi))
        else:
            s_max, s_min = schedule.sigma_bar(t_hi), schedule.sigma_bar(t_lo)
            inv = s_max ** (1 / rho) + u * (s_min ** (1 / rho) - s_max ** (1 / rho))
            ts = schedule.t_from_sigma_bar(inv**rho)
        ts = ts.clamp(t_lo, t_hi)
        ts[0], ts[-1] = t_hi, t_lo  # exact ends despite round-off in the inverse map
        return ts
    return torch.tensor(make_ddim_timesteps(schedule.T, num_steps, spacing), dtype=DTYPE)
