"""Samplers: stateless functions sharing one signature, a registry by name, and the
convenience entry ``sample``.

Registered names: ddpm, ddim, euler, heun, dpm-solver-1/2/3, dpm-solver++2m,
dpm-solver++3m, dpm-solver++2s, unipc (and consistency, from the few-step models).
Every sampler ends on clean data: its last step, to alpha = 1 and sigma = 0, is the
first-order step, which returns the x0-hat of one evaluation.
"""

from __future__ import annotations

import torch

from ..model import DiffusionModel
from ..schedules import make_timesteps
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
    "sampling_grid",
]


def _device(model: DiffusionModel) -> torch.device:
    """Where the network's weights live (CPU for parameter-free models such as the oracle)."""
    params = getattr(model.net, "parameters", None)
    if params is not None:
        for p in params():
            return p.device
    return torch.device("cpu")


def sampling_grid(
    model: DiffusionModel, steps: int, spacing: str | None = None
) -> tuple[torch.Tensor, str]:
    """The timesteps of a ``steps``-step run and the name of the spacing used.

    An explicit ``spacing`` always wins. With none, a few-step model (a progressive-
    distillation student or a consistency model) gets the grid it was made for
    (``diffusion.distill.recommended_timesteps``, named 'model'), which starts at t = T-1;
    any other model gets 'leading'. (A 1-step 'leading' grid is t = 0, where a one-step
    student would return its input noise.)
    """
    if spacing is None:
        from ..distill.timesteps import recommended_timesteps

        ts = recommended_timesteps(model, steps)
        if ts is not None:
            return ts, "model"
        spacing = "leading"
    return make_timesteps(model.schedule, steps, spacing), spacing


def sample(
    model: DiffusionModel,
    sampler: str,
    steps: int,
    *,
    n: int,
    seed: int,
    spacing: str | None = None,
    order: int | None = None,
    x_T: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    **options,
) -> Trajectory:
    """Draw ``n`` samples with a registered sampler on a ``steps``-point grid.

    x_T ~ N(0, I) of shape (n, *model.sample_shape) from ``torch.Generator`` seeded with
    ``seed`` unless x_T is given; stochastic samplers draw their noise from a second
    generator seeded with ``seed + 1``, so the same seed gives the same samples.
    ``spacing`` None: the grid a few-step model was made for, else 'leading'
    (``sampling_grid``). ``options`` go to the sampler (eta for ddim, variance for ddpm,
    ...). x_T is put on the network's device; the noise is always drawn on the CPU, so
    results do not depend on the device beyond its arithmetic.
    """
    spec = get_sampler(sampler, order)
    if order is not None and "order" in spec.option_names():
        options.setdefault("order", order)  # samplers whose order is an option (unipc)
    spec.check_options(options)
    shape = tuple(getattr(model, "sample_shape", (2,)))
    if x_T is None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        gen = torch.Generator().manual_seed(seed)
        x_T = torch.randn((n, *shape), generator=gen, dtype=dtype).to(_device(model))
    else:
        x_T = torch.as_tensor(x_T).to(dtype=dtype, device=_device(model))
        if tuple(x_T.shape[1:]) != shape:
            need = ", ".join(map(str, shape))
            raise ValueError(f"x_T has shape {tuple(x_T.shape)}; this model needs (n, {need})")
    timesteps, _ = sampling_grid(model, steps, spacing)
    noise = torch.Generator().manual_seed(seed + 1)
    return spec(model, x_T, timesteps, generator=noise, **options)
