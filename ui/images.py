"""The Images page's data: the shipped image models (their manifest entries), cached
sampling and Frechet-distance points over ``diffusion.images``, the pictures as arrays,
and the CIFAR-10 result tables written by ``python -m diffusion images sweep``."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import streamlit as st
import torch

from diffusion.images.digits import digits_metrics
from diffusion.images.sampling import load_any, sample_images, to_grid
from diffusion.model import DiffusionModel
from diffusion.samplers import REGISTRY

from . import models

EVAL_N = 200
"""Samples per point of the live curve, labelled on every figure: "FD-200"."""
CURVE_NFE = (2, 4, 8)
"""The live curve's NFE ladder: about 20 s of sampling on a laptop CPU the first time on a
server; then every visit reads the shared cache."""
RESULTS_GLOB = os.environ.get("DIFFUSION_IMAGE_RESULTS", "runs/images/*.json")
UPSCALE = 4
STRIP_IMAGES = 8


def shipped(dataset: str = "digits") -> dict[str, dict]:
    """name -> manifest entry of the shipped image models of ``dataset``, the diffusion
    model first."""
    entries = [m for m in models.list_shipped() if m.get("dataset") == dataset]
    entries.sort(key=lambda m: (m.get("kind") != "diffusion", m["name"]))
    return {m["name"]: m for m in entries}


def sampler_choices(entry: dict, samplers: list[str]) -> list[str]:
    """What a model can be sampled with: consistency sampling for a consistency model,
    DDIM for a PD student (what it was distilled for), any of ``samplers`` otherwise."""
    return {"consistency": ["consistency"], "pd-student": ["ddim"]}.get(entry.get("kind"), samplers)


SPACING = "trailing"
"""The grid of the digits diffusion model (the one its offline training report used);
few-step models use their own."""


@st.cache_resource(max_entries=16, show_spinner=False)
def model(spec: str) -> DiffusionModel:
    return load_any(spec)


def _spacing(spec: str) -> str | None:
    return None if model(spec).config.get("kind") in ("pd-student", "consistency") else SPACING


def _picture(x: torch.Tensor, ncol: int) -> np.ndarray:
    img = to_grid(x, ncol=ncol)
    block = np.ones((UPSCALE, UPSCALE) if img.ndim == 2 else (UPSCALE, UPSCALE, 1))
    return np.kron(img, block)


@st.cache_data(show_spinner=False, max_entries=64)
def run(spec: str, sampler: str, steps: int, n: int, seed: int) -> dict:
    """One sampled grid: "grid" (an image in [0, 1]), "strip" (x0-hat of the first
    images after each step: one row per image), "t" (the evaluation times) and "nfe"."""
    x, nfe, traj = sample_images(
        model(spec), sampler, steps, n=n, seed=seed, spacing=_spacing(spec), record=True
    )
    strip = traj.x0_preds[:, :STRIP_IMAGES].clamp(-1, 1).float().cpu()  # (S, 8, C, H, W)
    rows = strip.permute(1, 0, 2, 3, 4).reshape(-1, *strip.shape[2:])
    return {
        "grid": _picture(x, 8),
        "strip": _picture(rows, strip.shape[0]),
        "nfe": nfe,
        "t": traj.timesteps.tolist(),
    }


@st.cache_data(show_spinner=False, max_entries=64)
def fd_point(spec: str, sampler: str, steps: int, seed: int) -> dict:
    """NFE and FD/KID of EVAL_N samples against held-out digits."""
    x, nfe = sample_images(model(spec), sampler, steps, n=EVAL_N, seed=seed, spacing=_spacing(spec))
    m = digits_metrics(x)
    return {"nfe": nfe, "fd": m["fd"], "kid": m["kid"], "label": m["label"]}


def curve_points(
    curve: str, teacher: str, entries: dict[str, dict]
) -> tuple[list[int], list[float]]:
    """(NFE, FD) of one curve: 'pd' (the PD students up to the largest CURVE_NFE),
    'cd' (the consistency model at 1, 2 and 4 steps), or a training-free sampler on
    ``teacher`` at the CURVE_NFE budgets it can hit exactly."""
    if curve == "pd":
        pts = [
            fd_point(name, "ddim", int(m["steps"]), 0)
            for name, m in entries.items()
            if m.get("method") == "pd" and int(m["steps"]) <= max(CURVE_NFE)
        ]
    elif curve == "cd":
        cds = [name for name, m in entries.items() if m.get("method") == "cd"]
        pts = [fd_point(cds[0], "consistency", k, 0) for k in (1, 2, 4)] if cds else []
    else:
        fits = [REGISTRY[curve].steps_for_nfe(nfe) for nfe in CURVE_NFE]
        pts = [fd_point(teacher, curve, k, 0) for k in fits if k is not None]
    pts = sorted(pts, key=lambda p: p["nfe"])
    return [p["nfe"] for p in pts], [p["fd"] for p in pts]


def result_tables() -> list[dict]:
    """The sweep results under RESULTS_GLOB: each {"file", "model", "dataset", "n",
    "rows"} with the rows cut to sampler, NFE, label and the metrics."""
    keep = ("sampler", "nfe", "label", "fid", "fd", "kid")
    out = []
    for path in sorted(glob.glob(RESULTS_GLOB)):
        try:  # a broken file is reported on its own line; the other tables still show
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            rows = [{k: r[k] for k in keep if k in r} for r in data["rows"]]
            out.append(
                {
                    "file": os.path.basename(path),
                    "model": data.get("model"),
                    "dataset": data.get("dataset"),
                    "n": data.get("n"),
                    "rows": rows,
                }
            )
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            reason = " ".join(f"{type(err).__name__}: {err}".split())[:200]
            out.append({"file": os.path.basename(path), "error": reason})
    return out
