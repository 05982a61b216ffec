"""One step of the reverse process, written as its equation.

The samplers, the distillation losses and the teaching figures all take their steps
here, so each update exists once. Every function works on tensors x: (B, *D) with
coefficients that broadcast against them: Python floats (a sampler's precomputed
grid) or per-sample tensors of shape (B, 1, ..., 1) (a distillation batch whose
samples sit at different times). ``per_sample`` turns a (B,) tensor into that shape.

Notation (DDPM/DDIM): x_t = alpha_t x_0 + sigma_t eps, sigma_bar_t = sigma_t / alpha_t.
The clean endpoint is alpha = 1, sigma = 0, sigma_bar = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "ddim_sigma_eta",
    "ddim_step",
    "eps_from_x0",
    "euler_step",
    "heun_step",
    "linear_step",
    "per_sample",
    "x0_from_eps",
]

Coef = Tensor | float


def per_sample(c: Tensor, x: Tensor) -> Tensor:
    """A per-sample coefficient c: (B,) reshaped to (B, 1, ..., 1) so it broadcasts
    against x: (B, *D), in x's dtype and device."""
    return c.to(dtype=x.dtype, device=x.device).reshape(-1, *([1] * (x.ndim - 1)))


def x0_from_eps(x: Tensor, eps: Tensor, alpha: Coef, sigma: Coef) -> Tensor:
    """x0-hat = (x_t - sigma_t eps-hat) / alpha_t (DDIM eq. 9)."""
    return (x - sigma * eps) / alpha


def eps_from_x0(x: Tensor, x0: Tensor, alpha: Coef, sigma: Coef) -> Tensor:
    """eps-hat = (x_t - alpha_t x0-hat) / sigma_t, the inverse of ``x0_from_eps``."""
    return (x - alpha * x0) / sigma


def ddim_sigma_eta(eta: float, alpha: Coef, sigma: Coef, alpha_next: Coef, sigma_next: Coef):
    """DDIM's noise scale for a step t -> s (Song et al. 2020, eq. 16):
    sigma_eta = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s),
    written with alpha = sqrt(abar), sigma = sqrt(1 - abar). eta = 0: deterministic
    DDIM; eta = 1: DDPM's posterior standard deviation sqrt(beta-tilde)."""
    if isinstance(alpha, Tensor) or isinstance(alpha_next, Tensor):
        ratio = torch.as_tensor(1.0 - (alpha / alpha_next) ** 2).clamp(min=0.0)
        return eta * (sigma_next / sigma) * ratio.sqrt()
    return eta * (sigma_next / sigma) * math.sqrt(max(0.0, 1.0 - (alpha / alpha_next) ** 2))


def ddim_step(
    x0_hat: Tensor,
    eps_hat: Tensor,
    alpha_next: Coef,
    sigma_next: Coef,
    *,
    noise: Tensor | None = None,
    sigma_eta: Coef = 0.0,
) -> Tensor:
    """x_s = alpha_s x0-hat + sqrt(sigma_s^2 - sigma_eta^2) eps-hat + sigma_eta z
    (DDIM eq. 12). sigma_eta = 0 is deterministic DDIM; ``noise`` z ~ N(0, I) is needed
    when sigma_eta > 0. To the clean endpoint (alpha_next = 1, sigma_next = 0) the step
    returns x0-hat."""
    if isinstance(sigma_eta, float) and sigma_eta == 0.0:
        return alpha_next * x0_hat + sigma_next * eps_hat
    if noise is None:
        raise ValueError("a stochastic DDIM step (sigma_eta > 0) needs noise z")
    if isinstance(sigma_next, Tensor) or isinstance(sigma_eta, Tensor):
        c_eps = torch.as_tensor(sigma_next**2 - sigma_eta**2).clamp(min=0.0).sqrt()
    else:
        c_eps = math.sqrt(max(0.0, sigma_next**2 - sigma_eta**2))
    return alpha_next * x0_hat + c_eps * eps_hat + sigma_eta * noise


def linear_step(c_x: float, x: Tensor, coefs: list[float], terms: list[Tensor]) -> Tensor:
    """x_next = c_x x + sum_j c_j m_j: the update of the multistep exponential
    integrators (DPM-Solver++(2M/3M), Lu et al. 2022b Alg. 2; UniPC's UniP and UniC,
    Zhao et al. 2023 eqs. 6-8), whose coefficients depend only on the grid and whose
    terms m_j are earlier x0-hats. Pairs beyond the shorter list are ignored (the
    history is short while it fills). One fused multiply-add per term, in a new tensor."""
    out = c_x * x
    for c, m in zip(coefs, terms, strict=False):
        out.add_(m, alpha=c)
    return out


def euler_step(
    x: Tensor, eps: Tensor, alpha: Coef, sigma_bar: Coef, alpha_next: Coef, sigma_bar_next: Coef
) -> Tensor:
    """One Euler step of the probability-flow ODE dy/d sigma_bar = eps with y = x / alpha
    (DDIM eq. 14; EDM eq. 4 with s = 1), returned in x-space:
    x_next = alpha_next (x / alpha + (sigma_bar_next - sigma_bar) eps).
    Algebraically the same step as deterministic DDIM and DPM-Solver-1."""
    return alpha_next * (x / alpha + (sigma_bar_next - sigma_bar) * eps)


def heun_step(
    x: Tensor,
    eps: Tensor,
    eps_pred: Tensor,
    alpha: Coef,
    sigma_bar: Coef,
    alpha_next: Coef,
    sigma_bar_next: Coef,
) -> Tensor:
    """Heun's corrector on dy/d sigma_bar = eps (EDM Alg. 1, lines 5-8): the trapezoid of
    the slope ``eps`` at x and ``eps_pred`` at the Euler predictor's point
    (``euler_step``, evaluated at the next time),
    x_next = alpha_next (x / alpha + (sigma_bar_next - sigma_bar) (eps + eps_pred) / 2)."""
    return alpha_next * (x / alpha + (sigma_bar_next - sigma_bar) * 0.5 * (eps + eps_pred))
