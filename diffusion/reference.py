"""A float64, tight-tolerance solve of the probability-flow ODE: the ground truth
against which every sampler's discretisation error is measured.

With y = x / alpha and sigma_bar = sigma / alpha = e^{-lambda}, the PF-ODE of a VP
diffusion (Song et al. 2021, eq. 13; DDIM eq. 14) is dy / d sigma_bar = eps(x, t).
We integrate it in the log-SNR lambda, dy / d lambda = -e^{-lambda} eps(alpha y, t),
where a Gaussian-mixture oracle is smooth, with an adaptive Dormand-Prince 5(4)
Runge-Kutta pair (Dormand & Prince 1980; Hairer, Norsett & Wanner, Sec. II.5).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from .model import DiffusionModel

__all__ = ["reference_solve", "reference_trajectory"]

DTYPE = torch.float64

# Dormand-Prince 5(4): nodes c, stages A, 5th-order weights B5 (also the last stage,
# so the 7th evaluation is the next step's first: "first same as last"), and
# E = B5 - B4, the embedded error estimate.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
_E = (
    35 / 384 - 5179 / 57600,
    0.0,
    500 / 1113 - 7571 / 16695,
    125 / 192 - 393 / 640,
    -2187 / 6784 + 92097 / 339200,
    11 / 84 - 187 / 2100,
    -1 / 40,
)
MAX_STEPS = 100_000
# A float32 network cannot be followed to 1e-10: its own round-off is ~1e-7.
FLOAT32_TOL = 1e-6


def _net_dtype(model: DiffusionModel) -> torch.dtype:
    params = getattr(model.net, "parameters", None)
    if params is not None:
        for p in params():
            return p.dtype
    return DTYPE


def _drift(model: DiffusionModel, shape: torch.Size):
    """dy/d lambda = -e^{-lambda} eps(alpha_lambda y, t(lambda)) for y: (B, *D) float64."""
    sch = model.schedule
    net_dtype = _net_dtype(model)

    def f(lam: float, y: Tensor) -> Tensor:
        # alpha^2 = sigmoid(2 lambda), sigma^2 = sigmoid(-2 lambda)
        alpha = math.sqrt(1.0 / (1.0 + math.exp(-2.0 * lam)))
        sigma = math.sqrt(1.0 / (1.0 + math.exp(2.0 * lam)))
        t = float(sch.t_from_lambda(torch.tensor(lam, dtype=DTYPE)))
        t = min(max(t, sch.t_min), sch.t_max)
        eps = model.predict((alpha * y).to(net_dtype), t, alpha, sigma).eps.to(DTYPE)
        return -math.exp(-lam) * eps

    return f


def _dopri5(f, y: Tensor, l0: float, l1: float, rtol: float, atol: float, h: float | None):
    """Integrate dy/dl = f(l, y) from l0 to l1 > l0; returns (y(l1), last step size)."""
    span = l1 - l0
    if span <= 0:
        return y, h
    h = min(h or span / 50, span)
    lam = l0
    k1 = f(lam, y)
    for _ in range(MAX_STEPS):
        last = lam + h >= l1 - 1e-14 * abs(l1)
        if last:
            h = l1 - lam
        ks = [k1]
        for c, row in zip(_C[1:], _A[1:], strict=True):
            yi = y.clone()
            for a, k in zip(row, ks, strict=False):
                yi.add_(k, alpha=h * a)
            ks.append(f(lam + c * h, yi))
        y_new = y.clone()
        for b, k in zip(_B5, ks, strict=True):
            y_new.add_(k, alpha=h * b)
        k7 = f(lam + h, y_new)
        err = torch.zeros_like(y)
        for e, k in zip(_E, [*ks, k7], strict=True):
            err.add_(k, alpha=h * e)
        scale = atol + rtol * torch.maximum(y.abs(), y_new.abs())
        err_norm = float((err / scale).abs().max())
        if not math.isfinite(err_norm):
            raise FloatingPointError("reference solve: the model returned NaN or infinite values")
        if err_norm <= 1.0:
            lam, y, k1 = lam + h, y_new, k7
            if last:
                return y, h
        factor = 0.9 * err_norm ** (-0.2) if err_norm > 0 else 5.0
        h = h * min(5.0, max(0.2, factor))
    raise RuntimeError(f"reference solve did not finish in {MAX_STEPS} steps")


def _tolerances(model: DiffusionModel, rtol: float, atol: float) -> tuple[float, float]:
    if _net_dtype(model) != DTYPE:
        return max(rtol, FLOAT32_TOL), max(atol, FLOAT32_TOL)
    return rtol, atol


def _check_times(model: DiffusionModel, times: list[float]) -> None:
    T = model.schedule.T
    for t in times:
        if not 0.0 <= t <= T - 1:
            raise ValueError(f"times must lie in [0, {T - 1}], got {t}")
    if any(b > a for a, b in itertools.pairwise(times)):
        raise ValueError("times must be non-increasing (from noise towards data)")


def reference_solve(
    model: DiffusionModel,
    x_T: Tensor,
    t_start: float | None = None,
    t_end: float = 0.0,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    denoise: bool = True,
) -> Tensor:
    """The PF-ODE solution from x_T at t_start (default T-1) to t_end, float64.

    With denoise=True the result is the x0-hat of one evaluation at (x_{t_end}, t_end):
    exactly what every sampler's last step does, so the difference to a sampler's
    output is its discretisation error. x_T: (B, *D) -> (B, *D) float64.
    For a float32 network the tolerances are raised to 1e-6 (its own round-off).
    """
    sch = model.schedule
    t_start = sch.t_max if t_start is None else float(t_start)
    _check_times(model, [t_start, float(t_end)])
    rtol, atol = _tolerances(model, rtol, atol)
    x = torch.as_tensor(x_T).to(DTYPE)
    with torch.no_grad():
        l0, l1 = (float(sch.lambda_(v)) for v in (t_start, t_end))
        y = x / float(sch.alpha(t_start))
        y, _ = _dopri5(_drift(model, x.shape), y, l0, l1, rtol, atol, None)
        x_end = y * float(sch.alpha(t_end))
        if not denoise:
            return x_end
        net_dtype = _net_dtype(model)
        return model.predict(x_end.to(net_dtype), float(t_end)).x0.to(DTYPE)


def reference_trajectory(
    model: DiffusionModel,
    x_T: Tensor,
    ts,
    *,
    t_start: float | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> Tensor:
    """The exact PF-ODE states x_t at the times ``ts`` (non-increasing, <= t_start) of
    the trajectory through x_T at t_start (default T-1). Returns (len(ts), B, *D) float64.
    """
    sch = model.schedule
    t_start = sch.t_max if t_start is None else float(t_start)
    times = [float(t) for t in torch.as_tensor(ts, dtype=DTYPE).reshape(-1)]
    if not times:
        raise ValueError("ts must hold at least one time")
    _check_times(model, [t_start, *times])
    rtol, atol = _tolerances(model, rtol, atol)
    x = torch.as_tensor(x_T).to(DTYPE)
    f = _drift(model, x.shape)
    out = []
    with torch.no_grad():
        lam = float(sch.lambda_(t_start))
        y = x / float(sch.alpha(t_start))
        h = None
        for t in times:
            l1 = float(sch.lambda_(t))
            y, h = _dopri5(f, y, lam, l1, rtol, atol, h)
            lam = max(lam, l1)
            out.append(y * float(sch.alpha(t)))
    return torch.stack(out)
