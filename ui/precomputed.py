"""The shipped curves (assets/curves/, see diffusion/precomputed.py) for the pages.

A page draws the shipped curve on first view, with no computation, and keeps a
"recompute live" control for other settings. Reading a file takes milliseconds; the
result is shared by every session.
"""

from __future__ import annotations

import streamlit as st

from diffusion import precomputed


@st.cache_data(max_entries=16, show_spinner=False)
def curve(name: str) -> dict | None:
    """The shipped curve ``name``, or None when it is missing or damaged."""
    try:
        return precomputed.load(name)
    except (OSError, ValueError):
        return None


@st.cache_data(max_entries=1, ttl=3600, show_spinner=False)
def _stale() -> dict[str, str]:
    return precomputed.stale()


def caption(name: str) -> str:
    """One line under a shipped figure: where it comes from and whether it is current."""
    entry = precomputed.read_manifest()["curves"].get(name, {})
    note = (
        f"Shipped with the app (`{entry.get('command', 'scripts/precompute_curves.py')}`, "
        f"seed {entry.get('seed', precomputed.SEED)}, code version "
        f"{entry.get('code_version', '?')})."
    )
    if name in _stale():
        note += " The code has changed since: recompute live, or rerun the script."
    return note


def _params(name: str) -> tuple[dict, dict] | tuple[None, None]:
    data = curve(name)
    return (data, data["params"]) if data else (None, None)


def ddim_sweep(spec: str, seed: int, spacing: str):
    """Page 2's (series, floor) when shipped for these settings, else None."""
    data, p = _params("ddim_quality")
    if data is None or (p["model"], p["seed"], p["spacing"]) != (spec, seed, spacing):
        return None
    return {k: tuple(v) for k, v in data["series"].items()}, data["floor"]


def solver_errors(oracle: str, spacing: str) -> dict[str, list[tuple[int, float]]] | None:
    """Page 3's error curves {solver: [(NFE, RMS error)]} when shipped for these settings."""
    data, p = _params("solver_error")
    if data is None or (p["oracle"], p["spacing"]) != (oracle, spacing):
        return None
    return {k: [tuple(pt) for pt in v] for k, v in data["curves"].items()}


def digits_curve(key: str, seed: int = 0) -> tuple[list[int], list[float]] | None:
    """Page 7's FD curve of a sampler on the teacher, or of "pd" / "cd", when shipped."""
    data, p = _params("digits_fd")
    if data is None or p["seed"] != seed or key not in data["curves"]:
        return None
    pts = data["curves"][key]
    return [int(a) for a, _ in pts], [float(b) for _, b in pts]


def compare(spec: str, seed: int) -> dict | None:
    """Page 6's curves {method: (NFE, sliced W2)}, floor and table when shipped; methods
    are sampler names, "pd", "cd" and "ct"."""
    data, p = _params("compare")
    if data is None or (p["model"], p["seed"]) != (spec, seed):
        return None
    return data


def fewstep(dataset: str, seed: int) -> dict | None:
    """Pages 4 and 5: {"pd": {...}, "cm_table": [...]} when shipped for these settings."""
    data, p = _params("fewstep")
    if data is None or (p["dataset"], p["seed"]) != (dataset, seed):
        return None
    return data


def compare_series(spec: str, seed: int, targets: dict[str, str]):
    """Page 6's (series, floor) for ``targets`` (label -> a sampler name, "pd" or a shipped
    consistency model's spec) when shipped for these settings; None otherwise, or when a
    target is a model trained in this session."""
    data = compare(spec, seed)
    if data is None or any(t.startswith("session:") for t in targets.values()):
        return None
    series = {}
    for label, target in targets.items():
        key = target if target in data["curves"] else target.rsplit("-", 1)[-1]
        if key not in data["curves"]:
            return None
        xs, ys = data["curves"][key]
        if xs:
            series[label] = (xs, ys)
    return series, data["floor"]
