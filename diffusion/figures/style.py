"""The app's look: the Okabe-Ito palette, the screen and lecturer templates, the layout
helpers every figure shares (panels side by side, square views) and the export button's
configuration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = ["LOG_AXIS", "PALETTE", "export_config", "style"]

LOG_AXIS = {"type": "log", "dtick": "D2"}
"""A log axis labelled at 1, 2 and 5 of each decade, for the quality curves, which span
one to three decades: there plotly's default labels every digit and crowds the axis.
(Over more decades, as the solvers' error plot, its default of powers of ten is kept.)"""

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def _template(lecture: bool) -> go.layout.Template:
    """The app's two looks as small plotly templates (built once; see ``style``).

    Screen: white background with light grid lines. Lecturer mode: black axis lines,
    outside ticks and no grid, as on a printed figure. Both use the Okabe-Ito colours.
    A template this small costs plotly a fraction of a millisecond to attach to a
    figure, where the stock templates, validated whole on every figure, cost several.
    """
    if lecture:
        axis = {
            "showline": True,
            "linecolor": "#000000",
            "linewidth": 1.5,
            "ticks": "outside",
            "showgrid": False,
            "zeroline": False,
            "automargin": True,
        }
    else:
        axis = {
            "showline": False,
            "gridcolor": "#E5ECF6",
            "zerolinecolor": "#E5ECF6",
            "showgrid": True,
            "ticks": "",
            "automargin": True,
        }
    return go.layout.Template(
        layout={
            "colorway": list(PALETTE),
            "paper_bgcolor": "#FFFFFF",
            "plot_bgcolor": "#FFFFFF",
            "hovermode": "closest",
            "xaxis": axis,
            "yaxis": axis,
        }
    )


_TEMPLATES = {False: _template(False), True: _template(True)}


def style(fig: go.Figure, *, lecture: bool = False, height: int | None = None) -> go.Figure:
    """Apply the app's look. Lecturer mode: 22 px fonts, white background, thick lines."""
    fig.update_layout(layout_look(lecture, height))
    if lecture:
        fig.update_traces(selector={"type": "scatter", "mode": "lines"}, line_width=4)
        fig.update_traces(selector={"type": "scatter", "mode": "lines+markers"}, line_width=4)
        fig.update_annotations(font_size=22)
    return fig


def layout_look(lecture: bool, height: int | None = None) -> dict:
    """The app's look as layout properties (``style`` applies them to a built figure;
    the one-construction builders put them in their layout dict). Lecturer mode: 22 px
    fonts, black on white, 1.25x the height."""
    base = 22 if lecture else 13
    look = {
        "template": _TEMPLATES[lecture],
        "font": {"size": base, "color": "#000000" if lecture else "#222222"},
        "margin": {"l": 50, "r": 20, "t": 60 if lecture else 45, "b": 45},
        "legend": {"font": {"size": base - 2}},
    }
    if height is not None:
        look["height"] = int(height * (1.25 if lecture else 1.0))
    return look


def axis_suffix(j: int) -> str:
    """Suffix of panel j's axes (0-based): '', '2', '3', ..."""
    return "" if j == 0 else str(j + 1)


def side_by_side(titles: Sequence[str], spacing: float, lecture: bool) -> dict:
    """Layout of len(titles) panels side by side with a title above each: the axes
    and annotations plotly's make_subplots makes for one row, as a plain dict, so a
    figure is validated once instead of property by property."""
    n = len(titles)
    width = (1.0 - spacing * (n - 1)) / n
    layout: dict = {"annotations": []}
    for j, title in enumerate(titles):
        a, x0 = axis_suffix(j), j * (width + spacing)
        layout[f"xaxis{a}"] = {"anchor": f"y{a}", "domain": [x0, x0 + width]}
        layout[f"yaxis{a}"] = {"anchor": f"x{a}", "domain": [0.0, 1.0]}
        layout["annotations"].append(
            {
                "text": title,
                "x": x0 + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 22 if lecture else 16},
            }
        )
    return layout


def square_view(layout: dict, n: int, lim: float) -> None:
    """Equal, fixed ranges [-lim, lim] on the n panels of ``side_by_side``, no grid."""
    for j in range(n):
        a = axis_suffix(j)
        layout[f"xaxis{a}"].update(range=[-lim, lim], showgrid=False, zeroline=False)
        layout[f"yaxis{a}"].update(
            range=[-lim, lim], showgrid=False, zeroline=False, scaleanchor=f"x{a}"
        )


def export_config(filename: str, fmt: str = "png", *, lecture: bool = False) -> dict:
    """plotly config whose camera button downloads the figure as PNG or SVG
    (``toImageButtonOptions``), at twice the size in lecturer mode for slides."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"unknown export format {fmt!r}; choose png or svg")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {
            "format": fmt,
            "filename": filename,
            "scale": 2 if lecture else 1,
        },
    }


def view_limit(*arrays: np.ndarray, pad: float = 1.1, cap: float = 6.0) -> float:
    """Half-width of a square view holding the bulk (99.5 %) of the points."""
    pts = np.concatenate([np.abs(np.asarray(a).reshape(-1)) for a in arrays if a is not None])
    pts = pts[np.isfinite(pts)]
    if pts.size == 0:
        return 3.0
    return float(min(max(np.quantile(pts, 0.995) * pad, 1.0), cap))
