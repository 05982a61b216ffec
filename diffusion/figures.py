"""Pure figure builders for the teaching app: NumPy arrays in, plotly figures out.

Nothing here touches streamlit or holds state, so every figure can be built in a
test, a notebook or a script. Arrays follow the package's shapes: samples
x: (B, 2), trajectories xs: (S+1, B, 2) (x_T first, clean samples last).
``lecture=True`` gives the projector style: large fonts, thick lines, black on white.
"""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "PALETTE",
    "style",
    "export_config",
    "samples_grid",
    "points_raster",
    "coverage_png",
    "schedule_timesteps",
    "trajectory_animation",
    "quality_curves",
    "error_vs_nfe",
    "fit_order",
    "heun_step",
    "two_steps_vs_one",
    "consistency_property",
    "trajectory_gif",
    "trajectory_mp4",
    "ffmpeg_available",
    "heun_points",
    "ddim_step",
]

# Okabe-Ito: distinguishable under the common colour-vision deficiencies and on projectors.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


def _template(lecture: bool) -> go.layout.Template:
    """The app's two looks as small plotly templates (built once; see ``style``).

    Screen: white background with light grid lines. Lecturer mode: black axis lines,
    outside ticks and no grid, as on a printed figure. Both use the Okabe-Ito colours.
    A template this small costs plotly a fraction of a millisecond to attach to a
    figure, where the stock templates, validated whole on every figure, cost several.
    """
    if lecture:
        axis = {"showline": True, "linecolor": "#000000", "linewidth": 1.5, "ticks": "outside",
                "showgrid": False, "zeroline": False, "automargin": True}
    else:
        axis = {"showline": False, "gridcolor": "#E5ECF6", "zerolinecolor": "#E5ECF6",
                "showgrid": True, "ticks": "", "automargin": True}
    return go.layout.Template(layout={
        "colorway": list(PALETTE), "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF",
        "hovermode": "closest", "xaxis": axis, "yaxis": axis,
    })


_TEMPLATES = {False: _template(False), True: _template(True)}


def style(fig: go.Figure, *, lecture: bool = False, height: int | None = None) -> go.Figure:
    """Apply the app's look. Lecturer mode: 22 px fonts, white background, thick lines."""
    fig.update_layout(_look(lecture, height))
    if lecture:
        fig.update_traces(selector={"type": "scatter", "mode": "lines"}, line_width=4)
        fig.update_traces(selector={"type": "scatter", "mode": "lines+markers"}, line_width=4)
        fig.update_annotations(font_size=22)
    return fig


def _look(lecture: bool, height: int | None = None) -> dict:
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


def _axis(j: int) -> str:
    """Suffix of panel j's axes (0-based): '', '2', '3', ..."""
    return "" if j == 0 else str(j + 1)


def _panels(titles: Sequence[str], spacing: float, lecture: bool) -> dict:
    """Layout of len(titles) panels side by side with a title above each: the axes
    and annotations plotly's make_subplots makes for one row, as a plain dict, so a
    figure is validated once instead of property by property."""
    n = len(titles)
    width = (1.0 - spacing * (n - 1)) / n
    layout: dict = {"annotations": []}
    for j, title in enumerate(titles):
        a, x0 = _axis(j), j * (width + spacing)
        layout[f"xaxis{a}"] = {"anchor": f"y{a}", "domain": [x0, x0 + width]}
        layout[f"yaxis{a}"] = {"anchor": f"x{a}", "domain": [0.0, 1.0]}
        layout["annotations"].append({
            "text": title, "x": x0 + width / 2, "y": 1.0, "xref": "paper", "yref": "paper",
            "xanchor": "center", "yanchor": "bottom", "showarrow": False,
            "font": {"size": 22 if lecture else 16},
        })
    return layout


