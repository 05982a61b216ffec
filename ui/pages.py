"""The app's pages: one table, read by ``app.py`` (navigation), ``ui.render_times``,
the app benchmark and the tests. Plain data, no streamlit, so the benchmark (which
never imports streamlit) can read it too.

The page scripts live in ``chapters/``, not ``pages/``: with a ``pages/`` folder beside
``app.py``, Streamlit serves a freshly started server in its legacy multipage mode until
some session opens the root URL, so a student who arrives by a shared link (``/ddim?...``)
would get the bare page script without the app's sidebar, lecturer mode or present mode."""

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
    Page(1, "Why accelerate", "chapters/1_why.py", "why", "why"),
    Page(2, "DDIM step skipping", "chapters/2_ddim.py", "ddim", "ddim"),
    Page(3, "Higher-order solvers", "chapters/3_solvers.py", "solvers", "solvers"),
    Page(4, "Progressive distillation", "chapters/4_progressive.py", "progressive", "progressive"),
    Page(5, "Consistency models", "chapters/5_consistency.py", "consistency", "consistency"),
    Page(6, "Compare", "chapters/6_compare.py", "compare", "compare"),
    Page(7, "Images", "chapters/7_images.py", "images", "img"),
)
