"""The Images page renders from the shipped digits models, its controls change it,
its state lives in the URL, and its quality curve is drawn live beside (never on)
the published CIFAR-10 tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import page_figures
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def _page(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "chapters" / "7_images.py"), default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    return at


@pytest.fixture(autouse=True)
def _root_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))


def test_images_page_renders_and_follows_the_model_choice():
    # one cheap curve (DDIM at NFE 2, 4, 8 on 200 images) keeps the first render short
    at = _page({"curve": "ddim"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == "Samples: digits, ddim, NFE 10"
    at.sidebar.selectbox(key="img.model").set_value("digits-cd")
    at.sidebar.select_slider(key="img.steps").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == "Samples: digits-cd, consistency, NFE 2"
    assert at.query_params["model"] in ("digits-cd", ["digits-cd"])
    at.sidebar.selectbox(key="img.model").set_value("digits-pd@4steps").run()
    assert at.subheader[0].value == "Samples: digits-pd@4steps, ddim, NFE 4"


def test_images_page_live_curve_beside_the_published_tables():
    at = _page({"curve": "ddim"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    figs = [fig for fig, _ in page_figures(at)]
    assert len(figs) == 1
    (trace,) = figs[0]["data"]  # only our own measurements on these axes
    assert trace["name"] == "teacher + ddim"
    assert list(trace["x"]) == [2, 4, 8]
    assert all(v > 0 for v in trace["y"])
    assert "FD-200" in json.dumps(figs[0]["layout"])  # the sample count is labelled
    tables = [json.dumps(t.value.to_dict()) for t in at.table]
    assert any("41.07" in t for t in tables)  # the corrected DDIM eta = 1 column
    assert any("Salimans" in t for t in tables)


def test_images_page_reads_the_url_and_notes_bad_parameters():
    at = _page({"model": "digits-cd", "steps": "2", "curve": "ddim"})
    at.run()
    assert at.subheader[0].value == "Samples: digits-cd, consistency, NFE 2"
    bad = _page({"model": "nope", "steps": "7", "curve": "ddim"})
    bad.run()
    assert not bad.exception, [e.value for e in bad.exception]
    notes = " ".join(w.value for w in bad.warning)
    assert "`model`=`nope` ignored" in notes
    assert "`steps`=`7` ignored" in notes
    assert bad.subheader[0].value == "Samples: digits, ddim, NFE 10"