def _square(layout: dict, n: int, lim: float) -> None:
    """Equal, fixed ranges [-lim, lim] on the n panels of ``_panels``, no grid."""
    for j in range(n):
        a = _axis(j)
        layout[f"xaxis{a}"].update(range=[-lim, lim], showgrid=False, zeroline=False)
        layout[f"yaxis{a}"].update(range=[-lim, lim], showgrid=False, zeroline=False,
                                   scaleanchor=f"x{a}")


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


def _square_axes(fig: go.Figure, lim: float, rows: int = 1, cols: int = 1) -> None:
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            fig.update_xaxes(range=[-lim, lim], row=r, col=c, showgrid=False, zeroline=False)
            fig.update_yaxes(
                range=[-lim, lim], row=r, col=c, showgrid=False, zeroline=False,
                scaleanchor=f"x{'' if (r - 1) * cols + c == 1 else (r - 1) * cols + c}",
            )


def _limit(*arrays: np.ndarray, pad: float = 1.1, cap: float = 6.0) -> float:
    """Half-width of a square view holding the bulk (99.5 %) of the points."""
    pts = np.concatenate([np.abs(np.asarray(a).reshape(-1)) for a in arrays if a is not None])
    pts = pts[np.isfinite(pts)]
    if pts.size == 0:
        return 3.0
    return float(min(max(np.quantile(pts, 0.995) * pad, 1.0), cap))


DENSITY_BINS = 64
"""Cells per side of the grey data-density background of sample plots."""


def _png_uri(img) -> str:
    """A Pillow image as a ``data:image/png;base64,...`` URI (fast compression)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _panel_image(source: str, axes: str, lim: float, layer: str) -> dict:
    """A layout image covering panel ``axes``' square [-lim, lim]^2."""
    return {
        "source": source, "xref": f"x{axes}", "yref": f"y{axes}", "x": -lim, "y": lim,
        "sizex": 2 * lim, "sizey": 2 * lim, "sizing": "stretch", "layer": layer,
    }


def _density_png(data: np.ndarray, lim: float) -> str:
    """The data as a grey 2-D histogram on [-lim, lim]^2 (empty cells transparent), as a
    PNG data URI for a layout image under a panel's traces (``_panel_image``).

    One small image instead of one SVG marker per point, and no heatmap for the
    browser to paint into a canvas and re-encode: it redraws in constant time
    whatever the number of data points, which keeps a slider change cheap. The grey
    deepens with sqrt(count), so the tails stay visible.
    """
    from PIL import Image

    d = np.asarray(data, dtype=float)
    d = d[np.isfinite(d).all(axis=1)]
    counts, _, _ = np.histogram2d(d[:, 0], d[:, 1], bins=DENSITY_BINS,
                                  range=[[-lim, lim], [-lim, lim]])
    counts = counts.T[::-1]  # rows from y = +lim down
    level = np.sqrt(counts)
    level = level / level.max() if level.max() > 0 else level
    # light grey (225) where sparse to mid grey (140) where dense; transparent where empty
    grey = np.round(225 - 85 * level).astype(np.uint8)
    alpha = np.where(counts > 0, 255, 0).astype(np.uint8)
    return _png_uri(Image.fromarray(np.stack([grey, grey, grey, alpha], axis=-1), mode="RGBA"))


_DATA_LEGEND = {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": "data",
                "marker": {"size": 10, "symbol": "square", "color": "rgb(170,170,170)"}}
"""A legend entry for the data density (a trace with no points draws nothing else)."""


