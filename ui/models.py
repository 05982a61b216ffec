"""Cached access to models and sampling results for the pages.

``st.cache_resource`` holds only read-only shipped models and oracles, shared by
every session; ``st.cache_data`` holds results as NumPy arrays, keyed by every
setting that changes them. Models a user trains live in ``st.session_state``
(see ``ui.jobs``) and are sampled through the uncached ``run_model``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st
import torch

from diffusion.checkpoints import list_models, load_model
from diffusion.grids import make_timesteps
from diffusion.metrics import evaluate_2d
from diffusion.model import DiffusionModel
from diffusion.samplers import REGISTRY
from diffusion.samplers import sample as draw
from diffusion.toy.datasets import DATASETS, ORACLE_DATASETS, sample_dataset

if TYPE_CHECKING:
    from .state import PageState

# Streamlit serves each session from its own thread; one intra-op thread per
# computation keeps concurrent sessions from oversubscribing the cores (measured
# 10-50x slower per call on a loaded 2-core machine with the default).
torch.set_num_threads(1)

MAX_POINTS = 5000
MAX_STEPS = 1000
MAX_FRAMES = 60
"""Bounds that keep one browser tab from stalling a shared classroom server."""

DEFAULT_MODEL = "8gaussians"


# ----- the catalogue: which models there are --------------------------------------------


@st.cache_data(ttl=600, show_spinner=False)
def _catalogue() -> tuple[list[dict], dict[str, str]]:
    """(every manifest entry, {manifest file: why it or an entry of it was skipped})."""
    skipped: dict[str, str] = {}
    try:
        return list_models(skipped=skipped), skipped
    except (OSError, ValueError) as err:
        return [], {**skipped, "the model manifests": " ".join(str(err).split())}


def list_shipped() -> list[dict]:
    """Every manifest entry (``diffusion.checkpoints.list_models``): name, kind, dataset
    and, for few-step models, method, steps and teacher."""
    return _catalogue()[0]


def catalogue_notes() -> list[str]:
    """One line per manifest that the catalogue skipped (a malformed file, an entry
    without a name), naming the file; its other manifests' models are listed as usual."""
    from .state import shown

    notes = []
    for manifest, reason in _catalogue()[1].items():
        path = Path(manifest)
        name = f"{path.parent.name}/{path.name}" if path.name == "manifest.json" else manifest
        reason = reason.replace(f" {manifest}", "")
        notes.append(f"Models of {shown(name, 60)} are not listed: {shown(reason, 120)}.")
    return notes


def _is_2d(entry: dict) -> bool:
    """Whether a manifest entry is a 2-D model (image models have image datasets)."""
    return entry.get("dataset") in DATASETS


def list_shipped2d() -> list[dict]:
    """The shipped 2-D models (all kinds)."""
    return [m for m in list_shipped() if _is_2d(m)]


def model_choices(kind: str = "diffusion") -> list[str]:
    """Shipped 2-D models of this kind, then (for 'diffusion') the exact oracles."""
    names = [m["name"] for m in list_shipped2d() if m.get("kind", "diffusion") == kind]
    if kind == "diffusion":
        names += [f"oracle:{d}" for d in ORACLE_DATASETS]
    return names


def default_model() -> str:
    choices = model_choices()
    for name in (DEFAULT_MODEL, f"oracle:{DEFAULT_MODEL}"):
        if name in choices:
            return name
    return choices[0]


def _entry(spec: str) -> dict | None:
    return next((m for m in list_shipped() if m["name"] == spec), None)


def model_label(spec: str) -> str:
    if spec.startswith("oracle:"):
        return f"{spec[7:]} (exact oracle)"
    entry = _entry(spec)
    return f"{spec} (trained, {entry.get('kind', 'diffusion')})" if entry else spec


def select_model(ps: PageState, help: str, **kw: Any) -> str:
    """The page's "Model" picker (URL key ``model``): a shipped model or an exact oracle."""
    return ps.select(
        "model",
        "Model",
        model_choices(),
        default_model(),
        format_func=model_label,
        help=help,
        **kw,
    )


def dataset_of(spec: str) -> str:
    """The dataset of a shipped model or an oracle (from the manifest or the model)."""
    if spec.startswith("oracle:"):
        return spec[7:]
    entry = _entry(spec)
    if entry and entry.get("dataset"):
        return str(entry["dataset"])
    return str(load(spec).config.get("dataset", spec))


