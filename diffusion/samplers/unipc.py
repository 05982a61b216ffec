"""UniPC (Zhao et al. 2023): a unified predictor-corrector for the PF-ODE, with the
B(h) = e^h - 1 variant ('bh2') and data prediction.

The predictor UniP-p is a multistep step like DPM-Solver++; the corrector UniC-p
re-does the last step with the model output at the new point included, which raises
the order by one at no extra evaluation: the output at the predicted point is what
the next predictor uses anyway (Zhao et al. 2023, Alg. 1-3, Thm. 3.1).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..model import DiffusionModel
from .base import Grid, Run, SamplerSpec, Trajectory, register
from .steps import linear_step


def _rhos(rks: list[float], hh: float, p: int, corrector: bool) -> list[float]:
    """The weights rho of the order-p update (UniPC eq. 8, bh2: B(h) = e^hh - 1).

    rks: the ratios r_k of the previous lambda steps, with r_p = 1 last. Rows of the
    system are r_k^(q-1), right-hand side phi_{q+1}(hh) q! / B(hh), q = 1..p.
    """
    B_h = math.expm1(hh)
    h_phi_k = math.expm1(hh) / hh - 1.0
    factorial = 1
    R, b = [], []
    for q in range(1, p + 1):
        R.append([r ** (q - 1) for r in rks])
        b.append(h_phi_k * factorial / B_h)
        factorial *= q + 1
        h_phi_k = h_phi_k / hh - 1.0 / factorial
    if corrector:
        return [0.5] if p == 1 else _solve(R, b)
    if p == 1:
        return []
    # For p = 2 the reference implementation fixes rho = 1/2 (its limit as h -> 0).
    return [0.5] if p == 2 else _solve([row[:-1] for row in R[:-1]], b[:-1])


def _solve(R: list[list[float]], b: list[float]) -> list[float]:
    """R rho = b; the 2x2 case (UniPC-2's corrector) by Cramer's rule, no numpy call."""
    if len(b) == 2:
        det = R[0][0] * R[1][1] - R[0][1] * R[1][0]
        return [(b[0] * R[1][1] - R[0][1] * b[1]) / det, (R[0][0] * b[1] - b[0] * R[1][0]) / det]
    return np.linalg.solve(np.array(R), np.array(b)).tolist()


def _update(g: Grid, src: int, dst: int, p: int, corrector: bool) -> tuple[float, list[float]]:
    """Coefficients of x_dst = c_x x_src + sum_j c_j m_j for UniP (corrector=False,
    over m_src, m_src-1, ...) or UniC (corrector=True, over m_dst, m_src, m_src-1, ...)."""
    lam = g.lambda_
    h = lam[dst] - lam[src]
    hh = -h  # data prediction
    a_t = g.alpha[dst]
    ks = list(range(1, p))
    rks = [(lam[src - k] - lam[src]) / h for k in ks] + [1.0]
    rhos = _rhos(rks, hh, p, corrector)
    B_h = math.expm1(hh)
    c_x = g.sigma[dst] / g.sigma[src]
    c_src = -a_t * math.expm1(hh)
    # D1_k = (m_{src-k} - m_src) / r_k enters as - a_t B_h rho_k D1_k
    c_hist = [-a_t * B_h * rhos[j] / rks[j] for j in range(len(ks))]
    c_src -= sum(c_hist)
    if not corrector:
        return c_x, [c_src, *c_hist]
    # the new output at dst enters as - a_t B_h rho_p (m_dst - m_src)
    c_new = -a_t * B_h * rhos[-1]
    return c_x, [c_new, c_src - c_new, *c_hist]


def _coefficients(g: Grid, order: int) -> tuple[list, list]:
    """Every step's predictor and corrector coefficients for UniPC-``order`` on grid g:
    predictor order min(order, i + 1, S - i), as in ``unipc``."""
    n = g.S - 1
    p_of = [min(order, i + 1, g.S - i) for i in range(g.S)]
    pred = [_update(g, i, i + 1, p_of[i], corrector=False) for i in range(n)]
    corr = [None] + [_update(g, i - 1, i, p_of[i - 1], corrector=True) for i in range(1, n)]
    return pred, corr


@torch.no_grad()
def unipc(
    model: DiffusionModel,
    x_T: Tensor,
    timesteps: Tensor,
    *,
    order: int = 2,
    generator: torch.Generator | None = None,
    record: bool = True,
    callback=None,
) -> Trajectory:
    """UniPC-p with bh2 (Zhao et al. 2023, Alg. 3): predictor order min(p, i+1, S-i)
    (warm-up, and lower orders at the end as the reference code does), corrector
    UniC applied after every predictor step except into the clean endpoint. NFE = S.
    x_T: (B, *D).
    """
    if order not in (1, 2, 3):
        raise ValueError(f"UniPC order must be 1, 2 or 3, got {order}")
    run = Run("unipc", model, x_T, timesteps, record, callback)
    g, x = run.grid, x_T
    pred_coef, corr_coef = g.memo(("unipc", order), lambda: _coefficients(g, order))
    hist: list[Tensor] = []  # x0-hats at grid points, newest first
    x_prev = x  # the point the last predictor step started from
    for i in range(g.S - 1):
        m = run.predict(x, i).x0
        if i > 0:
            # UniC: redo the step x_prev -> x_i with the new x0-hat m_i included
            c_x, cs = corr_coef[i]
            x = linear_step(c_x, x_prev, cs, [m, *hist])
        hist = [m, *hist[: order - 1]]
        x_prev = x
        c_x, cs = pred_coef[i]
        x = linear_step(c_x, x, cs, hist)  # UniP
        run.step(i, x, m)
    return run.denoise(x, order=order)


register(
    SamplerSpec(
        name="unipc",
        label="UniPC (bh2)",
        fn=unipc,
        nfe=lambda steps: steps,
        stochastic=False,
        order=3,  # UniP-2 with UniC: order 3 (Zhao et al. 2023, Cor. 3.2)
        citation="Zhao et al. 2023, Alg. 3 (B(h) = e^h - 1)",
    )
)
