"""Lectures: the chapter as a sequence of slides for present mode, and their export.

    from diffusion import lecture
    seq = lecture.load("accelerated-sampling")      # or a path to your own .json
    fig = lecture.slide_figure(seq.slides[0])       # plotly figure, from library calls
    lecture.export(seq, "slides/")                  # PNG + SVG + Markdown, no browser

The file format is in ``sequence`` (and docs/app.md); figure kinds in ``slides``.
"""

from .export import export
from .sequence import LectureError, Sequence, Slide, available, load, parse
from .slides import KINDS, check_figure, figure_for, slide_figure

__all__ = [
    "KINDS",
    "LectureError",
    "Sequence",
    "Slide",
    "available",
    "check_figure",
    "export",
    "figure_for",
    "load",
    "parse",
    "slide_figure",
]
