"""Curves: sample quality against cost, and a solver's error against NFE on log-log axes
(its measured order, ``diffusion.metrics.fit_order``, in the legend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .style import LOG_AXIS, PALETTE, style

__all__ = ["error_vs_nfe", "quality_curves"]


def _series_trace(
    i: int, name: str, x: Sequence[float], y: Sequence[float], lecture: bool
) -> go.Scatter:
    """The i-th series as lines with markers: its palette colour and marker symbol."""
    return go.Scatter(
        x=list(x),
        y=list(y),
        mode="lines+markers",
        name=name,
        line={"color": PALETTE[i % len(PALETTE)]},
        marker={"symbol": i % 10, "size": 10 if lecture else 7},
    )


def quality_curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    metric: str,
    x_label: str = "NFE (network evaluations)",
    floor: float | None = None,
    log_x: bool = True,
    log_y: bool = True,
    lecture: bool = False,
    title: str | None = None,
) -> go.Figure:
    """Quality against cost: label -> (nfe list, metric list); the data-vs-data
    floor (the best any sampler can reach at this sample size) as a dashed line."""
    fig = go.Figure()
    for i, (name, (xv, yv)) in enumerate(series.items()):
        fig.add_trace(_series_trace(i, name, xv, yv, lecture))
    if floor is not None and np.isfinite(floor):
        fig.add_hline(
            y=floor,
            line_dash="dash",
            line_color="#777777",
            annotation_text="data vs data floor",
            annotation_position="bottom right",
        )
    fig.update_xaxes(title_text=x_label, **(LOG_AXIS if log_x else {}))
    fig.update_yaxes(title_text=metric, **(LOG_AXIS if log_y else {}))
    fig.update_layout(title=title)
    return style(fig, lecture=lecture, height=380)


def error_vs_nfe(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    orders: Mapping[str, float] | None = None,
    lecture: bool = False,
) -> go.Figure:
    """Log-log error against NFE with each solver's measured order in its legend,
    plus dotted guide lines of slope -1, -2 and -3."""
    fig = go.Figure()
    all_n, all_e = [], []
    for i, (name, (nv, ev)) in enumerate(series.items()):
        label = f"{name} (order {orders[name]:.2f})" if orders and name in orders else name
        fig.add_trace(_series_trace(i, label, nv, ev, lecture))
        all_n += list(nv)
        all_e += [e for e in ev if e > 0]
    if all_n and all_e:
        n0, n1 = min(all_n), max(all_n)
        e0 = max(all_e)
        for p in (1, 2, 3):
            fig.add_trace(
                go.Scatter(
                    x=[n0, n1],
                    y=[e0, e0 * (n0 / n1) ** p],
                    mode="lines",
                    name=f"slope -{p}",
                    line={"dash": "dot", "color": "#aaaaaa", "width": 1},
                    hoverinfo="skip",
                )
            )
    fig.update_xaxes(title_text="NFE", type="log")
    fig.update_yaxes(title_text="RMS error vs exact ODE solution", type="log", exponentformat="e")
    return style(fig, lecture=lecture, height=420)
