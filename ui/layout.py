"""Page furniture shared by every page: lecturer mode, figure display with PNG/SVG
export, GIF/MP4 export of trajectories, and the published-number tables."""

from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from diffusion import figures

from . import plot, teaching
from .folds import folded
from .snippets import show_code
from .state import lecture_mode

LECTURE_CSS = """
<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"] p {
  font-size: 1.35rem !important; }
h1, h1 span { font-size: 3.2rem !important; }
h2, h2 span { font-size: 2.4rem !important; }
h3, h3 span { font-size: 1.9rem !important; }
.katex { font-size: 1.5em !important; }
</style>
"""


def page_header(title: str, lead: str, *, page: str) -> bool:
    """Title, one-line lead, lecturer-mode styling, then the page's predict prompt and
    the notation card (``ui.teaching``). Returns lecturer mode."""
    lecture = lecture_mode()
    if lecture:
        st.markdown(LECTURE_CSS, unsafe_allow_html=True)
    st.title(title)
    st.markdown(lead)
    teaching.predict_prompt(page)
    teaching.notation_card()
    return lecture


def export_format() -> str:
    return st.session_state.get("export_fmt", "png")


def show(fig: go.Figure, name: str, *, key: str | None = None) -> None:
    """Display a plotly figure; its camera button downloads PNG or SVG (sidebar choice)."""
    plot.show_figure(
        fig,
        key=key or f"fig.{name}",
        name=name,
        config=figures.export_config(name, export_format(), lecture=lecture_mode()),
    )
    show_code(name)  # the notebook code that rebuilds this figure (ui/snippets.py)


@st.cache_data(max_entries=16, show_spinner="Rendering animation…")
def _gif(runs: dict[str, np.ndarray], lecture: bool) -> bytes:
    return figures.trajectory_gif(runs, n_show=400, lecture=lecture)


@st.cache_data(max_entries=8, show_spinner="Rendering video…")
def _mp4(runs: dict[str, np.ndarray], lecture: bool) -> bytes | None:
    return figures.trajectory_mp4(runs, n_show=400, lecture=lecture)


def animation_export(runs: dict[str, np.ndarray], name: str) -> None:
    """Buttons that render the trajectories as GIF (always) or MP4 (with ffmpeg)."""
    digest = hashlib.sha1(b"".join(np.ascontiguousarray(v).tobytes() for v in runs.values()))
    key = f"anim.{name}.{digest.hexdigest()[:10]}"
    lecture = lecture_mode()
    c1, c2 = st.columns(2)
    if c1.button(
        "Prepare GIF for slides",
        key=f"{key}.gif.make",
        help="Renders these trajectories as an animated GIF for slides.",
    ):
        st.session_state[f"{key}.gif"] = True
    if st.session_state.get(f"{key}.gif"):
        c1.download_button(
            "Download GIF",
            _gif(runs, lecture),
            file_name=f"{name}.gif",
            mime="image/gif",
            key=f"{key}.gif.dl",
            help="Saves the GIF.",
        )
    if figures.ffmpeg_available():
        if c2.button(
            "Prepare MP4",
            key=f"{key}.mp4.make",
            help="Renders these trajectories as an MP4 video (needs ffmpeg).",
        ):
            st.session_state[f"{key}.mp4"] = True
        if st.session_state.get(f"{key}.mp4"):
            data = _mp4(runs, lecture)
            if data:
                c2.download_button(
                    "Download MP4",
                    data,
                    file_name=f"{name}.mp4",
                    mime="video/mp4",
                    key=f"{key}.mp4.dl",
                    help="Saves the MP4.",
                )
    else:
        c2.caption(
            "MP4 export needs the ffmpeg program, which is not installed on this "
            "server; the GIF works in every slide program."
        )


def sidebar_common() -> None:
    """Lecturer mode and export format, shown on every page (called by app.py)."""
    with st.sidebar:
        lecture_mode()  # seeds the toggle from the URL on first load
        st.toggle(
            "Lecturer mode",
            key="lecture",
            help="Large fonts and high-contrast plots for a projector; kept in the URL.",
        )
        st.radio(
            "Figure download format",
            ["png", "svg"],
            key="export_fmt",
            horizontal=True,
            help="The camera icon above each figure downloads it in this format.",
        )


# ----- published numbers (REFERENCES.md) --------------------------------------------------

