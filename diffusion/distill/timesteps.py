"""The evaluation times a few-step model was made for, so every caller samples it the same way."""

from __future__ import annotations

import torch
from torch import Tensor

from ..model import DiffusionModel
from .progressive import pd_timesteps

__all__ = ["recommended_timesteps", "consistency_timesteps"]


def consistency_timesteps(model: DiffusionModel, steps: int) -> Tensor:
    """[T-1] followed by steps-1 re-noising times for multistep consistency sampling.

    Song et al. (2023) pick the intermediate times by search; we default to sigma_bar
    levels spaced geometrically from 1.5 sigma_data down to 0.1 sigma_data (a 2-step run
    re-noises to 1.5 sigma_data, comparable to the paper's CIFAR-10 choice 0.821 for
    sigma_data = 0.5). A model's config may override them under
    ``config['sampling']['timesteps'][str(steps)]``.
    """
    sch = model.schedule
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    sd = float(getattr(model.net, "sigma_data", 0.5))
    if steps == 1:
        return torch.tensor([sch.t_max], dtype=torch.float64)
    hi, lo = 1.5 * sd, 0.1 * sd
    if steps == 2:
        sb = torch.tensor([hi], dtype=torch.float64)
    else:
        sb = torch.logspace(
            torch.log10(torch.tensor(hi)),
            torch.log10(torch.tensor(lo)),
            steps - 1,
            dtype=torch.float64,
        )
    ts = sch.t_from_sigma_bar(sb).clamp(sch.t_min, sch.t_max)
    return torch.cat([torch.tensor([sch.t_max], dtype=torch.float64), ts])


def recommended_timesteps(model: DiffusionModel, steps: int) -> Tensor | None:
    """The grid to sample a few-step model with, or None for an ordinary diffusion model
    (use any spacing). PD students: their training grid ``pd_timesteps``; consistency
    models: ``consistency_timesteps``. A grid stored in the config for that step count wins."""
    cfg = getattr(model, "config", None) or {}
    stored = (cfg.get("sampling") or {}).get("timesteps")
    if isinstance(stored, dict) and str(steps) in stored:
        return torch.tensor(stored[str(steps)], dtype=torch.float64)
    kind = cfg.get("kind", "diffusion")
    if kind == "pd-student":
        return pd_timesteps(model.schedule.T, steps)
    if kind == "consistency":
        return consistency_timesteps(model, steps)
    return None
