"""DPM-Solver++ (Lu et al. 2022b): the data-prediction solvers, multistep 2M / 3M and
singlestep 2S.

With x0-hat as the integrand the exact solution between s and t (h = lambda_t -
lambda_s) is x_t = (sigma_t / sigma_s) x_s + sigma_t int e^{lambda} x0(x_lambda)
d lambda (DPM-Solver++ eq. 8). Multistep methods reuse the x0-hats of previous grid
points to build the higher-order differences, so each step costs one evaluation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Counted, Grid, Recorder, SamplerSpec, Trajectory, grid_for, register
from .dpm_solver import grid_intermediate_points


def multistep_coefficients(
    g: Grid, order: int, half_d2: bool = False
) -> list[tuple[float, list[float]]]:
    """Per step i < S-1: (c_x, [c_0, c_1, ...]) with x_{i+1} = c_x x_i + sum_j c_j m_{i-j},
    m_j the x0-hat at grid point j. Orders warm up as min(order, i + 1) (DPM-Solver++
    Alg. 2); the step to sigma = 0 is handled by the caller (first order = x0-hat).

    3rd order: the Taylor term of the exact solution is alpha_t (h^2/2 - h + 1 - e^{-h})
    m'' = -alpha_t phi_3 h^2 m'' with phi_3 = (e^{-h} - 1 + h)/h^2 - 1/2, and the
    divided difference D2 = 2 (D1_0 - D1_1) / (r0 + r1) approximates h^2 m''.
    ``half_d2=True`` drops that factor 2, as the dpm-solver and diffusers code do; their
    3M is then only 2nd-order accurate as h -> 0 (docs/samplers.md shows the slopes).
    """
    lam = g.lambda_
    out = []
    for i in range(g.S - 1):
        k = min(order, i + 1)
        h = lam[i + 1] - lam[i]
        a_t = g.alpha[i + 1]
        c_x = g.sigma[i + 1] / g.sigma[i]
        A = -a_t * math.expm1(-h)  # first order: x_t = c_x x + A m0 (eq. 9)
        if k == 1:
            out.append((c_x, [A]))
        elif k == 2:
            # 2M (Alg. 2): D = (1 + 1/(2 r0)) m0 - 1/(2 r0) m1, r0 = h_prev / h
            r0 = (lam[i] - lam[i - 1]) / h
            out.append((c_x, [A * (1 + 0.5 / r0), -A * 0.5 / r0]))
        else:
            # 3M: second-order differences from three previous x0-hats (Lu et al.
            # 2022b, App. multistep 3rd order; the form used by dpm-solver's code).
            r0 = (lam[i] - lam[i - 1]) / h
            r1 = (lam[i - 1] - lam[i - 2]) / h
            B = a_t * (math.expm1(-h) / h + 1.0)
            C = -a_t * ((math.expm1(-h) + h) / h**2 - 0.5)
            # D1 = (1 + r0/(r0+r1)) D1_0 - r0/(r0+r1) D1_1 ~ h m',
            # D2 = 2 (D1_0 - D1_1)/(r0+r1) ~ h^2 m'', D1_0 = (m0 - m1)/r0, D1_1 = (m1 - m2)/r1.
            w = (1.0 if half_d2 else 2.0) / (r0 + r1)
            p = B * (1 + r0 / (r0 + r1)) + C * w
            q = -B * r0 / (r0 + r1) - C * w
            out.append((c_x, [A + p / r0, -p / r0 + q / r1, -q / r1]))
    return out


@torch.no_grad()
def dpm_solver_pp_multistep(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    order: int = 2,
    half_d2: bool = False,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Multistep DPM-Solver++(2M) / 3M (Lu et al. 2022b, Alg. 2 and its 3rd-order form).

    One evaluation per grid point: NFE = S. Lower orders on the first steps while the
    history fills; the last step, to sigma = 0, is first order (it returns x0-hat).
    half_d2: reproduce the 3rd-order update of the dpm-solver/diffusers code (see
    ``multistep_coefficients``). x_T: (B, *D).
    """
    if order not in (1, 2, 3):
        raise ValueError(f"DPM-Solver++ multistep order must be 1, 2 or 3, got {order}")
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    coef = multistep_coefficients(g, order, half_d2)
    x = x_T
    hist: list[Tensor] = []  # x0-hats, newest first
    rec = Recorder(x_T, g, record, callback)
    for i in range(g.S):
        x0 = f(x, tb[i], g.alpha[i], g.sigma[i]).x0
        if i == g.S - 1:
            x = x0
        else:
            hist.insert(0, x0)
            del hist[order:]
            c_x, cs = coef[i]
            x = x * c_x
            for c, m in zip(cs, hist, strict=False):
                x.add_(m, alpha=c)
        rec.step(i, x, x0)
    return rec.finish(f"dpm-solver++{order}m", x, f, order=order)


