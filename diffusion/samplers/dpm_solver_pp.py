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
from .base import Grid, Run, SamplerSpec, Trajectory, register
from .dpm_solver import grid_intermediate_points
from .steps import linear_step


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

    x_{i+1} = c_x x_i + sum_j c_j m_{i-j} with m_j the x0-hats of the last ``order`` grid
    points (``multistep_coefficients``). One evaluation per grid point: NFE = S. Lower
    orders on the first steps while the history fills; the last step, to sigma = 0, is
    first order (it returns x0-hat). half_d2: reproduce the 3rd-order update of the
    dpm-solver/diffusers code (see ``multistep_coefficients``). x_T: (B, *D).
    """
    if order not in (1, 2, 3):
        raise ValueError(f"DPM-Solver++ multistep order must be 1, 2 or 3, got {order}")
    if half_d2 and order != 3:
        raise ValueError("half_d2 applies to the 3rd-order update (dpm-solver++3m) only")
    run = Run(f"dpm-solver++{order}m", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    coef = multistep_coefficients(g, order, half_d2)
    hist: list[Tensor] = []  # x0-hats, newest first
    for i in range(g.S - 1):
        x0 = run.predict(x, i).x0
        hist = [x0, *hist[: order - 1]]
        c_x, cs = coef[i]
        x = linear_step(c_x, x, cs, hist)
        run.step(i, x, x0)
    return run.denoise(x, order=order)


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
    evaluation at the lambda-midpoint u of each step, whose x0-hat drives the step:
      u       = (sigma_u / sigma_s) x_s - alpha_u (e^{-r1 h} - 1) m_s,
      x_t     = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) D,
    D = (1 - 1/(2 r1)) m_s + 1/(2 r1) m_u, which is m_u for r1 = 1/2.
    NFE = 2 (S - 1) + 1. x_T: (B, *D)."""
    r1 = 0.5
    run = Run("dpm-solver++2s", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    t1, a1, s1 = grid_intermediate_points(model, g, r1)
    for i in range(g.S - 1):
        s, a_t, s_t = g.sigma[i], g.alpha[i + 1], g.sigma[i + 1]
        h = g.lambda_[i + 1] - g.lambda_[i]
        x0 = run.predict(x, i).x0
        u = (s1[i] / s) * x - a1[i] * math.expm1(-r1 * h) * x0
        d = run.predict_at(u, t1[i], a1[i], s1[i]).x0  # D = m_u for r1 = 1/2
        x = (s_t / s) * x - a_t * math.expm1(-h) * d
        run.step(i, x, x0)
    return run.denoise(x)


register(
    SamplerSpec(
        name="dpm-solver++2m",
        label="DPM-Solver++(2M)",
        fn=dpm_solver_pp_multistep,
        nfe=lambda steps: steps,
        stochastic=False,
        order=2,
        citation="Lu et al. 2022b, Alg. 2",
        options={"order": 2, "half_d2": False},  # half_d2 concerns the 3rd order only
    )
)
register(
    SamplerSpec(
        name="dpm-solver++3m",
        label="DPM-Solver++(3M)",
        fn=dpm_solver_pp_multistep,
        nfe=lambda steps: steps,
        stochastic=False,
        order=3,
        citation="Lu et al. 2022b, multistep 3rd order",
        options={"order": 3},
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
