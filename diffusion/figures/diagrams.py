"""Teaching diagrams: where a grid evaluates the model on the schedule's curves, one Heun
step (predictor and corrector), progressive distillation's two teacher steps against
the student's one, and the consistency property along one ODE trajectory.

The points these diagrams draw come from the samplers themselves (``heun_points``,
``ddim_step``): a figure never carries a second copy of a step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import PALETTE, axis_suffix, layout_look, side_by_side, style

__all__ = [
    "consistency_property",
    "ddim_step",
    "heun_points",
    "heun_step",
    "schedule_timesteps",
    "two_steps_vs_one",
]


def schedule_timesteps(
    t: np.ndarray,
    alpha_bar: np.ndarray,
    lambda_: np.ndarray,
    grids: Mapping[str, np.ndarray],
    *,
    lecture: bool = False,
) -> go.Figure:
    """Where each grid evaluates the model: markers on the alpha_bar_t and log-SNR
    lambda_t curves. t, alpha_bar, lambda_: (T,) the schedule at every integer t;
    grids: label -> descending evaluation times (S,)."""
    layout = side_by_side(("ᾱ_t (alpha_bar)", "λ_t = log(α_t / σ_t)"), 0.1, lecture)
    traces = [
        {
            "type": "scatter",
            "x": t,
            "y": curve,
            "mode": "lines",
            "showlegend": False,
            "line": {"color": "#888888", "width": 4 if lecture else 2},
            "xaxis": f"x{axis_suffix(j)}",
            "yaxis": f"y{axis_suffix(j)}",
        }
        for j, curve in enumerate((alpha_bar, lambda_))
    ]
    for i, (name, ts) in enumerate(grids.items()):
        ts = np.asarray(ts, dtype=float)
        color = PALETTE[i % len(PALETTE)]
        for j, curve in enumerate((alpha_bar, lambda_)):
            traces.append(
                {
                    "type": "scatter",
                    "x": ts,
                    "y": np.interp(ts, t, curve),
                    "mode": "markers",
                    "name": name,
                    "showlegend": j == 0,
                    "legendgroup": name,
                    "marker": {"size": 11 if lecture else 8, "color": color, "symbol": i % 10},
                    "hovertemplate": "t = %{x:.1f}<br>%{y:.4g}<extra>" + name + "</extra>",
                    "xaxis": f"x{axis_suffix(j)}",
                    "yaxis": f"y{axis_suffix(j)}",
                }
            )
    t_max = float(t[-1])
    layout["shapes"] = [
        {
            "type": "line",
            "x0": t_max,
            "x1": t_max,
            "y0": 0,
            "y1": 1,
            "xref": f"x{axis_suffix(j)}",
            "yref": f"y{axis_suffix(j)} domain",
            "line": {"dash": "dot", "color": "#999999"},
        }
        for j in range(2)
    ]
    # fixed ranges: a new grid then redraws only its markers, with no autorange pass
    pad = 0.03 * t_max
    for j, curve in enumerate((alpha_bar, lambda_)):
        lo, hi = float(np.min(curve)), float(np.max(curve))
        span = hi - lo or 1.0
        # no grid lines: the curves are read against their ticks, and a redraw on every
        # steps change is cheaper without them
        layout[f"xaxis{axis_suffix(j)}"].update(
            title={"text": "timestep t"}, showgrid=False, range=[float(t[0]) - pad, t_max + pad]
        )
        layout[f"yaxis{axis_suffix(j)}"].update(
            range=[lo - 0.05 * span, hi + 0.05 * span], showgrid=False
        )
    layout.update(layout_look(lecture, 340))
    return go.Figure(data=traces, layout=layout)


def heun_step(
    x_t: np.ndarray,
    x_euler: np.ndarray,
    x_heun: np.ndarray,
    x_exact_path: np.ndarray,
    *,
    lecture: bool = False,
) -> go.Figure:
    """One Heun step for one particle: the Euler predictor (slope d_t at x_t), the
    corrector that averages d_t with the slope at the predicted point, and the exact
    ODE path between the two times. Points: (2,); x_exact_path: (M, 2)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x_exact_path[:, 0],
            y=x_exact_path[:, 1],
            mode="lines",
            name="exact ODE path",
            line={"color": "#444444", "dash": "dash", "width": 4 if lecture else 3},
        )
    )
    arrows = (
        ("Euler predictor (1 NFE)", x_t, x_euler, PALETTE[1]),
        ("Heun corrector (+1 NFE)", x_t, x_heun, PALETTE[0]),
    )
    for name, a, b, color in arrows:
        fig.add_trace(
            go.Scatter(
                x=[a[0], b[0]],
                y=[a[1], b[1]],
                mode="lines+markers",
                name=name,
                line={"color": color, "width": 3},
                marker={"size": 12 if lecture else 9, "symbol": ["circle", "x"]},
            )
        )
    end = x_exact_path[-1]  # a short path can hide under the start: mark its end
    fig.add_trace(
        go.Scatter(
            x=[end[0]],
            y=[end[1]],
            mode="markers",
            name="exact end of step",
            marker={"size": 16 if lecture else 12, "color": "#444444", "symbol": "star"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[x_t[0]],
            y=[x_t[1]],
            mode="markers+text",
            text=["x_t"],
            textposition="top left",
            name="start",
            showlegend=False,
            marker={"size": 14 if lecture else 10, "color": "#000000"},
        )
    )
    fig.update_yaxes(scaleanchor="x", title_text="x[1] (second coordinate)")
    fig.update_xaxes(title_text="x[0] (first coordinate)")
    return style(fig, lecture=lecture, height=420)


def two_steps_vs_one(
    x_t: np.ndarray,
    teacher_path: np.ndarray,
    student_point: np.ndarray,
    *,
    labels: Sequence[str] = ("x_t", "x_t' (teacher)", "x_t'' (teacher)", "student"),
    lecture: bool = False,
) -> go.Figure:
    """Progressive distillation for one particle: the teacher's two DDIM steps
    x_t -> x_t' -> x_t'' and the student's single step x_t -> x_t''.
    x_t, student_point: (2,); teacher_path: (3, 2) = x_t, x_t', x_t''."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=teacher_path[:, 0],
            y=teacher_path[:, 1],
            mode="lines+markers+text",
            name="teacher: 2 steps",
            text=list(labels[:3]),
            textposition="top center",
            line={"color": PALETTE[1], "width": 3},
            marker={"size": 12 if lecture else 9},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[x_t[0], student_point[0]],
            y=[x_t[1], student_point[1]],
            mode="lines+markers",
            name="student: 1 step",
            line={"color": PALETTE[0], "width": 3, "dash": "dash"},
            marker={"size": 12 if lecture else 9, "symbol": ["circle", "x"]},
        )
    )
    fig.update_yaxes(scaleanchor="x")
    return style(fig, lecture=lecture, height=400)


def consistency_property(
    t: np.ndarray,
    path: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    *,
    lecture: bool = False,
) -> go.Figure:
    """The consistency property along one exact ODE trajectory.

    t: (M,) times; path: (M, 2) the trajectory x_t; outputs: label -> (M, 2) what
    a model maps each x_t to (f_theta(x_t, t) for a consistency model, the one-step
    x0-hat for a diffusion model). A consistency model's outputs collapse to one
    point; the right panel shows their distance from the trajectory's endpoint."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("trajectory x_t and the model outputs", "distance of output from x_0 vs t"),
    )
    fig.add_trace(
        go.Scatter(
            x=path[:, 0], y=path[:, 1], mode="lines", name="ODE path x_t", line={"color": "#444444"}
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[path[-1, 0]],
            y=[path[-1, 1]],
            mode="markers",
            name="x_0",
            marker={"size": 14, "color": "#000000", "symbol": "star"},
        ),
        row=1,
        col=1,
    )
    for i, (name, out) in enumerate(outputs.items()):
        color = PALETTE[(i + 1) % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=out[:, 0],
                y=out[:, 1],
                mode="markers",
                name=name,
                marker={
                    "color": t,
                    "colorscale": "Viridis",
                    "size": 8,
                    "symbol": i % 10,
                    "line": {"color": color, "width": 2},
                },
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        dist = np.linalg.norm(out - path[-1], axis=1)
        fig.add_trace(
            go.Scatter(
                x=t,
                y=dist,
                mode="lines+markers",
                name=name,
                showlegend=False,
                line={"color": color},
                legendgroup=name,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="t", row=1, col=2)
    fig.update_yaxes(title_text="|f(x_t, t) - x_0|", type="log", row=1, col=2)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    return style(fig, lecture=lecture, height=420)


def _one_step(sampler: str, model, x, grid: Sequence[float]):
    """The state after the first step of the registered ``sampler`` on ``grid`` (two
    times: one step between them; one time: the step to the clean endpoint)."""
    import torch

    from ..samplers import REGISTRY

    ts = torch.tensor(grid, dtype=torch.float64)
    return REGISTRY[sampler](model, x, ts, record=True).xs[1]


def heun_points(model, x, t0: float, t1: float):
    """Heun's predictor and corrector for the step t0 -> t1 (t1 > 0) of the PF-ODE in
    sigma-bar space (EDM Alg. 1, lines 5-8): the first step of the registered ``euler``
    and ``heun`` samplers on the two-point grid [t0, t1].

    x: (B, 2). Returns (x_euler, x_heun), each (B, 2), in x-space; the data for
    ``heun_step``.
    """
    return _one_step("euler", model, x, [t0, t1]), _one_step("heun", model, x, [t0, t1])


def ddim_step(model, x, t: float, t_next: float):
    """One deterministic DDIM step (eta = 0, DDIM eq. 12) from t to t_next: the first step
    of the registered ``ddim`` sampler on [t, t_next]; t_next < 0 means the clean
    endpoint (alpha = 1, sigma = 0), where the step returns x0-hat.
    x: (B, *D) -> (B, *D). Used to draw progressive distillation's teacher/student steps."""
    return _one_step("ddim", model, x, [t] if t_next < 0 else [t, t_next])
