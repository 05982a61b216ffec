"""Accelerated sampling of diffusion models: the teaching app.

Run with ``streamlit run app.py``. One page per section of the chapter; the maths
is in the ``diffusion`` package, the pages hold widgets and layout.
"""

from pathlib import Path

import streamlit as st

from ui.layout import sidebar_common

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Accelerated sampling", page_icon="⏩", layout="wide")

PAGES = [
    st.Page(HERE / "pages" / "1_why.py", title="1 · Why accelerate", default=True,
            url_path="why"),
    st.Page(HERE / "pages" / "2_ddim.py", title="2 · DDIM step skipping", url_path="ddim"),
    st.Page(HERE / "pages" / "3_solvers.py", title="3 · Higher-order solvers",
            url_path="solvers"),
    st.Page(HERE / "pages" / "4_progressive.py", title="4 · Progressive distillation",
            url_path="progressive"),
    st.Page(HERE / "pages" / "5_consistency.py", title="5 · Consistency models",
            url_path="consistency"),
    st.Page(HERE / "pages" / "6_compare.py", title="6 · Compare", url_path="compare"),
]
if (HERE / "pages" / "7_images.py").exists():  # written by the images track
    PAGES.append(st.Page(HERE / "pages" / "7_images.py", title="7 · Images", url_path="images"))

sidebar_common()
page = st.navigation(PAGES)
page.run()