SAMPLE_RASTER_PX = 560
"""Pixels per side of the raster that carries one panel's samples."""


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def points_raster(
    x: np.ndarray,
    lim: float,
    *,
    px: int = SAMPLE_RASTER_PX,
    radius: float = 1.7,
) -> np.ndarray:
    """How much of each pixel 2-D points cover, drawn as anti-aliased dots on a
    (px, px) float32 image of the square [-lim, lim]^2 (row 0 at y = +lim), values
    in [0, 1]. x: (B, 2).

    A dot covers each pixel by how far the pixel's centre lies inside a disc of
    ``radius`` pixels around the point (a one-pixel linear ramp at the edge);
    overlapping dots keep the larger coverage.
    """
    pts = np.asarray(x, dtype=float).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    fx = (pts[:, 0] + lim) / (2 * lim) * px
    fy = (lim - pts[:, 1]) / (2 * lim) * px
    ix, iy = np.floor(fx).astype(int), np.floor(fy).astype(int)
    cover_img = np.zeros((px, px), dtype=np.float32)
    reach = int(np.ceil(radius + 0.5))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            cx, cy = ix + dx, iy + dy
            cover = np.clip(radius + 0.5 - np.hypot(cx + 0.5 - fx, cy + 0.5 - fy), 0.0, 1.0)
            keep = (cover > 0) & (cx >= 0) & (cx < px) & (cy >= 0) & (cy < px)
            np.maximum.at(cover_img, (cy[keep], cx[keep]), cover[keep].astype(np.float32))
    return cover_img


def coverage_png(cover: np.ndarray, color: str = PALETTE[0], opacity: float = 0.9) -> str:
    """A coverage image from ``points_raster`` as a PNG data URI in one colour, the
    coverage as transparency: a palette PNG (one byte per pixel, 256 levels of
    alpha), a quarter of the bytes of RGBA to encode and send. Pillow, which
    matplotlib already requires, writes it."""
    from PIL import Image

    level = np.round(np.clip(cover, 0.0, 1.0) * 255).astype(np.uint8)
    img = Image.fromarray(level, mode="L").convert("P")  # "L" -> "P" keeps the indices
    img.putpalette(list(_hex_rgb(color)) * 256)
    img.info["transparency"] = bytes(round(i * opacity) for i in range(256))
    return _png_uri(img)


