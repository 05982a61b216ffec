"""DDIM (Song, Meng & Ermon 2020): the generalised, non-Markovian reverse process."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Counted, Recorder, SamplerSpec, Trajectory, gaussian_like, grid_for, register


@torch.no_grad()
def ddim(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """DDIM sampling on a timestep subsequence (Song et al. 2020, eq. 12 with eq. 16).

    x_s = alpha_s x0-hat + sqrt(1 - alpha_s^2 - sigma_eta^2) eps-hat + sigma_eta z,
    sigma_eta = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t / abar_s).
    eta = 0 is deterministic (the probability-flow ODE's Euler step in sigma-bar);
    eta = 1 is DDPM's ancestral sampler with the posterior variance beta-tilde.
    The last step goes to alpha = 1 and returns x0-hat. x_T: (B, *D).
    """
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie in [0, 1], got {eta}")
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    # Per-step coefficients as Python floats, before the loop.
    # Per-step coefficients as Python floats, before the loop:
    # x_s = c_x x_t + c_e eps-hat (+ sigma_eta z), with x0-hat = (x_t - sigma_t eps-hat) / alpha_t.
    sig_eta, c_x, c_e = [], [], []
    for i in range(g.S - 1):
        a, s, a_next, s_next = g.alpha[i], g.sigma[i], g.alpha[i + 1], g.sigma[i + 1]
        # sigma_eta from DDIM eq. 16, written with alpha = sqrt(abar), sigma = sqrt(1 - abar)
        sig = eta * (s_next / s) * math.sqrt(max(0.0, 1.0 - (a / a_next) ** 2)) if eta else 0.0
        sig_eta.append(sig)
        c_x.append(a_next / a)
        c_e.append(math.sqrt(max(0.0, s_next**2 - sig**2)) - a_next * s / a)
    x = x_T
    rec = Recorder(x_T, g, record, callback)
    for i in range(g.S - 1):
        eps = f.eps(x, tb[i], g.alpha[i], g.sigma[i])
        # c_x x + c_e eps, computed in the record's slot for this step
        x_next = torch.add(x, eps, alpha=c_e[i] / c_x[i], out=rec.slot(i)).mul_(c_x[i])
        if sig_eta[i] > 0:
            z = gaussian_like(x, generator)
            x_next.add_(z, alpha=sig_eta[i])
        rec.step_eps(i, x_next, x, eps)
        x = x_next
    # the clean endpoint, alpha = 1 and sigma = 0: x0-hat
    x = f(x, tb[-1], g.alpha[-2], g.sigma[-2]).x0
    rec.step(g.S - 1, x, x)
    return rec.finish("ddim", x, f, eta=eta)


register(
    SamplerSpec(
        name="ddim",
        label="DDIM",
        fn=ddim,
        nfe=lambda steps: steps,
        stochastic=True,  # only for eta > 0; eta = 0 is deterministic
        order=1,
        citation="Song, Meng & Ermon 2020, eq. 12",
        options={"eta": 0.0},
    )
)
