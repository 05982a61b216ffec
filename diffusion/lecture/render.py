"""Draw a plotly figure with matplotlib, so slides export to PNG and SVG without a browser.

plotly's own static export needs the kaleido package and a headless browser; a
lecturer's backup on a failed projector machine must not. This draws the parts
of a figure that the ``diffusion.figures`` builders use: scatter traces (lines,
markers, text), grey heat maps, layout images (the sample rasters), panel titles,
horizontal and vertical guide lines, log axes, fixed ranges and equal aspect.
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import numpy as np

__all__ = ["to_matplotlib"]

_DASH = {"dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--", "solid": "-"}
_SYMBOLS = {
    0: "o",
    1: "s",
    2: "D",
    3: "P",
    4: "X",
    5: "^",
    6: "v",
    7: "<",
    8: ">",
    9: "^",
    "circle": "o",
    "square": "s",
    "diamond": "D",
    "cross": "P",
    "x": "X",
    "triangle-up": "^",
    "triangle-down": "v",
    "star": "*",
}
# the plotting area inside the figure, as fractions (room for titles and the legend)
_LEFT, _RIGHT, _BOTTOM, _TOP = 0.08, 0.98, 0.2, 0.86


def _color(c: Any, default: str = "#0072B2"):
    if c is None or not isinstance(c, str):
        return default
    m = re.fullmatch(r"rgba?\(([^)]*)\)", c.replace(" ", ""))
    if m:
        parts = [float(p) for p in m.group(1).split(",")]
        rgb = [p / 255 for p in parts[:3]]
        return (*rgb, parts[3] if len(parts) > 3 else 1.0)
    return c


def _plain(text: str | None) -> str:
    """Plotly's small HTML subset as plain text (line breaks kept)."""
    if not text:
        return ""
    text = re.sub(r"<br\s*/?>", "\n", text)
    return re.sub(r"<[^>]+>", "", text)


def _suffix(ref: str | None) -> str:
    """'x3' -> '3', 'x' -> '', 'x2 domain' -> '2'."""
    return (ref or "x").split()[0][1:]


def _values(v: Any) -> np.ndarray:
    if v is None:
        return np.array([], dtype=float)
    return np.array(
        [np.nan if e is None else e for e in np.asarray(v, dtype=object).ravel()], dtype=float
    )


def _axes_layout(layout) -> dict[str, tuple[Any, Any]]:
    """Axis suffix -> (xaxis, yaxis) layout objects, for every axis pair in the figure."""
    found = {}
    for key in layout:
        m = re.fullmatch(r"xaxis(\d*)", key)
        if m and layout[key] is not None:
            found[m.group(1)] = (layout[key], layout[f"yaxis{m.group(1)}"])
    return found or {"": (layout.xaxis, layout.yaxis)}


def _paper(x: float, y: float) -> tuple[float, float]:
    return _LEFT + x * (_RIGHT - _LEFT), _BOTTOM + y * (_TOP - _BOTTOM)


def _scatter(ax, tr, px_to_pt: float) -> None:
    x, y = _values(tr.x), _values(tr.y)
    mode = tr.mode or "lines+markers"
    name = tr.name if tr.showlegend is not False and tr.name else None
    line, marker = tr.line, tr.marker
    color = _color(
        line.color
        if "lines" in mode and line.color
        else marker.color
        if isinstance(marker.color, str)
        else None
    )
    if tr.fill == "toself":  # a shaded region
        ax.fill(x, y, color=_color(tr.fillcolor, "#888888"), lw=0, label=name, zorder=1)
        return
    if len(x) == 0 or np.all(np.isnan(x)):
        # a legend-only entry (figures.samples_grid's "samples")
        ax.plot([], [], "o" if "markers" in mode else "-", color=color, label=name)
        return
    if "lines" in mode:
        ax.plot(
            x,
            y,
            linestyle=_DASH.get(line.dash or "solid", "-"),
            color=color,
            linewidth=(line.width or 2) * px_to_pt,
            label=name if "markers" not in mode else None,
            zorder=3,
        )
    if "markers" in mode:
        size = (marker.size if isinstance(marker.size, (int, float)) else 6) * px_to_pt
        symbols = marker.symbol if isinstance(marker.symbol, (list, tuple)) else [marker.symbol]
        if marker.color is not None and not isinstance(marker.color, str):
            ax.scatter(
                x,
                y,
                c=_values(marker.color),
                cmap="viridis",
                s=size**2,
                marker=_SYMBOLS.get(symbols[0], "o"),
                label=name,
                zorder=4,
                edgecolors=_color(marker.line.color, "none"),
            )
        else:
            for k in range(len(x)):
                sym = _SYMBOLS.get(symbols[k % len(symbols)], "o")
                ax.plot(
                    x[k],
                    y[k],
                    sym,
                    color=color,
                    markersize=size,
                    zorder=4,
                    label=name if k == 0 else None,
                    linestyle="-" if "lines" in mode else "none",
                )
    if "text" in mode and tr.text is not None:
        texts = [tr.text] * len(x) if isinstance(tr.text, str) else list(tr.text)
        for xi, yi, t in zip(x, y, texts, strict=False):
            ax.annotate(
                _plain(t),
                (xi, yi),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                va="bottom",
            )