def samples_grid(
    panels: Mapping[str, np.ndarray],
    *,
    data: np.ndarray | None = None,
    subtitles: Mapping[str, str] | None = None,
    lecture: bool = False,
    title: str | None = None,
    marker_size: float = 3.0,
) -> go.Figure:
    """Scatter plots of 2-D samples side by side, sharing one square view.

    panels: label -> x: (B, 2); data: optional (N, 2) drawn behind every panel as a
    grey density (an image under each panel); subtitles: label -> text under the
    label (NFE, wall time). The samples of each panel are one raster image on the
    panel's axes (``points_raster``), not one SVG marker per point: a browser
    without a GPU redraws a 2,000-point panel in a fraction of the time, and zoom,
    pan and PNG/SVG export work as for any plotly figure. ``layout.images`` holds
    the panels' sample rasters in order, then the densities; ``layout.meta`` each
    panel's number of points.
    """
    if not panels:
        raise ValueError("samples_grid needs at least one panel")
    labels = list(panels)
    heads = [
        f"{k}<br><sub>{subtitles[k]}</sub>" if subtitles and k in subtitles else k for k in labels
    ]
    layout = _panels(heads, 0.04, lecture)
    lim = _limit(*(panels[k] for k in labels), data)
    _square(layout, len(labels), lim)
    radius = 0.55 * marker_size * (1.6 if lecture else 1.0)
    density = _density_png(data, lim) if data is not None else None  # one for every panel
    traces, images, below, counts = [], [], [], {}
    for j, k in enumerate(labels):
        a = _axis(j)
        if density is not None:
            below.append(_panel_image(density, a, lim, "below"))
        x = np.asarray(panels[k])
        counts[k] = int(len(x))
        images.append(_panel_image(coverage_png(points_raster(x, lim, radius=radius)), a, lim,
                                   "above"))
    if data is not None:
        traces.append(_DATA_LEGEND)
    # the legend's entry for the samples (a trace with no points draws nothing else)
    traces.append({"type": "scatter", "x": [None], "y": [None], "mode": "markers",
                   "name": "samples",
                   "marker": {"size": 3.0 * marker_size, "color": PALETTE[0]}})
    look = _look(lecture, 380)
    look["legend"].update(orientation="h", y=-0.08)
    # the samples' rasters first (panel order), then the data densities under them
    layout.update(look, title=title, images=images + below, meta={"points": counts})
    return go.Figure(data=traces, layout=layout)


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
    layout = _panels(("ᾱ_t (alpha_bar)", "λ_t = log(α_t / σ_t)"), 0.1, lecture)
    traces = [
        {"type": "scatter", "x": t, "y": curve, "mode": "lines", "showlegend": False,
         "line": {"color": "#888888", "width": 4 if lecture else 2},
         "xaxis": f"x{_axis(j)}", "yaxis": f"y{_axis(j)}"}
        for j, curve in enumerate((alpha_bar, lambda_))
    ]
    for i, (name, ts) in enumerate(grids.items()):
        ts = np.asarray(ts, dtype=float)
        color = PALETTE[i % len(PALETTE)]
        for j, curve in enumerate((alpha_bar, lambda_)):
            traces.append({
                "type": "scatter", "x": ts, "y": np.interp(ts, t, curve), "mode": "markers",
                "name": name, "showlegend": j == 0, "legendgroup": name,
                "marker": {"size": 11 if lecture else 8, "color": color, "symbol": i % 10},
                "hovertemplate": "t = %{x:.1f}<br>%{y:.4g}<extra>" + name + "</extra>",
                "xaxis": f"x{_axis(j)}", "yaxis": f"y{_axis(j)}",
            })
    t_max = float(t[-1])
    layout["shapes"] = [
        {"type": "line", "x0": t_max, "x1": t_max, "y0": 0, "y1": 1, "xref": f"x{_axis(j)}",
         "yref": f"y{_axis(j)} domain", "line": {"dash": "dot", "color": "#999999"}}
        for j in range(2)
    ]
    # fixed ranges: a new grid then redraws only its markers, with no autorange pass
    pad = 0.03 * t_max
    for j, curve in enumerate((alpha_bar, lambda_)):
        lo, hi = float(np.min(curve)), float(np.max(curve))
        span = hi - lo or 1.0
        # no grid lines: the curves are read against their ticks, and a redraw on every
        # steps change is cheaper without them
        layout[f"xaxis{_axis(j)}"].update(title={"text": "timestep t"}, showgrid=False,
                                          range=[float(t[0]) - pad, t_max + pad])
        layout[f"yaxis{_axis(j)}"].update(range=[lo - 0.05 * span, hi + 0.05 * span],
                                          showgrid=False)
    layout.update(_look(lecture, 340))
    return go.Figure(data=traces, layout=layout)


def _pad_frames(xs: np.ndarray, n: int) -> np.ndarray:
    """Repeat the last state so trajectories of different lengths animate in step."""
    if len(xs) >= n:
        return xs
    return np.concatenate([xs, np.repeat(xs[-1:], n - len(xs), axis=0)])