@torch.no_grad()
def dpm_solver_pp_2s(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """Singlestep DPM-Solver++(2S) (Lu et al. 2022b, Alg. 1) with r1 = 1/2: one extra
    evaluation at the lambda-midpoint of each step. NFE = 2 (S - 1) + 1. x_T: (B, *D)."""
    r1 = 0.5
    g = grid_for(model, timesteps)
    f = Counted(model)
    tb = g.t_batches(x_T)  # evaluation times as ready (B,) tensors
    n = g.S - 1
    t1, a1, s1 = grid_intermediate_points(model, g, r1)
    h = [g.lambda_[i + 1] - g.lambda_[i] for i in range(n)]
    u_x = [s1[i] / g.sigma[i] for i in range(n)]
    u_m = [-a1[i] * math.expm1(-r1 * h[i]) for i in range(n)]
    c_x = [g.sigma[i + 1] / g.sigma[i] for i in range(n)]
    c_m = [-g.alpha[i + 1] * math.expm1(-h[i]) for i in range(n)]
    x = x_T
    rec = Recorder(x_T, g, record, callback)
    for i in range(g.S):
        x0 = f(x, tb[i], g.alpha[i], g.sigma[i]).x0
        if i == n:
            x = x0
        else:
            u = torch.add(x * u_x[i], x0, alpha=u_m[i])
            x0_mid = f(u, t1[i], a1[i], s1[i]).x0
            # D = (1 - 1/(2 r1)) m_s + 1/(2 r1) m_mid, which is m_mid for r1 = 1/2
            d = x0_mid if r1 == 0.5 else (1 - 0.5 / r1) * x0 + (0.5 / r1) * x0_mid
            x = torch.add(x * c_x[i], d, alpha=c_m[i])
        rec.step(i, x, x0)
    return rec.finish("dpm-solver++2s", x, f)


def dpm_solver_pp_2m(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """DPM-Solver++(2M); see dpm_solver_pp_multistep."""
    return dpm_solver_pp_multistep(
        model, x_T, timesteps, order=2, generator=generator, record=record, callback=callback
    )


def dpm_solver_pp_3m(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    half_d2: bool = False,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """DPM-Solver++(3M); see dpm_solver_pp_multistep."""
    return dpm_solver_pp_multistep(
        model,
        x_T,
        timesteps,
        order=3,
        half_d2=half_d2,
        generator=generator,
        record=record,
        callback=callback,
    )

register(
    SamplerSpec(
        name="dpm-solver++2m",
        label="DPM-Solver++(2M)",
        fn=dpm_solver_pp_2m,
        nfe=lambda steps: steps,
        stochastic=False,
        order=2,
        citation="Lu et al. 2022b, Alg. 2",
    )
)
register(
    SamplerSpec(
        name="dpm-solver++3m",
        label="DPM-Solver++(3M)",
        fn=dpm_solver_pp_3m,
        nfe=lambda steps: steps,
        stochastic=False,
        order=3,
        citation="Lu et al. 2022b, multistep 3rd order",
    )
)
register(
    SamplerSpec(
        name="dpm-solver++2s",
        label="DPM-Solver++(2S)",
        fn=dpm_solver_pp_2s,
        nfe=lambda steps: 2 * (steps - 1) + 1,
        stochastic=False,
        order=2,
        citation="Lu et al. 2022b, Alg. 1",
    )
)
