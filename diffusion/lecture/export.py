"""Export a lecture for the day the projector machine fails: every slide's figure as
PNG and SVG, and the talking points as Markdown, in one folder, with no browser.

The folder is written next to its final place and renamed into it at the end, so a
failed export leaves an existing folder as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .render import to_matplotlib
from .sequence import Sequence, Slide, load
from .slides import slide_figure

__all__ = ["export", "slide_stem", "slides_markdown"]

FORMATS = ("png", "svg")


def slide_stem(i: int, slide: Slide) -> str:
    """File name stem of slide i (0-based): '01-why', '02-why', ..."""
    return f"{i + 1:02d}-{slide.page}"


def slides_markdown(seq: Sequence) -> str:
    """The talking points of every slide, with its figure and page link, as Markdown."""
    lines = [f"# {seq.title}", ""]
    if seq.minutes:
        lines += [f"{len(seq.slides)} slides, about {seq.minutes} minutes.", ""]
    for i, s in enumerate(seq.slides):
        stem = slide_stem(i, s)
        lines += [f"## {i + 1}. {s.headline}", "", f"![{s.headline}]({stem}.png)", ""]
        lines += [f"- {p}" for p in s.points]
        if s.question:
            lines += ["", f"**Question:** {s.question}", "", f"**Answer:** {s.answer}"]
        lines += ["", f"In the app: `{s.page_link()}`", ""]
    return "\n".join(lines)


def export(
    seq: Sequence | str | Path,
    out_dir: str | Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write ``NN-page.png``/``.svg`` for every slide and ``slides.md`` into ``out_dir``.

    ``seq``: a loaded Sequence, a shipped sequence's name or a path. The folder is
    created (its parent must exist) or replaced whole. Returns the files written.
    """
    if not isinstance(seq, Sequence):
        seq = load(seq)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format {bad[0]!r}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"folder {str(out.parent)!r} does not exist (for {out})")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = []
        for i, slide in enumerate(seq.slides):
            if progress:
                progress(i, len(seq.slides), slide.headline)
            mpl = to_matplotlib(slide_figure(slide, lecture=True))
            for fmt in formats:
                name = f"{slide_stem(i, slide)}.{fmt}"
                mpl.savefig(tmp / name, format=fmt)
                names.append(name)
        (tmp / "slides.md").write_text(slides_markdown(seq), encoding="utf-8")
        names.append("slides.md")
        os.chmod(tmp, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / n for n in names]