def trajectory_animation(
    runs: Mapping[str, np.ndarray],
    *,
    data: np.ndarray | None = None,
    n_show: int = 200,
    tails: int = 30,
    frame_ms: int = 120,
    lecture: bool = False,
) -> go.Figure:
    """Synchronised animation of several samplers side by side.

    runs: label -> xs: (S+1, B, 2), all from the same x_T. Frame k shows state k of
    every run (a run that has finished stays on its samples). The paths of the
    first ``tails`` particles are drawn in full, so the route, not just the cloud,
    is visible; at most ``n_show`` particles move.
    """
    if not runs:
        raise ValueError("trajectory_animation needs at least one run")
    labels = list(runs)
    n_frames = max(len(v) for v in runs.values())
    xs = {k: _pad_frames(np.asarray(v)[:, :n_show], n_frames) for k, v in runs.items()}
    lim = _limit(*(v[0] for v in xs.values()), *(v[-1] for v in xs.values()), data, pad=1.1)
    layout = _panels(labels, 0.04, lecture)
    _square(layout, len(labels), lim)
    size = 5 if lecture else 3.5
    density = _density_png(data, lim) if data is not None else None  # one for every panel
    traces: list = []
    images: list = []
    moving = []  # trace indices updated by frames
    for j, k in enumerate(labels):
        v = xs[k]
        axes = {"xaxis": f"x{_axis(j)}", "yaxis": f"y{_axis(j)}"}
        if density is not None:
            images.append(_panel_image(density, _axis(j), lim, "below"))
        m = min(tails, v.shape[1])
        # full paths of a few particles, separated by NaN so one trace draws them all
        path = np.concatenate([v[:, :m], np.full((1, m, 2), np.nan)], axis=0)
        path = path.transpose(1, 0, 2).reshape(-1, 2)
        traces.append({
            "type": "scatter", "x": path[:, 0], "y": path[:, 1], "mode": "lines",
            "showlegend": False, "hoverinfo": "skip",
            "line": {"width": 1, "color": "rgba(213,94,0,0.35)"}, **axes,
        })
        moving.append(len(traces))
        traces.append({
            "type": "scatter", "x": v[0, :, 0], "y": v[0, :, 1], "mode": "markers",
            "showlegend": False, "marker": {"size": size + 1, "color": PALETTE[0]}, **axes,
        })
    frames = [
        {"name": str(i), "traces": moving,
         "data": [{"type": "scatter", "x": xs[k][i, :, 0], "y": xs[k][i, :, 1]} for k in labels]}
        for i in range(n_frames)
    ]
    play = {"frame": {"duration": frame_ms, "redraw": False}, "fromcurrent": True,
            "transition": {"duration": 0}}
    layout.update(
        _look(lecture, 430),
        images=images,
        updatemenus=[{
            "type": "buttons", "showactive": False, "x": 0.0, "y": -0.12, "xanchor": "left",
            "buttons": [
                {"label": "Play", "method": "animate", "args": [None, play]},
                {"label": "Pause", "method": "animate",
                 "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}]},
            ],
        }],
        sliders=[{
            "active": 0, "x": 0.15, "len": 0.85, "y": -0.05, "currentvalue": {"prefix": "step "},
            "steps": [
                {"label": str(i), "method": "animate",
                 "args": [[str(i)], {"frame": {"duration": 0, "redraw": False},
                                     "mode": "immediate"}]}
                for i in range(n_frames)
            ],
        }],
    )
    return go.Figure(data=traces, layout=layout, frames=frames)


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
        fig.add_trace(
            go.Scatter(
                x=list(xv), y=list(yv), mode="lines+markers", name=name,
                line={"color": PALETTE[i % len(PALETTE)]},
                marker={"symbol": i % 10, "size": 10 if lecture else 7},
            )
        )
    if floor is not None and np.isfinite(floor):
        fig.add_hline(
            y=floor, line_dash="dash", line_color="#777777",
            annotation_text="data vs data floor", annotation_position="bottom right",
        )
    fig.update_xaxes(title_text=x_label, type="log" if log_x else "linear")
    fig.update_yaxes(title_text=metric, type="log" if log_y else "linear")
    fig.update_layout(title=title)
    return style(fig, lecture=lecture, height=380)


def fit_order(nfes: Sequence[float], errors: Sequence[float]) -> float:
    """Measured order of convergence: minus the least-squares slope of log error
    against log NFE (error ~ C NFE^-p gives p)."""
    n = np.log(np.asarray(nfes, dtype=float))
    e = np.log(np.maximum(np.asarray(errors, dtype=float), 1e-300))
    if len(n) < 2:
        raise ValueError("fit_order needs at least two NFE values")
    return float(-np.polyfit(n, e, 1)[0])


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
        fig.add_trace(
            go.Scatter(
                x=list(nv), y=list(ev), mode="lines+markers", name=label,
                line={"color": PALETTE[i % len(PALETTE)]},
                marker={"symbol": i % 10, "size": 10 if lecture else 7},
            )
        )
        all_n += list(nv)
        all_e += [e for e in ev if e > 0]
    if all_n and all_e:
        n0, n1 = min(all_n), max(all_n)
        e0 = max(all_e)
        for p in (1, 2, 3):
            fig.add_trace(
                go.Scatter(
                    x=[n0, n1], y=[e0, e0 * (n0 / n1) ** p], mode="lines", name=f"slope -{p}",
                    line={"dash": "dot", "color": "#aaaaaa", "width": 1}, hoverinfo="skip",
                )
            )
    fig.update_xaxes(title_text="NFE", type="log")
    fig.update_yaxes(title_text="RMS error vs exact ODE solution", type="log", exponentformat="e")
    return style(fig, lecture=lecture, height=420)


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
    fig.add_trace(go.Scatter(x=x_exact_path[:, 0], y=x_exact_path[:, 1], mode="lines",
                             name="exact ODE path", line={"color": "#444444", "dash": "dot"}))
    arrows = (
        ("Euler predictor (1 NFE)", x_t, x_euler, PALETTE[1]),
        ("Heun corrector (+1 NFE)", x_t, x_heun, PALETTE[0]),
    )
    for name, a, b, color in arrows:
        fig.add_trace(go.Scatter(x=[a[0], b[0]], y=[a[1], b[1]], mode="lines+markers", name=name,
                                 line={"color": color, "width": 3},
                                 marker={"size": 12 if lecture else 9, "symbol": ["circle", "x"]}))
    fig.add_trace(go.Scatter(x=[x_t[0]], y=[x_t[1]], mode="markers+text", text=["x_t"],
                             textposition="top left", name="start", showlegend=False,
                             marker={"size": 14 if lecture else 10, "color": "#000000"}))
    fig.update_yaxes(scaleanchor="x")
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
    fig.add_trace(go.Scatter(x=teacher_path[:, 0], y=teacher_path[:, 1], mode="lines+markers+text",
                             name="teacher: 2 steps", text=list(labels[:3]),
                             textposition="top center", line={"color": PALETTE[1], "width": 3},
                             marker={"size": 12 if lecture else 9}))
    fig.add_trace(go.Scatter(x=[x_t[0], student_point[0]], y=[x_t[1], student_point[1]],
                             mode="lines+markers", name="student: 1 step",
                             line={"color": PALETTE[0], "width": 3, "dash": "dash"},
                             marker={"size": 12 if lecture else 9, "symbol": ["circle", "x"]}))
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
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "trajectory x_t and the model outputs", "distance of output from x_0 vs t"))
    fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", name="ODE path x_t",
                             line={"color": "#444444"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=[path[-1, 0]], y=[path[-1, 1]], mode="markers", name="x_0",
                             marker={"size": 14, "color": "#000000", "symbol": "star"}),
                  row=1, col=1)
    for i, (name, out) in enumerate(outputs.items()):
        color = PALETTE[(i + 1) % len(PALETTE)]
        fig.add_trace(go.Scatter(x=out[:, 0], y=out[:, 1], mode="markers", name=name,
                                 marker={"color": t, "colorscale": "Viridis", "size": 8,
                                         "symbol": i % 10, "line": {"color": color, "width": 2}},
                                 legendgroup=name), row=1, col=1)
        dist = np.linalg.norm(out - path[-1], axis=1)
        fig.add_trace(go.Scatter(x=t, y=dist, mode="lines+markers", name=name, showlegend=False,
                                 line={"color": color}, legendgroup=name), row=1, col=2)
    fig.update_xaxes(title_text="t", row=1, col=2)
    fig.update_yaxes(title_text="|f(x_t, t) - x_0|", type="log", row=1, col=2)
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    return style(fig, lecture=lecture, height=420)


