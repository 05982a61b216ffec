"""A lecture as data: the sequence file format, loading and validation.

A sequence file (``assets/lectures/<name>.json``) is one JSON object::

    {"title": "...", "minutes": 50, "slides": [slide, ...]}

and a slide is::

    {"page": "ddim",                       # the app page the slide belongs to
     "preset": "Few steps, deterministic", # optional: a preset of that page
     "params": {"steps": 10},              # optional: more URL values for the page link
     "figure": {"kind": "samples", ...},   # what to draw (see slides.KINDS)
     "headline": "One line, said aloud",
     "points": ["one or two talking points"],
     "question": "optional, for the class", "answer": "revealed on the next key press"}

Everything is checked on load; the first problem raises ``LectureError`` with one
line naming the file, the slide and the field, and the valid choices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LECTURES_DIR = Path(__file__).resolve().parents[2] / "assets" / "lectures"
PRESETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "presets"

PAGES = ("why", "ddim", "solvers", "progressive", "consistency", "compare", "images")
"""The app's pages by their URL path (app.py)."""

PRESET_FILES = {"images": "img"}
"""Pages whose preset file is not named after the page."""

SLIDE_KEYS = ("page", "preset", "params", "figure", "headline", "points", "question", "answer")
MAX_POINTS = 2
MAX_HEADLINE = 64
"""Characters: a longer headline does not fit one line at projector size (1280 px)."""


class LectureError(ValueError):
    """A sequence file that cannot be used; the message names the bad entry."""


@dataclass(frozen=True)
class Slide:
    page: str
    figure: dict[str, Any]
    headline: str
    points: tuple[str, ...]
    preset: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    question: str | None = None
    answer: str | None = None

    def page_values(self) -> dict[str, Any]:
        """The page's control values for this slide: the preset's, then ``params``."""
        values = dict(page_presets(self.page).get(self.preset, {})) if self.preset else {}
        values.update(self.params)
        return values

    def page_link(self) -> str:
        """Relative URL of the slide's page with its values, e.g. ``ddim?steps=10&eta=0``."""
        from urllib.parse import urlencode

        query = urlencode({k: url_value(v) for k, v in self.page_values().items()})
        return f"{self.page}?{query}" if query else self.page


@dataclass(frozen=True)
class Sequence:
    name: str
    title: str
    minutes: int
    slides: tuple[Slide, ...]
    path: Path | None = None


def url_value(v: Any) -> str:
    """A control's value as the app's URL state writes it (ui/state.py):
    booleans as 1/0, lists and tuples comma-separated, floats in %g form."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(url_value(e) for e in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def page_presets(page: str) -> dict[str, dict[str, Any]]:
    """A page's presets (assets/presets/<page>.json: name -> values); {} if it has none."""
    path = PRESETS_DIR / f"{PRESET_FILES.get(page, page)}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def available() -> list[str]:
    """Names of the shipped sequences (assets/lectures/*.json)."""
    return sorted(p.stem for p in LECTURES_DIR.glob("*.json"))


def resolve(name_or_path: str | Path) -> Path:
    """A shipped sequence's name, or a path to a sequence file."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"sequence file {str(path)!r} not found")
        return path
    shipped = LECTURES_DIR / f"{name_or_path}.json"
    if not shipped.is_file():
        raise LectureError(
            f"unknown sequence {str(name_or_path)!r}; choose one of "
            f"{', '.join(available()) or 'none shipped'} or give a .json path"
        )
    return shipped


def load(name_or_path: str | Path) -> Sequence:
    """Load and validate a sequence; raises LectureError naming the first bad entry."""
    path = resolve(name_or_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise LectureError(
            f"{path.name}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    return parse(raw, path.name, path=path)


def parse(raw: Any, source: str = "<sequence>", *, path: Path | None = None) -> Sequence:
    """Validate a decoded sequence file (see the module docstring)."""

    def fail(where: str, message: str) -> LectureError:
        return LectureError(f"{source}: {where}: {message}")

    if not isinstance(raw, dict):
        raise fail("top level", "must be an object with 'title', 'minutes' and 'slides'")
    extra = sorted(set(raw) - {"title", "minutes", "slides"})
    if extra:
        raise fail("top level", f"unknown key {extra[0]!r}; valid keys: title, minutes, slides")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail("field 'title'", "must be a non-empty string")
    minutes = raw.get("minutes", 0)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= 600:
        raise fail("field 'minutes'", f"must be a whole number of minutes 0-600, got {minutes!r}")
    slides = raw.get("slides")
    if not isinstance(slides, list) or not slides:
        raise fail("field 'slides'", "must be a non-empty list of slides")
    out = []
    for i, s in enumerate(slides):
        where = f"slide {i + 1}"
        if isinstance(s, dict) and isinstance(s.get("headline"), str):
            where += f" ({s['headline'][:40]!r})"
        try:
            out.append(_slide(s))
        except LectureError as err:
            raise fail(where, str(err)) from None
    name = path.stem if path is not None else Path(source).stem
    return Sequence(name=name, title=title.strip(), minutes=minutes, slides=tuple(out), path=path)


def _text(s: dict, key: str, *, required: bool, limit: int | None = None) -> str | None:
    v = s.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v.strip():
        raise LectureError(f"field {key!r} must be a non-empty string")
    if limit and len(v) > limit:
        raise LectureError(
            f"field {key!r} has {len(v)} characters; at most {limit} fit a projector line"
        )
    return v.strip()


def _slide(s: Any) -> Slide:
    if not isinstance(s, dict):
        raise LectureError("must be an object with page, figure, headline and points")
    extra = sorted(set(s) - set(SLIDE_KEYS))
    if extra:
        raise LectureError(f"unknown field {extra[0]!r}; valid fields: {', '.join(SLIDE_KEYS)}")
    page = s.get("page")
    if page not in PAGES:
        raise LectureError(f"field 'page' is {page!r}; choose one of {', '.join(PAGES)}")
    preset = s.get("preset")
    if preset is not None:
        presets = page_presets(page)
        if preset not in presets:
            raise LectureError(
                f"field 'preset' is {preset!r}; page {page!r} has "
                f"{', '.join(repr(p) for p in presets) or 'no presets'}"
            )
    params = s.get("params", {})
    if not isinstance(params, dict) or not all(
        isinstance(v, (str, int, float, bool, list)) for v in params.values()
    ):
        raise LectureError(
            "field 'params' must map page controls to values (text, numbers, true/false or lists)"
        )
    headline = _text(s, "headline", required=True, limit=MAX_HEADLINE)
    points = s.get("points")
    if isinstance(points, str):
        points = [points]
    if (
        not isinstance(points, list)
        or not 1 <= len(points) <= MAX_POINTS
        or not all(isinstance(p, str) and p.strip() for p in points)
    ):
        raise LectureError(f"field 'points' must be a list of 1 to {MAX_POINTS} non-empty strings")
    question = _text(s, "question", required=False)
    answer = _text(s, "answer", required=False)
    if (question is None) != (answer is None):
        raise LectureError("fields 'question' and 'answer' go together: give both or neither")
    from .slides import check_figure

    figure = s.get("figure")
    try:
        figure = check_figure(figure)
    except LectureError as err:
        raise LectureError(f"field 'figure': {err}") from None
    return Slide(
        page=page,
        figure=figure,
        headline=headline,
        points=tuple(p.strip() for p in points),
        preset=preset,
        params=dict(params),
        question=question,
        answer=answer,
    )
