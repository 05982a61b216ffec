"""Which timesteps a sampler evaluates: the one place that answers it.

A grid is the descending list of times where the model is evaluated (the package's
time convention, floats in [0, T-1]); every sampler appends the clean endpoint
(alpha = 1, sigma = 0) itself, so its last step outputs x0-hat.

* ``make_ddim_timesteps`` / ``make_timesteps``: the spacings of the literature
  (``SPACINGS``) for any schedule.
* ``pd_timesteps`` / ``consistency_timesteps``: the grids few-step models are made for.
* ``model_timesteps(model, steps, spacing=None)``: what ``diffusion.sample``, the app,
  the images code and the CLI use. An explicit spacing is honoured for every model; with
  none, a few-step model gets its own grid and any other model ``DEFAULT_SPACING``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from .schedules import DTYPE, VPSchedule

__all__ = [
    "DEFAULT_SPACING",
    "MODEL_SPACING",
    "SPACINGS",
    "consistency_timesteps",
    "few_step_timesteps",
    "make_ddim_timesteps",
    "make_timesteps",
    "model_timesteps",
    "pd_timesteps",
]

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


# ----- the grids few-step models are made for ------------------------------------------


def pd_timesteps(T: int, steps: int) -> Tensor:
    """The N-step evaluation grid of progressive distillation, descending float64:
    t_k = T (N - k) / N - 1 for k = 0..N-1, clamped at 0 (fractional 'trailing' spacing,
    Lin et al. 2023). pd_timesteps(T, N) == pd_timesteps(T, 2N)[::2]."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    k = torch.arange(steps, dtype=DTYPE)
    return (T * (steps - k) / steps - 1.0).clamp(min=0.0)


def consistency_timesteps(model, steps: int) -> Tensor:
    """[T-1] followed by steps-1 re-noising times for multistep consistency sampling.

    Song et al. (2023) pick the intermediate times by search; we default to sigma_bar
    levels spaced geometrically from 1.5 sigma_data down to 0.1 sigma_data (a 2-step run
    re-noises to 1.5 sigma_data, comparable to the paper's CIFAR-10 choice 0.821 for
    sigma_data = 0.5).
    """
    sch = model.schedule
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    sd = float(getattr(model.net, "sigma_data", 0.5))
    if steps == 1:
        return torch.tensor([sch.t_max], dtype=DTYPE)
    hi, lo = 1.5 * sd, 0.1 * sd
    if steps == 2:
        sb = torch.tensor([hi], dtype=DTYPE)
    else:
        sb = torch.logspace(
            torch.log10(torch.tensor(hi)), torch.log10(torch.tensor(lo)), steps - 1, dtype=DTYPE
        )
    ts = sch.t_from_sigma_bar(sb).clamp(sch.t_min, sch.t_max)
    return torch.cat([torch.tensor([sch.t_max], dtype=DTYPE), ts])


def few_step_timesteps(model, steps: int) -> Tensor | None:
    """The grid a few-step model was made for, or None for an ordinary diffusion model.

    A grid stored in the model's config under ``sampling.timesteps[str(steps)]`` wins;
    else progressive-distillation students get ``pd_timesteps`` and consistency models
    ``consistency_timesteps``.
    """
    cfg = model.config
    stored = (cfg.get("sampling") or {}).get("timesteps")
    if isinstance(stored, dict) and str(steps) in stored:
        return torch.tensor(stored[str(steps)], dtype=DTYPE)
    kind = cfg.get("kind", "diffusion")
    if kind == "pd-student":
        return pd_timesteps(model.schedule.T, steps)
    if kind == "consistency":
        return consistency_timesteps(model, steps)
    return None


# ----- the one resolver ------------------------------------------------------------------

MODEL_SPACING = "model"
"""The name of a few-step model's own grid (``few_step_timesteps``) as a spacing."""

DEFAULT_SPACING = "trailing"
"""The spacing of an ordinary diffusion model when none is given. 'trailing' starts at
t = T-1 (Lin et al. 2023) and scores best, or level with the best, for DDIM, Heun,
DPM-Solver-2, DPM-Solver++(2M) and UniPC at 10 steps on the exact oracle; 'leading'
starts at t = 900 and makes the multistep solvers lose to DDIM (docs/samplers.md,
"Default spacing")."""


def model_timesteps(model, steps: int, spacing: str | None = None) -> tuple[Tensor, str]:
    """The ``steps`` evaluation times for ``model`` and the name of the spacing used.

    An explicit ``spacing`` from ``SPACINGS`` is honoured for every model, few-step
    models included; ``'model'`` asks for a few-step model's own grid and is refused
    for an ordinary diffusion model. With ``spacing=None`` a few-step model gets its own
    grid (named 'model') and any other model ``DEFAULT_SPACING``.
    """
    if spacing is None or spacing == MODEL_SPACING:
        ts = few_step_timesteps(model, steps)
        if ts is not None:
            return ts, MODEL_SPACING
        if spacing == MODEL_SPACING:
            raise ValueError(
                f"spacing 'model' needs a few-step model, and {model.name} is an ordinary "
                f"diffusion model; choose one of {', '.join(SPACINGS)}"
            )
        spacing = DEFAULT_SPACING
    _check_spacing(spacing)
    return make_timesteps(model.schedule, steps, spacing), spacing
