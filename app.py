"""Accelerated sampling of diffusion models: the teaching app.

Run with ``streamlit run app.py``. One page per section of the chapter (the table in
``ui.pages``); the maths is in the ``diffusion`` package, the pages hold widgets and layout.
"""

import streamlit as st

from ui.layout import sidebar_common
from ui.pages import PAGES
from ui.present import present_mode, present_sidebar, run_present

st.set_page_config(page_title="Accelerated sampling", page_icon="⏩", layout="wide")

sidebar_common()
page = st.navigation(
    [
        st.Page(p.path, title=p.label, url_path=p.url_path, default=i == 0)
        for i, p in enumerate(PAGES)
    ],
    position="hidden" if present_mode() else "sidebar",
)
if present_mode():  # the lecture's slides in place of the page (ui/present.py)
    run_present()
else:
    present_sidebar()
    page.run()
