"""Figures drawn by plotly.js in the page itself and updated in place.

``st.plotly_chart`` gives a chart a new identity whenever its figure changes (the
figure's JSON is part of the element's id), so every slider move throws the chart away
and draws a new one, and each new tab loads plotly.js as one 4.7 MB module of
Streamlit's. Here a keyed ``st.components.v2`` component keeps its identity across
reruns: a changed figure reaches the same ``<div>`` and ``Plotly.react`` updates it;
where only some scatter traces' points moved (the DDIM page's timestep grid when the
steps change), ``ui/plot.js`` moves those points without a replot.
plotly.js is the copy that ships with the plotly package (the version that wrote the
figure's JSON), served by Streamlit's static file serving
(``server.enableStaticServing``) and loaded by a plain script tag once per tab, which
the browser can cache compiled.

Measured on the 2-core CI machine in BENCHMARKS.md's app section (fresh tab, page
switch, slider), beside a peer page with one ``st.plotly_chart`` in the same run.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import tempfile
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io
import streamlit as st

from diffusion.bench.loadtest import FIGURE

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
"""Streamlit serves ``static/`` beside the main script (app.py) at ``app/static/``."""

COMPONENT = FIGURE
"""The component's registered name (tests and the load test find figures by it)."""

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

_LOG = logging.getLogger(__name__)

_HTML = '<div class="diffusion-figure" style="width:100%"></div>'

_JS = (Path(__file__).with_name("plot.js")).read_text(encoding="utf-8")


@functools.cache
def plotly_js_url() -> str | None:
    """The URL of plotly.js under Streamlit's static serving, copying the plotly
    package's own file into ``static/`` (named by version) the first time; None where
    the project folder cannot be written (a read-only install)."""
    name = f"plotly-{plotly.__version__}.min.js"
    target = STATIC / name
    if not target.exists() or target.stat().st_size != PLOTLY_JS.stat().st_size:
        try:
            _copy_atomically(PLOTLY_JS, target)
        except OSError as err:
            _LOG.warning("figures fall back to st.plotly_chart: %s", err)
            return None
    return f"app/static/{name}"


def _copy_atomically(src: Path, target: Path) -> None:
    """Copy ``src`` to ``target`` through a temporary of the caller's own (two first
    sessions may race), then one rename: never a half-written file under the served
    name. A copy, as Streamlit does not serve symbolic links."""
    target.parent.mkdir(exist_ok=True)
    with (
        src.open("rb") as f,
        tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as tmp,
    ):
        shutil.copyfileobj(f, tmp)
    Path(tmp.name).replace(target)


def _title(fig: go.Figure) -> str:
    text = fig.layout.title.text
    return text if isinstance(text, str) and text else "figure"


def show_figure(fig: go.Figure, *, key: str, name: str, config: dict) -> None:
    """Draw ``fig`` under the stable ``key``; a later rerun with another figure under
    the same key updates the drawn one in place. ``config`` is plotly.js's config (the
    camera button's format and file name); ``name`` labels the figure in the page.

    A server started without static file serving (not from the project folder, whose
    .streamlit/config.toml turns it on), or one that cannot write ``static/``, gets
    ``st.plotly_chart`` instead: slower, but every figure is still drawn."""
    src = plotly_js_url() if st.get_option("server.enableStaticServing") else None
    if src is None:
        st.plotly_chart(fig, theme=None, key=key, config=config)
        return
    mount = st.components.v2.component(COMPONENT, html=_HTML, js=_JS, isolate_styles=False)
    mount(
        key=key,
        data={
            "spec": plotly.io.to_json(fig, validate=False),
            "config": json.dumps(config),
            "src": src,
            "name": name,
            "label": _title(fig),
        },
    )


def figure_specs(elements) -> list[tuple[dict, dict]]:
    """(figure, config) of every figure among ``elements``: the protos of a page's
    elements, as ``AppTest`` or a websocket client sees them."""
    out = []
    for el in elements:
        proto = getattr(el, "bidi_component", el)
        if getattr(proto, "component_name", None) == COMPONENT:
            data = json.loads(proto.json)
            out.append((json.loads(data["spec"]), json.loads(data["config"])))
    return out