# ----- exports for slides -----------------------------------------------------------


def ffmpeg_available() -> bool:
    """Whether matplotlib can write MP4 (it needs the ffmpeg program)."""
    return shutil.which("ffmpeg") is not None


def _mpl_animation(runs: Mapping[str, np.ndarray], n_show: int, lecture: bool, fps: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    labels = list(runs)
    n_frames = max(len(v) for v in runs.values())
    xs = {k: _pad_frames(np.asarray(v)[:, :n_show], n_frames) for k, v in runs.items()}
    lim = _limit(*(v[-1] for v in xs.values()), pad=1.3)
    scale = 1.4 if lecture else 1.0
    fig, axes = plt.subplots(1, len(labels), figsize=(3.6 * len(labels) * scale, 3.8 * scale),
                             squeeze=False, dpi=80)
    dots = []
    for ax, k in zip(axes[0], labels, strict=True):
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(k, fontsize=12 * scale)
        dots.append(ax.scatter(xs[k][0, :, 0], xs[k][0, :, 1], s=4 * scale, c=PALETTE[0]))
    fig.tight_layout()

    def update(i: int):
        for d, k in zip(dots, labels, strict=True):
            d.set_offsets(xs[k][i])
        return dots

    anim = FuncAnimation(fig, update, frames=n_frames, interval=1000 // fps, blit=False)
    return fig, anim


def trajectory_gif(
    runs: Mapping[str, np.ndarray], *, n_show: int = 500, fps: int = 8, lecture: bool = False
) -> bytes:
    """The synchronised trajectories as an animated GIF (matplotlib + Pillow), for
    slides. runs: label -> xs: (S+1, B, 2)."""
    import tempfile

    import matplotlib.pyplot as plt
    from matplotlib.animation import PillowWriter

    fig, anim = _mpl_animation(runs, n_show, lecture, fps)
    try:
        with tempfile.NamedTemporaryFile(suffix=".gif") as f:
            anim.save(f.name, writer=PillowWriter(fps=fps))
            return Path(f.name).read_bytes()
    finally:
        plt.close(fig)


def trajectory_mp4(
    runs: Mapping[str, np.ndarray], *, n_show: int = 500, fps: int = 8, lecture: bool = False
) -> bytes | None:
    """The same animation as MP4 (H.264 via ffmpeg), or None when ffmpeg is absent."""
    if not ffmpeg_available():
        return None
    import tempfile

    import matplotlib.pyplot as plt
    from matplotlib.animation import FFMpegWriter

    fig, anim = _mpl_animation(runs, n_show, lecture, fps)
    try:
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            anim.save(f.name, writer=FFMpegWriter(fps=fps))
            return Path(f.name).read_bytes()
    finally:
        plt.close(fig)


def heun_points(model, x, t0: float, t1: float):
    """Heun's predictor and corrector for the step t0 -> t1 (t1 > 0) of the PF-ODE in
    sigma-bar space, dy/d sigma_bar = eps with y = x / alpha (EDM Alg. 1, lines 5-8).

    x: (B, 2). Returns (x_euler, x_heun), each (B, 2), in x-space; the data for
    ``heun_step``. The corrector is exactly what the registered ``heun`` sampler does.
    """
    import torch

    sch = model.schedule
    a0, a1 = float(sch.alpha(t0)), float(sch.alpha(t1))
    s0, s1 = float(sch.sigma(t0)), float(sch.sigma(t1))
    h = s1 / a1 - s0 / a0
    with torch.no_grad():
        d0 = model.predict(x, t0, a0, s0).eps
        y_pred = x / a0 + h * d0
        d1 = model.predict(a1 * y_pred, t1, a1, s1).eps
        y_heun = x / a0 + h * 0.5 * (d0 + d1)
    return a1 * y_pred, a1 * y_heun


def ddim_step(model, x, t: float, t_next: float):
    """One deterministic DDIM step (eta = 0, DDIM eq. 12) from t to t_next; t_next < 0
    means the clean endpoint (alpha = 1, sigma = 0), where the step returns x0-hat.
    x: (B, *D) -> (B, *D). Used to draw progressive distillation's teacher/student steps."""
    import torch

    with torch.no_grad():
        pred = model.predict(x, t)
        if t_next < 0:
            return pred.x0
        sch = model.schedule
        return float(sch.alpha(t_next)) * pred.x0 + float(sch.sigma(t_next)) * pred.eps
