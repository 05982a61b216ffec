"""DDPM ancestral sampling (Ho et al. 2020, Alg. 2) on any timestep subsequence."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Run, SamplerSpec, Trajectory, gaussian_like, register

VARIANCES = ("beta", "beta_tilde")


@torch.no_grad()
def ddpm(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    variance: str = "beta_tilde",
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Ancestral sampling from the posterior q(x_s | x_t, x0-hat) (DDPM eqs. 6-7).

    On a subsequence t > s the step's beta is beta_ts = 1 - abar_t / abar_s, so
      mean = sqrt(abar_s) beta_ts / (1 - abar_t) x0-hat
             + sqrt(abar_t / abar_s) (1 - abar_s) / (1 - abar_t) x_t,
    with variance beta_ts ('beta', DDPM's sigma_t^2 = beta_t) or the posterior
    beta-tilde = (1 - abar_s) / (1 - abar_t) beta_ts ('beta_tilde'). On the full grid
    these are DDPM's two choices (Sec. 3.2). The last step, to alpha = 1, returns
    x0-hat without noise. x_T: (B, *D).
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance {variance!r}; choose one of {', '.join(VARIANCES)}")
    run = Run("ddpm", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    for i in range(g.S - 1):
        abar_t, abar_s = g.alpha[i] ** 2, g.alpha[i + 1] ** 2
        beta_ts = 1.0 - abar_t / abar_s
        c_x0 = math.sqrt(abar_s) * beta_ts / (1.0 - abar_t)
        c_xt = math.sqrt(abar_t / abar_s) * (1.0 - abar_s) / (1.0 - abar_t)
        var = beta_ts if variance == "beta" else (1.0 - abar_s) / (1.0 - abar_t) * beta_ts
        x0 = run.x0(x, i)
        z = gaussian_like(x, generator)
        # x_s = c_x0 x0-hat + c_xt x_t + sqrt(var) z, accumulated in z's buffer: the
        # noise draw is the step's one new tensor (the sampler-overhead bar, BENCHMARKS.md)
        x = z.mul_(math.sqrt(var)).add_(x0, alpha=c_x0).add_(x, alpha=c_xt)
        run.step(i, x, x0)
    return run.denoise(x, variance=variance)  # the last step returns x0-hat, no noise


register(
    SamplerSpec(
        name="ddpm",
        label="DDPM (ancestral)",
        fn=ddpm,
        nfe=lambda steps: steps,
        stochastic=True,
        order=0,
        citation="Ho, Jain & Abbeel 2020, Alg. 2 and eqs. 6-7",
    )
)
