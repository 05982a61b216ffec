"""Present mode: the chapter as a sequence of slides for a projector.

``?present=1`` (or the sidebar's "Present" button) replaces the page navigation with
one slide at a time: a headline, one figure, one or two talking points and, on some
slides, a question whose answer appears on the next key press. Arrow keys, Page
Up/Down (what presentation clickers send) and the space bar move through the
sequence; the slide and whether its answer is shown live in the URL
(``present=1&seq=...&slide=k&reveal=1``), so a link opens that exact slide. The
sidebar is hidden and every slide fits 1280x720 without scrolling. Nothing is
loaded from the network: the key listener is a few lines of inline script.

The sequence and its figures come from ``diffusion.lecture``; this module holds
only layout and navigation.
"""

from __future__ import annotations

import contextlib
import html
import json

import streamlit as st

from diffusion import lecture

from . import plot

DEFAULT_SEQUENCE = "accelerated-sampling"
FIGURE_HEIGHT = 480
"""Pixels: headline, figure and navigation together fit a 720-pixel-high projector."""

SECTION = {
    "why": "Why accelerate",
    "ddim": "DDIM step skipping",
    "solvers": "Higher-order solvers",
    "progressive": "Progressive distillation",
    "consistency": "Consistency models",
    "compare": "Compare",
    "images": "Images",
}

CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"], header[data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] {
  padding: 0.6rem 1.6rem 0 1.6rem !important; max-width: 100% !important; }
