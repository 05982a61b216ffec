"""The whole page state in the URL, so a link reproduces a figure.

Each control is read once per session from ``st.query_params`` (validated: an
invalid value falls back to the default and leaves a visible note), bound to a
widget through ``st.session_state``, and written back to the URL on every run.
Lecturer mode and presets live here too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from diffusion.lecture.sequence import url_value

PRESETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "presets"
STEP_LADDER = (
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    12,
    15,
    20,
    25,
    30,
    40,
    50,
    60,
    80,
    100,
    125,
    150,
    200,
    250,
    300,
    400,
    500,
    600,
    800,
    1000,
)
"""Steps on a roughly logarithmic ladder: a log slider from 1 to T = 1000."""


MAX_SHOWN = 40
"""User values shown back on a page (URL parameter notes) are cut to this many characters."""
MAX_NOTES = 8
"""At most this many URL notes are shown; the rest are counted in one more line."""
MAX_UNKNOWN = 4
"""A URL parameter no control of the page reads is named in one note, at most this many."""
GLOBAL_KEYS = ("lecture", "embed", "embed_options")
"""URL parameters read outside a page's controls (lecturer mode, Streamlit's embedding)."""


def shown(value: Any, n: int = MAX_SHOWN) -> str:
    """A user-supplied value as inline code: cut to ``n`` characters, control characters
    replaced, and wrapped in a code span longer than any run of backticks inside it, so
    Markdown, HTML, LaTeX, links and images in it are shown as plain text, never rendered."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    if len(text) > n:
        text = text[: n - 1] + "…"
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _url_notes() -> list[str]:
    """Notes about URL parameters read outside a PageState (lecture=...), per session."""
    return st.session_state.setdefault("__url_notes", [])


def lecture_mode() -> bool:
    """Whether lecturer mode is on (sidebar toggle, kept in the URL as lecture=1)."""
    if "lecture" not in st.session_state:
        raw = st.query_params.get("lecture")
        st.session_state["lecture"] = raw == "1"
        if raw not in (None, "0", "1"):
            _url_notes().append(
                f"URL parameter `lecture`={shown(raw)} ignored (use 0 or 1); lecturer mode is off."
            )
    return bool(st.session_state["lecture"])


