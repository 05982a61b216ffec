"""Samplers: stateless functions sharing one signature, and a registry by name."""

from . import ddim  # noqa: F401  (registers)
from .base import REGISTRY, Grid, SamplerSpec, Trajectory, get_sampler, resolve_sampler

__all__ = ["REGISTRY", "Grid", "SamplerSpec", "Trajectory", "get_sampler", "resolve_sampler"]
