"""The app's pages: one table, read by ``app.py`` (navigation), ``ui.render_times``,
the app benchmark and the tests. Plain data, no streamlit, so the benchmark (which
never imports streamlit) can read it too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Page:
    number: int
    title: str
    file: str
    """Path relative to the repository root."""
    url_path: str
    """The page's URL path; the first page is also served at the app's root."""
    state: str
    """The prefix of the page's controls in the URL state (``ui.state.PageState``)."""

    @property
    def label(self) -> str:
        """The title in the sidebar navigation."""
        return f"{self.number} · {self.title}"

    @property
    def path(self) -> Path:
        return ROOT / self.file


PAGES = (
    Page(1, "Why accelerate", "pages/1_why.py", "why", "why"),
    Page(2, "DDIM step skipping", "pages/2_ddim.py", "ddim", "ddim"),
    Page(3, "Higher-order solvers", "pages/3_solvers.py", "solvers", "solvers"),
    Page(4, "Progressive distillation", "pages/4_progressive.py", "progressive", "progressive"),
    Page(5, "Consistency models", "pages/5_consistency.py", "consistency", "consistency"),
    Page(6, "Compare", "pages/6_compare.py", "compare", "compare"),
    Page(7, "Images", "pages/7_images.py", "images", "img"),
)
