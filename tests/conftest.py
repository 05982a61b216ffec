"""Shared test helpers: a single-threaded torch for the oracle tests, and the curved
three-component mixture the convergence and diffusers-agreement tests run on."""

from __future__ import annotations

import pytest
import torch
from streamlit import config as st_config

from diffusion.oracle import GaussianMixture

# AppTest reads no config file: serve static files as the app's .streamlit/config.toml
# does, so that pages draw their figures with ui.plot's component, as in the browser.
st_config.set_option("server.enableStaticServing", True)


def page_figures(at) -> list[tuple[dict, dict]]:
    """(figure, plotly.js config) of every figure an AppTest page drew (ui.plot)."""
    from ui.plot import figure_specs

    return figure_specs(el.proto for el in at.get("bidi_component"))


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for the module: the oracle's small batched linear algebra
    is fastest single-threaded."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def curved_mixture() -> GaussianMixture:
    """Three anisotropic components, one of them correlated: a curved ODE flow."""
    return GaussianMixture(
        weights=[0.2, 0.3, 0.5],
        means=[[1.0, 0.0], [-1.0, 0.5], [0.0, -1.0]],
        covs=[
            [[0.10, 0.00], [0.00, 0.20]],
            [[0.05, 0.02], [0.02, 0.10]],
            [[0.30, -0.10], [-0.10, 0.08]],
        ],
    )


@pytest.fixture(scope="module")
def server():
    """The app served by ``streamlit run`` on a free localhost port, for one test module."""
    from pathlib import Path

    from diffusion.bench.app import streamlit_server

    with streamlit_server(Path(__file__).resolve().parent.parent) as url:
        yield url


@pytest.fixture(scope="module")
def browser(request):
    """A headless Debian Chromium context (Playwright) on a fresh profile, 1400 px wide and
    as tall as the module's ``BROWSER_HEIGHT``; a missing /usr/bin/chromium fails clearly."""
    import os
    import tempfile

    from diffusion.bench.app import CHROMIUM, launch_chromium

    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install -y chromium) to run the browser test"
        )
    from playwright.sync_api import sync_playwright

    height = getattr(request.module, "BROWSER_HEIGHT", 1600)
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = launch_chromium(pw, profile, height=height)
        yield context
        context.close()
