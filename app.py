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
first = PAGES[0]
# Streamlit serves the default page at "/" only; its url_path merely names it. A link to
# "/why?..." (typed, or from the page table) reaches a hidden alias that moves to "/"
# with the link's settings, instead of "Page not found" and the defaults.
home = st.Page(first.path, title=first.label, url_path=f"{first.url_path}-home", default=True)


def _to_home() -> None:
    st.switch_page(home, query_params=st.query_params.to_dict())


page = st.navigation(
    [
        home,
        *(st.Page(p.path, title=p.label, url_path=p.url_path) for p in PAGES[1:]),
        st.Page(_to_home, title=first.label, url_path=first.url_path, visibility="hidden"),
    ],
    position="hidden" if present_mode() else "sidebar",
)
if present_mode():  # the lecture's slides in place of the page (ui/present.py)
    run_present()
else:
    present_sidebar()
    page.run()
