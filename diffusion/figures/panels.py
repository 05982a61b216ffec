"""Sample panels: 2-D samples as rasters on square panels over a grey data density, and
the synchronised animation of several samplers' trajectories.

Arrays: samples x: (B, 2), trajectories xs: (S+1, B, 2) (x_T first, clean samples last).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .style import PALETTE, axis_suffix, layout_look, side_by_side, square_view, view_limit

__all__ = ["coverage_png", "points_raster", "samples_grid", "trajectory_animation"]

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
        "source": source,
        "xref": f"x{axes}",
        "yref": f"y{axes}",
        "x": -lim,
        "y": lim,
        "sizex": 2 * lim,
        "sizey": 2 * lim,
        "sizing": "stretch",
        "layer": layer,
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
    counts, _, _ = np.histogram2d(
        d[:, 0], d[:, 1], bins=DENSITY_BINS, range=[[-lim, lim], [-lim, lim]]
    )
    counts = counts.T[::-1]  # rows from y = +lim down
    level = np.sqrt(counts)
    level = level / level.max() if level.max() > 0 else level
    # light grey (225) where sparse to mid grey (140) where dense; transparent where empty
    grey = np.round(225 - 85 * level).astype(np.uint8)
    alpha = np.where(counts > 0, 255, 0).astype(np.uint8)
    return _png_uri(Image.fromarray(np.stack([grey, grey, grey, alpha], axis=-1), mode="RGBA"))


_DATA_LEGEND = {
    "type": "scatter",
    "x": [None],
    "y": [None],
    "mode": "markers",
    "name": "data",
    "marker": {"size": 10, "symbol": "square", "color": "rgb(170,170,170)"},
}
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
    layout = side_by_side(heads, 0.04, lecture)
    lim = view_limit(*(panels[k] for k in labels), data)
    square_view(layout, len(labels), lim)
    radius = 0.55 * marker_size * (1.6 if lecture else 1.0)
    density = _density_png(data, lim) if data is not None else None  # one for every panel
    traces, images, below, counts = [], [], [], {}
    for j, k in enumerate(labels):
        a = axis_suffix(j)
        if density is not None:
            below.append(_panel_image(density, a, lim, "below"))
        x = np.asarray(panels[k])
        counts[k] = len(x)
        images.append(
            _panel_image(coverage_png(points_raster(x, lim, radius=radius)), a, lim, "above")
        )
    if data is not None:
        traces.append(_DATA_LEGEND)
    # the legend's entry for the samples (a trace with no points draws nothing else)
    traces.append(
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "markers",
            "name": "samples",
            "marker": {"size": 3.0 * marker_size, "color": PALETTE[0]},
        }
    )
    look = layout_look(lecture, 380)
    look["legend"].update(orientation="h", y=-0.08)
    # the samples' rasters first (panel order), then the data densities under them
    layout.update(look, title=title, images=images + below, meta={"points": counts})
    return go.Figure(data=traces, layout=layout)


def pad_frames(xs: np.ndarray, n: int) -> np.ndarray:
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
    xs = {k: pad_frames(np.asarray(v)[:, :n_show], n_frames) for k, v in runs.items()}
    lim = view_limit(*(v[0] for v in xs.values()), *(v[-1] for v in xs.values()), data, pad=1.1)
    layout = side_by_side(labels, 0.04, lecture)
    square_view(layout, len(labels), lim)
    size = 5 if lecture else 3.5
    density = _density_png(data, lim) if data is not None else None  # one for every panel
    traces: list = []
    images: list = []
    moving = []  # trace indices updated by frames
    for j, k in enumerate(labels):
        v = xs[k]
        axes = {"xaxis": f"x{axis_suffix(j)}", "yaxis": f"y{axis_suffix(j)}"}
        if density is not None:
            images.append(_panel_image(density, axis_suffix(j), lim, "below"))
        m = min(tails, v.shape[1])
        # full paths of a few particles, separated by NaN so one trace draws them all
        path = np.concatenate([v[:, :m], np.full((1, m, 2), np.nan)], axis=0)
        path = path.transpose(1, 0, 2).reshape(-1, 2)
        traces.append(
            {
                "type": "scatter",
                "x": path[:, 0],
                "y": path[:, 1],
                "mode": "lines",
                "showlegend": False,
                "hoverinfo": "skip",
                "line": {"width": 1, "color": "rgba(213,94,0,0.35)"},
                **axes,
            }
        )
        moving.append(len(traces))
        traces.append(
            {
                "type": "scatter",
                "x": v[0, :, 0],
                "y": v[0, :, 1],
                "mode": "markers",
                "showlegend": False,
                "marker": {"size": size + 1, "color": PALETTE[0]},
                **axes,
            }
        )
    frames = [
        {
            "name": str(i),
            "traces": moving,
            "data": [{"type": "scatter", "x": xs[k][i, :, 0], "y": xs[k][i, :, 1]} for k in labels],
        }
        for i in range(n_frames)
    ]
    play = {
        "frame": {"duration": frame_ms, "redraw": False},
        "fromcurrent": True,
        "transition": {"duration": 0},
    }
    layout.update(
        layout_look(lecture, 430),
        images=images,
        updatemenus=[
            {
                "type": "buttons",
                "showactive": False,
                "x": 0.0,
                "y": -0.12,
                "xanchor": "left",
                "buttons": [
                    {"label": "Play", "method": "animate", "args": [None, play]},
                    {
                        "label": "Pause",
                        "method": "animate",
                        "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": 0,
                "x": 0.15,
                "len": 0.85,
                "y": -0.05,
                "currentvalue": {"prefix": "step "},
                "steps": [
                    {
                        "label": str(i),
                        "method": "animate",
                        "args": [
                            [str(i)],
                            {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"},
                        ],
                    }
                    for i in range(n_frames)
                ],
            }
        ],
    )
    return go.Figure(data=traces, layout=layout, frames=frames)