def pd_rounds(dataset: str) -> dict[int, str]:
    """The shipped progressive-distillation students of a dataset: {steps: name}."""
    return {
        int(m["steps"]): m["name"]
        for m in list_shipped2d()
        if m.get("method") == "pd" and m.get("dataset") == dataset
    }


def consistency_models(dataset: str) -> dict[str, str]:
    """The shipped consistency models of a dataset: {method ('cd' or 'ct'): name}."""
    return {
        str(m["method"]): m["name"]
        for m in list_shipped2d()
        if m.get("kind") == "consistency" and m.get("dataset") == dataset
    }


def diffusion_models(dataset: str) -> list[str]:
    """The shipped (trained) diffusion models of a dataset."""
    return [
        m["name"]
        for m in list_shipped2d()
        if m.get("kind", "diffusion") == "diffusion" and m.get("dataset") == dataset
    ]


def sampler_label(name: str) -> str:
    return REGISTRY[name].label


def steps_within(sampler: str, nfe: int) -> int:
    """The most steps of ``sampler`` whose NFE fits the budget ``nfe``; 0 if none does."""
    cost = REGISTRY[sampler].nfe
    return max([s for s in range(1, nfe + 1) if cost(s) <= nfe], default=0)


def nfe_per_step(sampler: str) -> int:
    """Network evaluations per step after the first (2 for Heun, 1 for multistep)."""
    cost = REGISTRY[sampler].nfe
    return cost(2) - cost(1)


# ----- loading and sampling ----------------------------------------------------------------


def load(spec: str) -> DiffusionModel:
    """A shipped model or an oracle; shared read-only by all sessions. A model that
    cannot be loaded (unknown, missing, or failing its sha256 check) stops this page's
    run with one line on the page; other pages and sessions are unaffected."""
    try:
        return _load(spec)
    except (ValueError, FileNotFoundError) as err:
        from .state import shown

        reason = " ".join(str(err).split())[:300]  # one line, whatever the asset holds
        st.error(f"Cannot load model {shown(spec)}: {shown(reason, 300)}")
        st.stop()


@st.cache_resource(max_entries=32, show_spinner="Loading model…")
def _load(spec: str) -> DiffusionModel:
    """``diffusion.checkpoints.load_model``: shipped models and ``oracle:<dataset>``."""
    model = load_model(spec)
    if hasattr(model.net, "eval"):
        model.net.eval()
    return model