div.present-head { font-size: 2.3rem; font-weight: 700; line-height: 1.15; margin: 0; }
div.present-meta { font-size: 1.05rem; color: #444; margin: 0 0 0.1rem 0; }
ul.present-points li { font-size: 1.4rem !important; line-height: 1.28; margin-bottom: 0.5rem; }
div.present-q, div.present-a { font-size: 1.28rem; line-height: 1.32; padding: 0.3rem 0.7rem;
  margin-top: 0.45rem; }
div.present-q { border-left: 6px solid #0072B2; background: #EEF5FB; }
div.present-a { border-left: 6px solid #009E73; background: #ECF7F2; }
div.present-hint { font-size: 0.95rem; color: #555; margin-top: 0.4rem; }
div.present-legend { font-size: 1.1rem; color: #333; margin-top: -0.6rem; }
</style>
"""

# Clicks the Next / Previous buttons on the arrow keys: one listener on the app's
# document, installed once (a later run finds it there and adds no second one).
KEYS_JS = """
<script>
(function () {
const doc = document;
const win = window;
if (win.__presentKeys) return;
win.__presentKeys = function (e) {
  const t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
  let key = null;
  if (["ArrowRight", "ArrowDown", "PageDown", " "].includes(e.key)) key = "present_next";
  if (["ArrowLeft", "ArrowUp", "PageUp"].includes(e.key)) key = "present_prev";
  if (!key) return;
  const btn = doc.querySelector(".st-key-" + key + " button");
  if (btn && !btn.disabled) { e.preventDefault(); btn.click(); }
};
doc.addEventListener("keydown", win.__presentKeys, true);
})();
</script>
"""


def present_mode() -> bool:
    """Whether present mode is on (``?present=1`` in the URL)."""
    return st.query_params.get("present") == "1"


def present_sidebar() -> None:
    """The sidebar control that starts present mode (called by app.py)."""
    names = lecture.available()
    if not names:
        return
    with st.sidebar:
        st.divider()
        seq = st.selectbox(
            "Lecture sequence",
            names,
            key="present_choice",
            index=names.index(DEFAULT_SEQUENCE) if DEFAULT_SEQUENCE in names else 0,
            help="Slides for a projector: the arrow keys or a clicker move "
            "through them, and the URL keeps the slide.",
        )
        if st.button(
            "Present",
            icon=":material/slideshow:",  # bundled with Streamlit: no emoji font needed
            key="present_start",
            width="stretch",
            help="Start the chosen sequence at its first slide, full screen "
            "without the sidebar; Exit on the slide comes back here.",
        ):
            st.query_params.clear()
            st.query_params.update({"present": "1", "seq": seq, "slide": "1"})
            st.rerun()


@st.cache_resource(show_spinner=False, ttl=60)
def _load(name: str) -> lecture.Sequence:
    return lecture.load(name)


def _state(seq: lecture.Sequence) -> tuple[int, bool]:
    """The current slide (0-based) and reveal flag, read from the URL once per session."""
    if "present.slide" not in st.session_state:
        raw = st.query_params.get("slide", "1")
        valid = raw.isascii() and raw.isdigit() and len(raw) <= 6  # int() of 5,000 digits fails
        k = int(raw) - 1 if valid else 0
        st.session_state["present.slide"] = min(max(k, 0), len(seq.slides) - 1)
        if not valid or not 0 <= k < len(seq.slides):  # the fallback, said once on its slide
            from ui.state import shown

            shown_k = st.session_state["present.slide"]
            st.session_state["present.note"] = (
                shown_k,
                (
                    f"URL parameter `slide`={shown(raw)} ignored (use 1 to {len(seq.slides)}); "
                    f"showing slide {shown_k + 1}."
                ),
            )
        st.session_state["present.reveal"] = st.query_params.get("reveal") == "1"
    k = min(st.session_state["present.slide"], len(seq.slides) - 1)
    reveal = bool(st.session_state["present.reveal"]) and seq.slides[k].question is not None
    return k, reveal


def _next(seq: lecture.Sequence) -> None:
    k, reveal = _state(seq)
    if seq.slides[k].question and not reveal:
        st.session_state["present.reveal"] = True
    elif k + 1 < len(seq.slides):
        st.session_state["present.slide"] = k + 1
        st.session_state["present.reveal"] = False


def _prev(seq: lecture.Sequence) -> None:
    k, reveal = _state(seq)
    if reveal:
        st.session_state["present.reveal"] = False
    elif k > 0:
        st.session_state["present.slide"] = k - 1
        st.session_state["present.reveal"] = False


def _exit() -> None:
    st.query_params.clear()
    for key in ("present.slide", "present.reveal", "present.note"):
        st.session_state.pop(key, None)


@st.cache_data(show_spinner=False, max_entries=64)
def _figure_json(spec_json: str) -> str:
    return lecture.figure_for(json.loads(spec_json), lecture=True, height=FIGURE_HEIGHT).to_json()


def _figure(slide: lecture.Slide):
    import plotly.io as pio

    return pio.from_json(_figure_json(json.dumps(slide.figure, sort_keys=True)), skip_invalid=True)


def _draw_figure(seq, k: int, slide) -> None:
    """The slide's figure, restyled for the projector, or a one-line error."""
    try:
        with st.spinner("Computing the figure…"):
            fig = _figure(slide)
        if slide.figure["kind"] == "samples":  # its legend would sit on the tick labels
            fig.update_layout(showlegend=False)
        if slide.figure["kind"] == "consistency_property":  # two panels and a legend
            fig.update_annotations(font_size=17)
            fig.update_layout(
                legend={
                    "orientation": "h",
                    "x": 0,
                    "y": -0.32,
                    "yanchor": "top",
                    "font": {"size": 17},
                },
                margin={"b": 130},
            )
        plot.show_figure(
            fig,
            key=f"present.fig.{seq.name}.{k}",
            name=f"{seq.name}-{k}",
            config={"displayModeBar": False, "responsive": True},
        )
        if slide.figure["kind"] == "samples":
            st.markdown(
                '<div class="present-legend">Grey: the data. '
                '<span style="color:#0072B2">Blue: the samples.</span></div>',
                unsafe_allow_html=True,
            )
    except (ValueError, FileNotFoundError) as err:
        st.error(f"This slide's figure cannot be drawn: {' '.join(str(err).split())}")


def _draw_points(slide, reveal: bool) -> None:
    """Talking points, the question and (when revealed) its answer, and the page link."""
    items = "".join(f"<li>{html.escape(p)}</li>" for p in slide.points)
    body = f'<ul class="present-points">{items}</ul>'
    if slide.question:
        body += f'<div class="present-q"><b>Question.</b> {html.escape(slide.question)}</div>'
        if reveal:
            body += f'<div class="present-a"><b>Answer.</b> {html.escape(slide.answer)}</div>'
        else:
            body += '<div class="present-hint">Next key: show the answer.</div>'
    st.markdown(body, unsafe_allow_html=True)
    st.markdown(f"[Open this in the page ↗]({slide.page_link()})")


def run_present() -> None:
    """Draw the current slide (called by app.py instead of the page navigation)."""
    import torch

    torch.set_num_threads(1)  # one thread per session on a shared classroom server
    st.markdown(CSS, unsafe_allow_html=True)
    name = st.query_params.get("seq", DEFAULT_SEQUENCE)
    try:
        if "/" in name or "\\" in name or name.endswith(".json"):  # never a server file
            raise lecture.LectureError("a link may name a shipped sequence only, not a path")
        seq = _load(name)
    except (lecture.LectureError, OSError) as err:
        from ui.state import shown

        reason = shown(" ".join(str(err).split()), 200)
        st.error(f"Cannot present the sequence {shown(name)}: {reason}")
        st.button("Leave present mode", key="present_exit", on_click=_exit)
        return
    k, reveal = _state(seq)
    slide = seq.slides[k]
    note = st.session_state.get("present.note")
    if note and note[0] == k:  # an invalid slide= in the link: the slide it fell back to
        st.warning(note[1], icon="⚠️")
    st.query_params.update({"present": "1", "seq": seq.name, "slide": str(k + 1)})
    if reveal:
        st.query_params["reveal"] = "1"
    elif "reveal" in st.query_params:
        del st.query_params["reveal"]

    st.markdown(
        f'<div class="present-meta">{html.escape(seq.title)} · '
        f"{html.escape(SECTION.get(slide.page, slide.page))} · slide {k + 1} of "
        f'{len(seq.slides)}</div><div class="present-head">{html.escape(slide.headline)}</div>',
        unsafe_allow_html=True,
    )
    left, right = st.columns([2.35, 1], gap="medium")
    with left:
        _draw_figure(seq, k, slide)
    with right:
        _draw_points(slide, reveal)

    c1, c2, c3, c4 = st.columns([1, 4, 1, 0.8], vertical_alignment="center")
    c1.button(
        "◀ Previous",
        key="present_prev",
        on_click=_prev,
        args=(seq,),
        disabled=k == 0 and not reveal,
        width="stretch",
    )
    c2.progress((k + 1) / len(seq.slides), text=f"{k + 1} / {len(seq.slides)}")
    c3.button(
        "Next ▶",
        key="present_next",
        on_click=_next,
        args=(seq,),
        disabled=k + 1 == len(seq.slides) and (reveal or not slide.question),
        width="stretch",
        type="primary",
    )
    c4.button("Exit", key="present_exit", on_click=_exit, width="stretch")
    st.html(KEYS_JS, unsafe_allow_javascript=True)
    if k + 1 < len(seq.slides):  # compute the next figure while this slide is discussed
        with contextlib.suppress(ValueError, FileNotFoundError):  # it shows its own error
            _figure_json(json.dumps(seq.slides[k + 1].figure, sort_keys=True))
