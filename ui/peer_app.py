"""The app benchmark's peer: a bare Streamlit app of two pages, each a title and one
slider. Its render, page-switch and slider times, measured in the same run, are the
floor that the framework and the browser set on the machine (see
diffusion/bench/app.py)."""

import streamlit as st


def _page(name: str):
    def page() -> None:
        st.title(f"Peer {name}")
        with st.sidebar:
            steps = st.select_slider(
                "Steps", [1, 2, 5, 10, 12, 20, 50, 100], value=10, key=f"steps.{name}"
            )
        st.write(f"steps = {steps}")

    return page


st.navigation(
    [
        st.Page(_page("one"), title="Peer one", url_path="one", default=True),
        st.Page(_page("two"), title="Peer two", url_path="two"),
    ]
).run()
