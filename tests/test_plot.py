"""ui.plot: figures drawn by the page's own plotly.js through a keyed component, with
st.plotly_chart where the server does not serve static files."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import tomllib
from conftest import page_figures
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from ui import plot

ROOT = Path(__file__).resolve().parent.parent


def _app():
    import plotly.graph_objects as go
    import streamlit as st

    from ui import plot

    steps = st.slider("Steps", 1, 20, 10)
    fig = go.Figure(go.Scatter(x=[0, steps], y=[0, 1]))
    fig.update_layout(title=f"S = {steps}", height=300)
    plot.show_figure(fig, key="fig.demo", name="demo", config={"toImageButtonOptions": {}})


def test_a_figure_keeps_its_element_across_reruns_and_carries_the_new_figure():
    at = AppTest.from_function(_app).run()
    (first,) = at.get("bidi_component")
    at.slider[0].set_value(12).run()
    (second,) = at.get("bidi_component")
    assert second.proto.id == first.proto.id  # the same element: updated, not redrawn
    ((fig, config),) = page_figures(at)
    assert fig["layout"]["title"]["text"] == "S = 12"
    assert fig["data"][0]["x"] == [0, 12]
    assert config == {"toImageButtonOptions": {}}


def test_without_static_serving_the_figure_is_a_plotly_chart():
    st_config.set_option("server.enableStaticServing", False)
    try:
        at = AppTest.from_function(_app).run()
    finally:
        st_config.set_option("server.enableStaticServing", True)
    assert not at.exception
    assert not at.get("bidi_component")
    assert len(at.get("plotly_chart")) == 1


def test_the_app_config_serves_static_files():
    """conftest.py turns static serving on for AppTest because the app's config does."""
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableStaticServing"] is True


def test_plotly_js_is_copied_whole_under_its_version(tmp_path, monkeypatch):
    monkeypatch.setattr(plot, "STATIC", tmp_path / "static")
    plot.plotly_js_url.cache_clear()
    try:
        url = plot.plotly_js_url()
        name = url.rsplit("/", 1)[1]
        assert url == f"app/static/{name}"
        assert plot.plotly.__version__ in name
        served = tmp_path / "static" / name
        assert served.read_bytes() == plot.PLOTLY_JS.read_bytes()
        assert not served.is_symlink()  # Streamlit does not serve links
        served.write_bytes(b"truncated")  # a damaged copy is replaced
        plot.plotly_js_url.cache_clear()
        plot.plotly_js_url()
        assert served.stat().st_size == plot.PLOTLY_JS.stat().st_size
        assert [p.name for p in served.parent.iterdir()] == [name]  # no temporary left
    finally:
        plot.plotly_js_url.cache_clear()


def test_a_read_only_install_falls_back_to_plotly_chart(tmp_path, monkeypatch):
    def refuse(src, target):
        raise PermissionError(f"read-only: {target}")

    monkeypatch.setattr(plot, "STATIC", tmp_path / "static")
    monkeypatch.setattr(plot, "_copy_atomically", refuse)
    plot.plotly_js_url.cache_clear()
    try:
        assert plot.plotly_js_url() is None
        at = AppTest.from_function(_app).run()
    finally:
        plot.plotly_js_url.cache_clear()
    assert not at.exception
    assert not at.get("bidi_component")
    assert len(at.get("plotly_chart")) == 1


def test_figure_specs_reads_only_the_figure_component():
    fig = go.Figure(go.Scatter(x=[1], y=[2]))

    def app():
        import plotly.graph_objects as go
        import streamlit as st

        from ui import plot

        st.components.v2.component("other.thing", html="<div></div>")(key="x", data={"a": 1})
        plot.show_figure(go.Figure(go.Scatter(x=[1], y=[2])), key="k", name="n", config={})

    at = AppTest.from_function(app).run()
    assert len(at.get("bidi_component")) == 2
    ((got, _),) = page_figures(at)
    assert got["data"] == fig.to_plotly_json()["data"]
