"""The Images page renders from the shipped digits models, and its controls change it."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_images_page_renders_and_follows_the_model_choice(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    assert str(ROOT) in sys.path
    at = AppTest.from_file(str(ROOT / "pages" / "7_images.py"), default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == "Samples: digits, ddim, NFE 10"
    assert any("Published CIFAR-10" in s.value for s in at.subheader)
    at.sidebar.selectbox(key="img.model").set_value("digits-cd")
    at.sidebar.select_slider(key="img.steps").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == "Samples: digits-cd, consistency, NFE 2"
    at.sidebar.selectbox(key="img.model").set_value("digits-pd@4steps").run()
    assert at.subheader[0].value == "Samples: digits-pd@4steps, ddim, NFE 4"