class PageState:
    """URL-backed controls of one page.

    Usage: ``ps = PageState("ddim")``, then ``ps.select(...)``, ``ps.slider(...)``
    for each control, and ``ps.finish()`` at the end of the page, which writes the
    URL and shows a note for every parameter that was invalid.
    """

    def __init__(self, page: str) -> None:
        self.page = page
        self.keys: dict[str, str] = {}  # URL key -> widget key
        # Notes about invalid URL parameters stay visible for the whole session.
        self.notes: list[str] = st.session_state.setdefault(f"{page}.__notes", [])
        self.defaults: dict[str, Any] = {}

    # ----- binding ------------------------------------------------------------------
    def _bind(self, key: str, default: Any, parse: Callable[[str], Any]) -> str:
        wkey = f"{self.page}.{key}"
        self.keys[key] = wkey
        self.defaults[key] = default
        if wkey not in st.session_state:
            raw = st.query_params.get(key)
            value = default
            if raw is not None:
                try:
                    value = parse(raw)
                except ValueError as err:
                    self.notes.append(
                        f"URL parameter `{key}`={shown(raw)} ignored ({err}); "
                        f"using the default {shown(url_value(default))}."
                    )
            st.session_state[wkey] = value
        return wkey

    @staticmethod
    def _choice_parser(options: Sequence[Any]) -> Callable[[str], Any]:
        by_text = {url_value(o): o for o in options}

        def parse(raw: str) -> Any:
            if raw not in by_text:
                raise ValueError(f"choose one of {', '.join(by_text)}")
            return by_text[raw]

        return parse

    @staticmethod
    def _number_parser(lo: float, hi: float, cast: type) -> Callable[[str], Any]:
        def parse(raw: str) -> Any:
            try:
                v = cast(raw)
            except (TypeError, ValueError):
                raise ValueError(f"not a number between {lo:g} and {hi:g}") from None
            if not (isinstance(v, int) or math.isfinite(v)) or not lo <= v <= hi:
                raise ValueError(f"must lie between {lo:g} and {hi:g}")
            return v

        return parse

    # ----- controls -------------------------------------------------------------------
    def _bind_choice(self, key: str, options: Sequence[Any], default: Any) -> str:
        """The widget key of a choice among ``options``; a default or a kept value that is
        not one of them falls back to the first option or the default."""
        if default not in options:
            default = options[0]
        wkey = self._bind(key, default, self._choice_parser(options))
        if st.session_state[wkey] not in options:
            st.session_state[wkey] = default
        return wkey

    def select(
        self,
        key: str,
        label: str,
        options: Sequence[Any],
        default: Any,
        *,
        radio: bool = False,
        container=st,
        **kw,
    ) -> Any:
        wkey = self._bind_choice(key, options, default)
        widget = container.radio if radio else container.selectbox
        return widget(label, list(options), key=wkey, **kw)

    def multiselect(
        self,
        key: str,
        label: str,
        options: Sequence[Any],
        default: Sequence[Any],
        *,
        max_selections: int | None = None,
        container=st,
        **kw,
    ) -> list[Any]:
        by_text = {url_value(o): o for o in options}

        def parse(raw: str) -> list[Any]:
            vals = [v for v in raw.split(",") if v]
            bad = [v for v in vals if v not in by_text]
            if bad or not vals:
                raise ValueError(f"choose from {', '.join(by_text)}")
            if len(set(vals)) < len(vals):
                self.notes.append(f"URL parameter `{key}` repeats a value; each is used once.")
                vals = list(dict.fromkeys(vals))
            vals = [by_text[v] for v in vals]
            if max_selections and len(vals) > max_selections:
                self.notes.append(
                    f"URL parameter `{key}` lists {len(vals)} values; only the "
                    f"first {max_selections} are used."
                )
                vals = vals[:max_selections]
            return vals

        wkey = self._bind(key, list(default), parse)
        st.session_state[wkey] = [v for v in st.session_state[wkey] if v in options]
        return container.multiselect(
            label, list(options), key=wkey, max_selections=max_selections, **kw
        )

    def steps(
        self, key: str, label: str, default: int, *, lo: int = 1, hi: int = 1000, container=st, **kw
    ) -> int:
        """A log-scale steps slider on STEP_LADDER between lo and hi."""
        ladder = [s for s in STEP_LADDER if lo <= s <= hi]
        wkey = self._bind_choice(key, ladder, default)
        return container.select_slider(label, ladder, key=wkey, **kw)

    def choice_slider(
        self, key: str, label: str, options: Sequence[Any], default: Any, *, container=st, **kw
    ) -> Any:
        """A select_slider over ``options`` (for example the rounds a model has)."""
        wkey = self._bind_choice(key, options, default)
        return container.select_slider(label, list(options), key=wkey, **kw)

    def slider(
        self,
        key: str,
        label: str,
        lo: float,
        hi: float,
        default: float,
        step: float | int,
        *,
        container=st,
        **kw,
    ) -> float | int:
        cast = int if isinstance(step, int) and isinstance(default, int) else float
        wkey = self._bind(key, default, self._number_parser(lo, hi, cast))
        # a range that depends on another control (e.g. "which step" of S) may shrink
        st.session_state[wkey] = min(max(st.session_state[wkey], cast(lo)), cast(hi))
        return container.slider(label, cast(lo), cast(hi), step=step, key=wkey, **kw)

    def number(
        self, key: str, label: str, lo: int, hi: int, default: int, *, container=st, **kw
    ) -> int:
        wkey = self._bind(key, default, self._number_parser(lo, hi, int))
        return int(container.number_input(label, lo, hi, step=1, key=wkey, **kw))

    def toggle(self, key: str, label: str, default: bool, *, container=st, **kw) -> bool:
        def parse(raw: str) -> bool:
            if raw not in ("0", "1"):
                raise ValueError("use 0 or 1")
            return raw == "1"

        wkey = self._bind(key, default, parse)
        return container.toggle(label, key=wkey, **kw)

    # ----- presets and URL ---------------------------------------------------------------
    def presets(self, container=st) -> None:
        """Buttons for the page's presets (assets/presets/<page>.json: name -> values)."""
        path = PRESETS_DIR / f"{self.page}.json"
        if not path.exists():
            return
        presets: dict[str, dict[str, Any]] = json.loads(path.read_text())
        if not presets:
            return

        def apply(values: dict[str, Any]) -> None:
            for k, v in values.items():
                st.session_state[f"{self.page}.{k}"] = v

        container.caption("Presets")
        per_row = min(len(presets), 3)  # five in a row cut their names short at 1400 px
        for i, (name, values) in enumerate(presets.items()):
            if i % per_row == 0:
                cols = container.columns(per_row)
            cols[i % per_row].button(
                name,
                key=f"{self.page}.preset.{name}",
                on_click=apply,
                args=(values,),
                width="stretch",
                help="Sets " + ", ".join(f"{k} = {url_value(v)}" for k, v in values.items()),
            )

    def _unknown_note(self) -> str | None:
        """One note naming the URL parameters that no control of this page read (they
        are dropped from the URL by ``write_url``), kept for the session like the rest."""
        key = f"{self.page}.__unknown"
        unknown = [k for k in st.query_params if k not in self.keys and k not in GLOBAL_KEYS]
        if unknown:
            names = ", ".join(shown(k, 24) for k in unknown[:MAX_UNKNOWN])
            more = f" and {len(unknown) - MAX_UNKNOWN} more" if len(unknown) > MAX_UNKNOWN else ""
            word = "parameter" if len(unknown) == 1 else "parameters"
            st.session_state[key] = f"URL {word} {names}{more} not used by this page; ignored."
        return st.session_state.get(key)

    def finish(self) -> None:
        """Write the current values to the URL; show a note for each invalid parameter,
        one for parameters the page does not use, and one per skipped model manifest."""
        from .models import catalogue_notes

        unknown = self._unknown_note()
        notes = _url_notes() + self.notes
        for note in notes[:MAX_NOTES]:
            st.warning(note, icon="⚠️")
        if len(notes) > MAX_NOTES:
            st.warning(f"{len(notes) - MAX_NOTES} more URL parameters were ignored.", icon="⚠️")
        for note in ([unknown] if unknown else []) + catalogue_notes():
            st.warning(note, icon="⚠️")
        self.write_url()

    def write_url(self, *, prune: bool = True) -> None:
        """The current values into the URL. A fragment's own rerun calls it with
        ``prune=False``: parameters of controls not yet drawn in this run stay."""
        params = {k: url_value(st.session_state[w]) for k, w in self.keys.items()}
        if lecture_mode():
            params["lecture"] = "1"
        for k, v in params.items():
            if st.query_params.get(k) != v:
                st.query_params[k] = v
        for k in list(st.query_params):
            if prune and k not in params:
                del st.query_params[k]