def _thin(xs: torch.Tensor, x0s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """At most MAX_FRAMES+1 animation frames, evenly spaced, keeping both ends; the
    x0-hat of each kept step (x0s[k] is the estimate made on the way to xs[k+1])."""
    if len(xs) <= MAX_FRAMES + 1:
        return xs, x0s
    idx = np.unique(np.linspace(0, len(xs) - 1, MAX_FRAMES + 1).round().astype(int))
    return xs[idx], x0s[np.clip(idx[1:] - 1, 0, len(x0s) - 1)]


def run_model(
    model: DiffusionModel,
    sampler: str,
    steps: int,
    *,
    n: int,
    seed: int,
    spacing: str | None = None,
    options: dict[str, Any] | None = None,
    keep: int = 200,
) -> dict[str, Any]:
    """``diffusion.sample`` timed, as NumPy arrays: x (n, 2), xs (F, keep, 2) at most
    MAX_FRAMES+1 recorded states of the first ``keep`` particles, x0_preds (F-1, keep, 2),
    timesteps, nfe and the wall time in seconds (of the whole run). ``spacing`` None:
    the model's own grid for a few-step model, else the package default."""
    if not 1 <= n <= MAX_POINTS:
        raise ValueError(f"points must be between 1 and {MAX_POINTS}, got {n}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    start = time.perf_counter()
    with torch.no_grad():
        traj = draw(model, sampler, steps, n=n, seed=seed, spacing=spacing, **(options or {}))
    seconds = time.perf_counter() - start
    xs, x0s = _thin(traj.xs[:, :keep], traj.x0_preds[:, :keep])
    return {
        "x": traj.x.detach().float().numpy(),
        "xs": xs.detach().float().numpy(),
        "x0_preds": x0s.detach().float().numpy(),
        "timesteps": traj.timesteps.numpy(),
        "nfe": int(traj.nfe),
        "seconds": seconds,
        "sampler": sampler,
    }


def frames(run: dict[str, Any], *, x0_hat: bool = False) -> np.ndarray:
    """The animation frames of a run: its states x_t, or x_T followed by the x0-hat of
    every step (the network's guess of the clean sample as it goes)."""
    if not x0_hat:
        return run["xs"]
    return np.concatenate([run["xs"][:1], run["x0_preds"]])


@st.cache_data(max_entries=256, show_spinner=False)
def sample(
    spec: str,
    sampler: str,
    steps: int,
    n: int,
    seed: int,
    spacing: str | None = None,
    options: tuple[tuple[str, Any], ...] = (),
) -> dict[str, Any]:
    """Cached ``run_model`` on a shipped model or oracle."""
    return run_model(
        load(spec), sampler, steps, n=n, seed=seed, spacing=spacing, options=dict(options)
    )


@st.cache_data(max_entries=64, show_spinner=False)
def data(dataset: str, n: int, seed: int = 12345) -> np.ndarray:
    """n fresh points of a dataset: (n, 2), for the grey background of plots."""
    return sample_dataset(dataset, n, seed=seed).numpy()


@st.cache_data(max_entries=1024, show_spinner=False)
def quality_of(x: np.ndarray, dataset: str, seed: int = 0) -> dict[str, float]:
    """2-D metrics of samples x: (N, 2) against fresh data (a pure function of x, so
    it is safe to share between sessions)."""
    return {k: float(v) for k, v in evaluate_2d(torch.as_tensor(x), dataset, seed=seed).items()}


@st.cache_data(max_entries=512, show_spinner=False)
def quality(
    spec: str,
    sampler: str,
    steps: int,
    n: int,
    seed: int,
    spacing: str | None = None,
    options: tuple[tuple[str, Any], ...] = (),
) -> dict[str, float]:
    """2-D metrics (sliced W2, MMD, Frechet, log-likelihood when exact) of one run."""
    out = sample(spec, sampler, steps, n, seed, spacing, options)
    return {
        **quality_of(out["x"], dataset_of(spec), seed),
        "nfe": out["nfe"],
        "seconds": out["seconds"],
    }


@st.cache_data(max_entries=32, show_spinner=False)
def schedule_curves(spec: str) -> dict[str, np.ndarray]:
    """alpha_bar_t and lambda_t at every integer t of the model's schedule."""
    sch = load(spec).schedule
    t = torch.arange(sch.T, dtype=torch.float64)
    return {
        "t": t.numpy(),
        "alpha_bar": sch.alpha_bar(t).numpy(),
        "lambda_": sch.lambda_(t).numpy(),
        "T": sch.T,
    }


@st.cache_data(max_entries=256, show_spinner=False)
def grid(spec: str, steps: int, spacing: str) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the page reports the distinct count itself
        return make_timesteps(load(spec).schedule, steps, spacing).numpy()


SWEEP_STEPS = (5, 10, 20, 50, 100)
SWEEP_POINTS = 2000
"""The DDIM page's quality-vs-steps ladder and its sample count (fixed, labelled)."""


@st.cache_data(max_entries=64, show_spinner=False)
def ddim_quality_sweep(
    spec: str, seed: int, spacing: str
) -> tuple[dict[str, tuple[list[int], list[float]]], float]:
    """Sliced W2 against steps for DDIM eta = 0, 0.5, 1 and DDPM (beta variance),
    each at SWEEP_POINTS samples; and the data-vs-data floor at that size. Keyed by
    the model, seed and spacing only: the page's other controls never recompute it."""
    runs = [(f"DDIM eta = {e:g}", "ddim", (("eta", e),)) for e in (0.0, 0.5, 1.0)]
    runs.append(("DDPM (beta)", "ddpm", (("variance", "beta"),)))
    series, floor = {}, float("nan")
    for label, name, opts in runs:
        vals = []
        for s in SWEEP_STEPS:
            q = quality(spec, name, s, SWEEP_POINTS, seed, spacing, opts)
            vals.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        series[label] = (list(SWEEP_STEPS), vals)
    return series, floor
