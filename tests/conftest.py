"""Shared test helpers: a single-threaded torch for the oracle tests, and the curved
three-component mixture the convergence and diffusers-agreement tests run on."""

from __future__ import annotations

import pytest
import torch

from diffusion.oracle import GaussianMixture


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
