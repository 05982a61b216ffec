"""The app benchmark's peer: a bare Streamlit app of two pages, each a title and one
slider, and a third page with one small plotly chart. Their render, page-switch and
slider times, measured in the same run, are the floor that the framework and the
browser set on the machine (see diffusion/bench/app.py): the third page shows what
loading and starting plotly.js in a tab costs before any figure of the app's own."""

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


def _plot_page() -> None:
    import plotly.graph_objects as go

    st.title("Peer plot")
    with st.sidebar:
        steps = st.select_slider("Steps", [1, 2, 5, 10, 12, 20, 50, 100], value=10, key="plot")
    fig = go.Figure(go.Scatter(x=list(range(steps + 1)), y=[v * v for v in range(steps + 1)]))
    fig.update_layout(title=f"steps = {steps}", height=300)
    st.plotly_chart(fig, theme=None, key="peer.plot")


st.navigation(
    [
        st.Page(_page("one"), title="Peer one", url_path="one", default=True),
        st.Page(_page("two"), title="Peer two", url_path="two"),
        st.Page(_plot_page, title="Peer plot", url_path="plot"),
    ]
).run()
