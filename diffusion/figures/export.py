"""Exports for slides: the trajectory animation as an animated GIF (matplotlib and
Pillow) or an MP4 (matplotlib and the ffmpeg program)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .panels import pad_frames
from .style import PALETTE, view_limit

__all__ = ["ffmpeg_available", "trajectory_gif", "trajectory_mp4"]


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
    xs = {k: pad_frames(np.asarray(v)[:, :n_show], n_frames) for k, v in runs.items()}
    lim = view_limit(*(v[-1] for v in xs.values()), pad=1.3)
    scale = 1.4 if lecture else 1.0
    fig, axes = plt.subplots(
        1, len(labels), figsize=(3.6 * len(labels) * scale, 3.8 * scale), squeeze=False, dpi=80
    )
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


def _encode(runs, n_show: int, lecture: bool, fps: int, suffix: str, writer) -> bytes:
    """The animation of ``runs`` written by a matplotlib ``writer`` to a temporary file
    of type ``suffix``, as bytes."""
    import tempfile

    import matplotlib.pyplot as plt

    fig, anim = _mpl_animation(runs, n_show, lecture, fps)
    try:
        with tempfile.NamedTemporaryFile(suffix=suffix) as f:
            anim.save(f.name, writer=writer)
            return Path(f.name).read_bytes()
    finally:
        plt.close(fig)


def trajectory_gif(
    runs: Mapping[str, np.ndarray], *, n_show: int = 500, fps: int = 8, lecture: bool = False
) -> bytes:
    """The synchronised trajectories as an animated GIF (matplotlib + Pillow), for
    slides. runs: label -> xs: (S+1, B, 2)."""
    from matplotlib.animation import PillowWriter

    return _encode(runs, n_show, lecture, fps, ".gif", PillowWriter(fps=fps))


def trajectory_mp4(
    runs: Mapping[str, np.ndarray], *, n_show: int = 500, fps: int = 8, lecture: bool = False
) -> bytes | None:
    """The same animation as MP4 (H.264 via ffmpeg), or None when ffmpeg is absent."""
    if not ffmpeg_available():
        return None
    from matplotlib.animation import FFMpegWriter

    return _encode(runs, n_show, lecture, fps, ".mp4", FFMpegWriter(fps=fps))