def _heatmap(ax, tr) -> None:
    z = np.asarray(tr.z, dtype=float)
    ax.imshow(
        z,
        origin="lower",
        cmap="gray",
        vmin=tr.zmin,
        vmax=tr.zmax,
        extent=(-0.5, z.shape[1] - 0.5, -0.5, z.shape[0] - 0.5),
        interpolation="nearest",
    )


def _image(ax, img) -> None:
    from PIL import Image

    data = base64.b64decode(img.source.split(",", 1)[1])
    pic = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    ax.imshow(
        pic,
        extent=(img.x, img.x + img.sizex, img.y - img.sizey, img.y),
        zorder=0 if img.layer == "below" else 2,
        interpolation="bilinear",
        aspect="auto",
    )


def _axis_setup(ax, xa, ya) -> None:
    for axis, lay, set_scale, set_lim, set_label in (
        ("x", xa, ax.set_xscale, ax.set_xlim, ax.set_xlabel),
        ("y", ya, ax.set_yscale, ax.set_ylim, ax.set_ylabel),
    ):
        if lay.type == "log":
            set_scale("log")
            from matplotlib.ticker import FuncFormatter

            getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        if lay.range is not None:
            lo, hi = lay.range
            set_lim((10**lo, 10**hi) if lay.type == "log" else (lo, hi))
        if lay.title and lay.title.text:
            set_label(_plain(lay.title.text))
    if ya.scaleanchor:
        ax.set_aspect("equal", adjustable="box")
    if xa.visible is False and ya.visible is False:
        ax.set_axis_off()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _shape(axes: dict, shape) -> None:
    """A full-height or full-width line, or a full-height band (plotly's add_vline,
    add_hline, add_vrect)."""
    yref, xref = shape.yref or "y", shape.xref or "x"
    if yref.endswith("domain") or yref == "paper":
        ax = axes.get(_suffix(xref), axes[min(axes)])[0]
        if shape.type == "line":
            ax.axvline(shape.x0, color=_color(shape.line.color, "#999999"), linestyle=":")
        elif shape.type == "rect":
            ax.axvspan(
                shape.x0,
                shape.x1,
                color=_color(shape.fillcolor, "#888888"),
                alpha=shape.opacity if shape.opacity is not None else 0.2,
                lw=0,
            )
    elif shape.type == "line" and (xref.endswith("domain") or xref == "paper"):
        ax = axes.get(_suffix(yref.replace("y", "x", 1)), axes[min(axes)])[0]
        ax.axhline(shape.y0, color=_color(shape.line.color, "#777777"), linestyle="--")


def _annotation(out, axes: dict, ann, size: float | None) -> None:
    """A title over a panel (paper coordinates) or the label of a vrect."""
    if ann.xref == "paper" and ann.yref == "paper":
        fx, fy = _paper(ann.x, ann.y)
        out.text(fx, fy + 0.01, _plain(ann.text), ha="center", va="bottom", fontsize=size)
    elif (ann.yref or "").endswith("domain") and ann.x is not None:
        ax = axes.get(_suffix(ann.xref), axes[min(axes)])[0]
        ax.text(
            ann.x,
            ann.y if ann.y is not None else 1,
            _plain(ann.text),
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=size,
        )


def _legend(out, axes: dict, size: float) -> None:
    """One legend under the figure, each label once."""
    handles, labels = [], []
    for ax, _, _ in axes.values():
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab, strict=True):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    if handles:
        longest = max(len(label) for label in labels)  # fit the figure's width
        out.legend(
            handles,
            labels,
            loc="lower center",
            ncol=min(len(labels), 4, max(1, 96 // longest)),
            frameon=False,
            fontsize=size,
        )


def to_matplotlib(fig, *, width_px: int = 1280, height_px: int = 720, dpi: int = 100):
    """A matplotlib Figure (Agg, no pyplot state) drawing the plotly figure ``fig``."""
    from matplotlib.figure import Figure

    layout = fig.layout
    base_px = (layout.font.size or 13) if layout.font else 13
    px_to_pt = 72 / dpi
    out = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    rc = {"font.size": base_px * px_to_pt}
    import matplotlib

    with matplotlib.rc_context(rc):
        axes = {}
        for suffix, (xa, ya) in sorted(_axes_layout(layout).items()):
            x0, x1 = xa.domain or (0, 1)
            y0, y1 = ya.domain or (0, 1)
            (fx0, fy0), (fx1, fy1) = _paper(x0, y0), _paper(x1, y1)
            ax = out.add_axes((fx0, fy0, fx1 - fx0, fy1 - fy0))
            ax.tick_params(labelsize=(base_px - 2) * px_to_pt)
            axes[suffix] = (ax, xa, ya)
        for tr in fig.data:
            ax = axes.get(_suffix(getattr(tr, "xaxis", None)), axes[min(axes)])[0]
            if tr.type == "scatter":
                _scatter(ax, tr, px_to_pt)
            elif tr.type == "heatmap":
                _heatmap(ax, tr)
        for img in layout.images or ():
            if _suffix(img.xref) in axes and img.source.startswith("data:image/png"):
                _image(axes[_suffix(img.xref)][0], img)
        for shape in layout.shapes or ():
            _shape(axes, shape)
        for ax, xa, ya in axes.values():
            _axis_setup(ax, xa, ya)
        for ann in layout.annotations or ():
            _annotation(out, axes, ann, (ann.font.size or base_px) * px_to_pt if ann.font else None)
        if layout.title and layout.title.text:
            out.suptitle(_plain(layout.title.text))
        _legend(out, axes, (base_px - 2) * px_to_pt)
    return out
