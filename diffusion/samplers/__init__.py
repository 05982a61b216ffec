"""Samplers: stateless functions sharing one signature, a registry by name, and the
convenience entry ``sample``.

Registered names: ddpm, ddim, euler, heun, dpm-solver-1/2/3, dpm-solver++2m,
dpm-solver++3m, dpm-solver++2s, unipc (and consistency, from the few-step models).
Every sampler ends on clean data: its last step, to alpha = 1 and sigma = 0, is the
first-order step, which returns the x0-hat of one evaluation. The steps themselves
are in ``steps``; the grids in ``diffusion.grids``.
"""

from __future__ import annotations

import torch

from ..grids import model_timesteps
from ..model import DiffusionModel
from . import consistency, ddim, ddpm, dpm_solver, dpm_solver_pp, euler_heun, unipc  # noqa: F401
from .base import REGISTRY, Grid, SamplerSpec, Trajectory, get_sampler, resolve_sampler

__all__ = [
    "REGISTRY",
    "Grid",
    "SamplerSpec",
    "Trajectory",
    "get_sampler",
    "resolve_sampler",
    "sample",
]


def _device(model: DiffusionModel) -> torch.device:
    """Where the network's weights live (CPU for parameter-free models such as the oracle)."""
    params = getattr(model.net, "parameters", None)
    if params is not None:
        for p in params():
            return p.device
    return torch.device("cpu")


def sample(
    model: DiffusionModel,
    sampler: str,
    steps: int,
    *,
    n: int | None = None,
    seed: int = 0,
    spacing: str | None = None,
    order: int | None = None,
    x_T: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    **options,
) -> Trajectory:
    """Draw samples with a registered sampler on a ``steps``-point grid.

    Either ``n``: x_T ~ N(0, I) of shape (n, *model.sample_shape) is drawn from
    ``torch.Generator().manual_seed(seed)``; or ``x_T`` (n is then its batch size).
    Stochastic samplers draw their noise from a second generator seeded with
    ``seed + 1``, so the same seed gives the same samples; ``seed`` defaults to 0.
    The grid is ``grids.model_timesteps(model, steps, spacing)``: an explicit spacing
    is honoured; with none, a few-step model's own grid, else ``grids.DEFAULT_SPACING``.
    ``options`` go to the sampler (eta for ddim, variance for ddpm, ...). x_T is put on
    the network's device; the noise is always drawn on the CPU, so results do not depend
    on the device beyond its arithmetic.
    """
    spec = get_sampler(sampler, order)
    if order is not None and "order" in spec.option_names():
        options.setdefault("order", order)  # samplers whose order is an option (unipc)
    spec.check_options(options)
    shape = tuple(model.sample_shape)
    if x_T is None:
        if n is None:
            raise ValueError("give n (the number of samples) or x_T (the initial noise)")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        gen = torch.Generator().manual_seed(seed)
        x_T = torch.randn((n, *shape), generator=gen, dtype=dtype).to(_device(model))
    else:
        x_T = torch.as_tensor(x_T).to(dtype=dtype, device=_device(model))
        if tuple(x_T.shape[1:]) != shape:
            need = ", ".join(map(str, shape))
            raise ValueError(f"x_T has shape {tuple(x_T.shape)}; this model needs (n, {need})")
        if n is not None and n != x_T.shape[0]:
            raise ValueError(f"n={n} does not match x_T's batch of {x_T.shape[0]}")
    timesteps, _ = model_timesteps(model, steps, spacing)
    noise = torch.Generator().manual_seed(seed + 1)
    return spec(model, x_T, timesteps, generator=noise, **options)