DDIM_TABLE = {
    "steps S": [10, 20, 50, 100, 1000],
    "eta = 0 (DDIM)": [13.36, 6.84, 4.67, 4.16, 4.04],
    "eta = 0.2": [14.04, 7.11, 4.77, 4.25, 4.09],
    "eta = 0.5": [16.66, 8.35, 5.25, 4.46, 4.29],
    "eta = 1.0": [41.07, 18.36, 8.01, 5.78, 4.73],
    "sigma-hat (DDPM's larger variance)": [367.43, 133.37, 32.72, 9.99, 3.17],
}
DDIM_SOURCE = (
    "CIFAR-10 FID (50k samples, quadratic spacing, Ho et al.'s pretrained DDPM), "
    "Song, Meng & Ermon 2020, *Denoising Diffusion Implicit Models*, Table 1. "
    "**Erratum:** some course notes print an eta = 1 column 3.17 / 6.84 / 13.36 / 32.55 / "
    "72.61 (for 1000 … 10 steps); that is wrong: 3.17 is the sigma-hat value at S = 1000, "
    "6.84 and 13.36 are eta = 0 values. The correct eta = 1 column is "
    "41.07 / 18.36 / 8.01 / 5.78 / 4.73 for S = 10 / 20 / 50 / 100 / 1000."
)

SOLVER_TABLE = {
    "model / solver": [
        "ScoreSDE / DPM-Solver++",
        "ScoreSDE / UniPC",
        "EDM / Heun",
        "EDM / DPM-Solver++",
        "EDM / UniPC",
    ],
    "NFE 5": [28.53, 23.71, 320.80, 24.54, 23.52],
    "6": [13.48, 10.41, 103.86, 11.85, 11.10],
    "8": [5.34, 5.16, 39.66, 4.36, 3.86],
    "10": [4.01, 3.93, 16.57, 2.91, 2.85],
    "12": [4.04, 3.88, 7.59, 2.45, 2.38],
    "15": [3.32, 3.05, 4.76, 2.17, 2.08],
    "20": [2.90, 2.73, 2.51, 2.05, 2.01],
    "25": [2.76, 2.65, 2.12, 2.02, 2.00],
}
SOLVER_SOURCE = (
    "CIFAR-10 FID against NFE, from the DPM-Solver-v3 paper (Zheng et al. 2023), Table 1. "
    "DPM-Solver (Lu et al. 2022, abstract): 4.70 at 10 NFE, 2.87 at 20 NFE. "
    "EDM (Karras et al. 2022): Heun, 18 steps = 35 NFE, FID 1.97 (unconditional)."
)

FEWSTEP_TABLE = {
    "method": [
        "Progressive distillation",
        "Consistency distillation (LPIPS)",
        "Consistency training",
        "Improved consistency training (iCT)",
        "sCT",
    ],
    "1 step": [9.12, 3.55, 8.70, 2.83, 2.85],
    "2 steps": [4.51, 2.93, 5.83, 2.46, 2.06],
    "4 steps": [3.00, None, None, None, None],
    "8 steps": [2.57, None, None, None, None],
    "source": [
        "Salimans & Ho 2022",
        "Song et al. 2023",
        "Song et al. 2023",
        "Song & Dhariwal 2023",
        "Lu & Song 2024",
    ],
}


def _rows(table) -> list[dict]:
    """A table given as a list of row dicts or a dict of columns, as row dicts."""
    if isinstance(table, list):
        return table
    return [dict(zip(table, vals, strict=True)) for vals in zip(*table.values(), strict=True)]


def show_table(data) -> None:
    """A small table of results as a plain HTML table (``st.table``: no data-grid
    component to load), numbers to four significant digits. ``data``: a list of row
    dicts or a dict of columns."""
    rows = _rows(data)

    def cell(v):
        if v is None:
            return ""
        return f"{v:.4g}" if isinstance(v, float) else v

    st.table([{k: cell(v) for k, v in r.items()} for r in rows], hide_index=True)


def markdown_table(table) -> str:
    """A table as Markdown, drawn as plain HTML: no data-grid component to load."""
    rows = _rows(table)
    cols = list(rows[0]) if rows else []

    def cell(v) -> str:
        return "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def published(table: dict, source: str, title: str) -> None:
    """A published table in its own expander, never on the axes of our measurements."""
    box = folded(title, f"published.{title}")
    if box:
        with box:
            st.markdown(markdown_table(table))
            st.caption(source)
