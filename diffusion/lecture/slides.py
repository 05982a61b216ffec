"""A slide's figure, computed from the library: the same function serves the app's
present mode and the browser-free export.

Each figure kind names the ``diffusion.figures`` builder it fills and the fields a
sequence file gives it (``KINDS``). Sizes are small (1,000 points, 64 particles for
error curves) so a slide is computed in about a second on a laptop CPU; results are
kept in a small in-process cache, so walking back and forth is instant.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "check_figure",
    "error_curve",
    "error_orders",
    "figure_for",
    "quality_label",
    "slide_figure",
]

_REQUIRED = object()


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return v

    return check


def _float(lo: float, hi: float) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise ValueError(f"must be a number from {lo:g} to {hi:g}")
        return float(v)

    return check


def _choice(options: Callable[[], tuple[str, ...]]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        valid = options()
        if v not in valid:
            raise ValueError(f"is {v!r}; choose one of {', '.join(valid)}")
        return v

    return check


def _list(item: Callable[[Any], Any], lo: int = 1, hi: int = 12) -> Callable[[Any], list]:
    def check(v: Any) -> list:
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            raise ValueError(f"must be a list of {lo} to {hi} entries")
        return [item(e) for e in v]

    return check


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("must be a non-empty string")
    return v


def _samplers() -> tuple[str, ...]:
    import diffusion

    return tuple(sorted(diffusion.REGISTRY))


def _spacings() -> tuple[str, ...]:
    from diffusion.grids import SPACINGS

    return tuple(SPACINGS)


@functools.cache
def _models() -> tuple[str, ...]:
    """Every 2-D model a slide may name: the exact oracles, then the shipped models."""
    import diffusion
    from diffusion.toy.datasets import DATASETS, ORACLE_DATASETS

    shipped = [m["name"] for m in diffusion.list_models() if m.get("dataset") in DATASETS]
    return tuple(f"oracle:{d}" for d in ORACLE_DATASETS) + tuple(shipped)


@functools.cache
def _image_models() -> tuple[str, ...]:
    """The shipped image models (the image track's digits)."""
    import diffusion
    from diffusion.toy.datasets import DATASETS

    return tuple(
        m["name"]
        for m in diffusion.list_models()
        if m.get("dataset") and m.get("dataset") not in DATASETS
    )


def _oracles() -> tuple[str, ...]:
    return tuple(m for m in _models() if m.startswith("oracle:"))


def _fewstep_datasets() -> tuple[str, ...]:
    """2-D datasets with a shipped teacher, progressive-distillation rounds and CD/CT models."""
    names = set(_models())
    return tuple(
        sorted(
            m.split("-pd@")[0]
            for m in names
            if m.endswith("-pd@1steps") and m.split("-pd@")[0] in names
        )
    )


_MODEL = _choice(_models)
_SAMPLER = _choice(_samplers)
_SPACING = _choice(_spacings)
_STEPS = _int(1, 1000)


def _record(fields: dict[str, Any]) -> Callable[[Any], dict]:
    def check(v: Any) -> dict:
        return _check_fields(v, fields)

    return check


_RUN = {  # one sampler run: a panel of a samples figure, a series of a quality figure
    "model": (_MODEL, None),
    "sampler": (_SAMPLER, _REQUIRED),
    "steps": (_STEPS, None),
    "spacing": (_SPACING, None),
    "eta": (_float(0.0, 1.0), None),
    "label": (_text, None),
}

KINDS: dict[str, dict[str, tuple[Callable[[Any], Any], Any]]] = {
    # figures.samples_grid: panels side by side from the same x_T
    "samples": {
        "panels": (
            _list(
                _record({**_RUN, "model": (_MODEL, _REQUIRED), "steps": (_STEPS, _REQUIRED)}), 1, 4
            ),
            _REQUIRED,
        ),
        "n": (_int(100, 3000), 1000),
        "seed": (_int(0, 10_000), 0),
    },
    # figures.schedule_timesteps: where each spacing evaluates the model
    "grids": {
        "model": (_MODEL, "oracle:8gaussians"),
        "steps": (_int(2, 100), _REQUIRED),
        "spacings": (_list(_SPACING, 1, 7), _REQUIRED),
    },
    # figures.error_vs_nfe: the solvers page's error curves and asymptotic orders
    "error_vs_nfe": {
        "model": (_choice(_oracles), "oracle:8gaussians"),
        "solvers": (_list(_SAMPLER, 1, 6), _REQUIRED),
        "spacing": (_SPACING, "logsnr"),
    },
    # figures.quality_curves: sliced Wasserstein-2 against NFE
    "quality": {
        "model": (_MODEL, "8gaussians"),
        "series": (_list(_record({**_RUN, "steps": (_STEPS, None)}), 1, 5), _REQUIRED),
        "steps": (_list(_STEPS, 2, 8), _REQUIRED),
        "n": (_int(200, 2000), 1000),
    },
    # figures.quality_curves of a page's shipped curve (assets/curves/, diffusion.precomputed)
    "shipped_quality": {
        "curve": (_choice(lambda: tuple(_SHIPPED_QUALITY)), _REQUIRED),
        "series": (_list(_text, 1, 6), _REQUIRED),
    },
    # figures.heun_step: Euler predictor and Heun corrector for one particle
    "heun_step": {
        "model": (_choice(_oracles), "oracle:8gaussians"),
        "spacing": (_SPACING, "logsnr"),
        "steps": (_int(3, 10), 4),
        "index": (_int(0, 8), 0),
        "particle": (_int(0, 63), 3),
    },
    # figures.two_steps_vs_one: a PD student's one step against its teacher's two
    "two_steps_vs_one": {
        "dataset": (_choice(_fewstep_datasets), "8gaussians"),
        "steps": (_choice(lambda: ("1", "2", "4", "8", "16", "32", "64")), _REQUIRED),
        "index": (_int(0, 63), 0),
        "seed": (_int(0, 10_000), 0),
    },
    # image grids side by side from the same x_T (the image track's page)
    "images": {
        "panels": (
            _list(
                _record(
                    {
                        **_RUN,
                        "model": (_choice(_image_models), _REQUIRED),
                        "steps": (_STEPS, _REQUIRED),
                    }
                ),
                1,
                4,
            ),
            _REQUIRED,
        ),
        "n": (_int(4, 36), 16),
        "seed": (_int(0, 10_000), 0),
    },
    # figures.consistency_property: CD/CT outputs along one exact ODE path
    "consistency_property": {
        "dataset": (_choice(_fewstep_datasets), "8gaussians"),
        "particle": (_int(0, 99), 0),
    },
}


def _check_fields(v: Any, fields: dict[str, tuple[Callable[[Any], Any], Any]]) -> dict:
    from .sequence import LectureError

    if not isinstance(v, dict):
        raise LectureError(f"must be an object with fields {', '.join(fields)}")
    extra = sorted(set(v) - set(fields) - {"kind"})
    if extra:
        raise LectureError(f"unknown field {extra[0]!r}; valid fields: {', '.join(fields)}")
    out: dict[str, Any] = {}
    for key, (check, default) in fields.items():
        if key not in v:
            if default is _REQUIRED:
                raise LectureError(f"field {key!r} is missing")
            if default is not None:
                out[key] = default
            continue
        try:
            out[key] = check(v[key])
        except LectureError as err:
            raise LectureError(f"{key}: {err}") from None
        except ValueError as err:
            raise LectureError(f"field {key!r} {err}") from None
    return out


def check_figure(figure: Any) -> dict[str, Any]:
    """A figure spec with its defaults filled in; LectureError names the bad field."""
    from .sequence import LectureError

    if not isinstance(figure, dict) or figure.get("kind") not in KINDS:
        kind = figure.get("kind") if isinstance(figure, dict) else figure
        raise LectureError(f"'kind' is {kind!r}; choose one of {', '.join(KINDS)}")
    out = _check_fields(figure, KINDS[figure["kind"]])
    if figure["kind"] == "heun_step" and out["index"] > out["steps"] - 2:
        raise LectureError(f"field 'index' must be below steps - 1 = {out['steps'] - 1}")
    return {"kind": figure["kind"], **out}


# ----- computing the figures ----------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _load(spec: str):
    import diffusion

    model = diffusion.load_model(spec)
    if hasattr(model.net, "eval"):
        model.net.eval()
    return model


def _dataset_of(spec: str) -> str:
    import diffusion

    if spec.startswith("oracle:"):
        return spec[7:]
    for m in diffusion.list_models():
        if m["name"] == spec:
            return str(m["dataset"])
    return spec


def _run(run: dict, model: str, steps: int | None, n: int, seed: int):
    import diffusion

    opts = {"eta": run["eta"]} if "eta" in run else {}
    return diffusion.sample(
        _load(run.get("model", model)),
        run["sampler"],
        run.get("steps", steps),
        n=n,
        seed=seed,
        spacing=run.get("spacing"),
        **opts,
    )


def _label(run: dict) -> str:
    if "label" in run:
        return run["label"]
    text = f"{quality_label(run['sampler'])}, {run['steps']} step{'s' if run['steps'] > 1 else ''}"
    return text + (f", {run['spacing']}" if "spacing" in run else "")


def _samples(f: dict, lecture: bool):
    import diffusion
    from diffusion import figures

    panels, subs = {}, {}
    for run in f["panels"]:
        traj = _run(run, run["model"], run["steps"], f["n"], f["seed"])
        label = _label(run)
        panels[label] = traj.x.numpy()
        subs[label] = f"NFE {traj.nfe}"
    dataset = _dataset_of(f["panels"][0]["model"])
    data = diffusion.sample_dataset(dataset, f["n"], seed=1).numpy()
    return figures.samples_grid(panels, data=data, subtitles=subs, lecture=lecture)


def _grids(f: dict, lecture: bool):
    import torch

    import diffusion
    from diffusion import figures

    sch = _load(f["model"]).schedule
    t = torch.arange(sch.T, dtype=torch.float64)
    grids = {s: diffusion.make_timesteps(sch, f["steps"], s).numpy() for s in f["spacings"]}
    return figures.schedule_timesteps(
        t.numpy(), sch.alpha_bar(t).numpy(), sch.lambda_(t).numpy(), grids, lecture=lecture
    )


@functools.lru_cache(maxsize=8)
def _shipped_errors(oracle: str, spacing: str) -> dict[str, tuple]:
    """The solvers page's shipped error curves (assets/curves/solver_error.json) when they
    were computed for this oracle and spacing; empty when missing or damaged."""
    from diffusion import precomputed

    try:
        data = precomputed.load("solver_error")
    except (OSError, ValueError):
        return {}
    p = data["params"]
    if (p["oracle"], p["spacing"]) != (oracle, spacing):
        return {}
    return {k: tuple((int(a), float(b)) for a, b in v) for k, v in data["curves"].items()}


@functools.lru_cache(maxsize=8)
def _exact(oracle: str):
    from diffusion import demos, precomputed

    x_T = demos.particles(precomputed.ERROR_PARTICLES, precomputed.ERROR_SEED)
    return demos.exact_solution(_load(oracle), x_T)


@functools.lru_cache(maxsize=64)
def error_curve(oracle: str, sampler: str, spacing: str) -> tuple[tuple[int, float], ...]:
    """(NFE, RMS error) of ``sampler`` on the exact ``oracle``, exactly as the solvers page
    draws it: the shipped curve when there is one for these settings, else
    ``diffusion.demos.solver_error_curve`` on the page's particles (DPM-Solver, Lu et al.
    2022, Fig. 3)."""
    from diffusion import demos, precomputed

    shipped = _shipped_errors(oracle, spacing)
    if sampler in shipped:
        return shipped[sampler]
    x_T = demos.particles(precomputed.ERROR_PARTICLES, precomputed.ERROR_SEED)
    return tuple(demos.solver_error_curve(_load(oracle), sampler, spacing, x_T, _exact(oracle)))


def error_orders(f: dict) -> dict[str, float | None]:
    """Each solver's order fitted over the asymptotic range ``metrics.ASYMPTOTIC_NFE``
    (``diffusion.demos.measured_order``, as the solvers page's legend)."""
    from diffusion import demos

    return {
        name: demos.measured_order(list(error_curve(f["model"], name, f["spacing"])))
        for name in f["solvers"]
    }


def _error_vs_nfe(f: dict, lecture: bool):
    import plotly.graph_objects as go

    from diffusion import figures
    from diffusion.metrics import ASYMPTOTIC_NFE
    from diffusion.samplers import REGISTRY

    series, orders = {}, {}
    measured = error_orders(f)
    for name in f["solvers"]:
        pts = error_curve(f["model"], name, f["spacing"])
        label = REGISTRY[name].label
        series[label] = ([p[0] for p in pts], [p[1] for p in pts])
        if measured[name] is not None:
            orders[label] = measured[name]
    fig = figures.error_vs_nfe(series, orders=orders, lecture=lecture)
    lo, hi = ASYMPTOTIC_NFE
    errors = [e for _, ev in series.values() for e in ev if e > 0]
    y0, y1 = min(errors) / 2, max(errors) * 2
    band = go.Scatter(
        x=[lo, hi, hi, lo, lo],
        y=[y0, y0, y1, y1, y0],
        mode="lines",
        fill="toself",
        fillcolor="rgba(136, 136, 136, 0.15)",
        line={"width": 0},
        hoverinfo="skip",
        legendrank=2000,
        name=f"orders fitted over NFE {lo}-{hi}",
    )
    fig.add_trace(band)
    fig.data = (fig.data[-1], *fig.data[:-1])  # drawn beneath the curves, listed last
    return fig


def _quality(f: dict, lecture: bool):
    """Sliced W2 against steps for settings no page ships, through the calls behind the
    shipped curves (``precomputed.sample_2d``, ``precomputed.quality_2d``)."""
    from diffusion import figures, precomputed

    series, floor = {}, None
    for run in f["series"]:
        model = run.get("model", f["model"])
        values = []
        opts = {"eta": run["eta"]} if "eta" in run else {}
        for steps in f["steps"]:
            x = precomputed.sample_2d(
                _load(model), run["sampler"], steps, f["n"], 0, run.get("spacing"), opts
            )[0]
            q = precomputed.quality_2d(x, _dataset_of(model), 0)
            values.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        label = run.get("label") or (
            quality_label(run["sampler"]) + (f", {run['spacing']}" if "spacing" in run else "")
        )
        series[label] = (list(f["steps"]), values)
    return figures.quality_curves(
        series,
        metric=f"sliced W2 ({f['n']:,} points)",
        x_label="steps",
        floor=floor,
        lecture=lecture,
    )


_SHIPPED_QUALITY = {"ddim_quality": ("series", "steps"), "compare": ("curves", "NFE")}
"""Shipped quality curves a slide may show: the file's table of series, and its x axis."""


def quality_label(key: str) -> str:
    """The page's legend name of a shipped curve's series: a sampler's registry label,
    the few-step models by method (shipped CT models are iCT/ECT), else the key itself."""
    from diffusion.samplers import REGISTRY

    if key in REGISTRY:
        return REGISTRY[key].label
    return {"pd": "progressive distillation", "cd": "CD", "ct": "iCT/ECT"}.get(key, key)


def _shipped_quality(f: dict, lecture: bool):
    """Sliced W2 (Bonneel et al. 2015) against cost exactly as the page shows it by
    default: the shipped curve of ``diffusion.precomputed`` (a one-line error if absent)."""
    from diffusion import figures, precomputed

    from .sequence import LectureError

    table, x_label = _SHIPPED_QUALITY[f["curve"]]
    try:
        data = precomputed.load(f["curve"])
    except (OSError, ValueError) as err:
        raise LectureError(f"shipped curve {f['curve']!r}: {err}") from None
    missing = [k for k in f["series"] if k not in data[table]]
    if missing:
        raise LectureError(
            f"shipped curve {f['curve']!r} has no series {missing[0]!r}; "
            f"choose from {', '.join(data[table])}"
        )
    series = {quality_label(k): tuple(data[table][k]) for k in f["series"]}
    n = data["params"]["n"]
    return figures.quality_curves(
        series,
        metric=f"sliced W2 ({n:,} points)",
        x_label=x_label,
        floor=data["floor"],
        lecture=lecture,
    )


def _heun_step(f: dict, lecture: bool):
    """Heun's predictor and corrector for one particle (EDM, Karras et al. 2022, Alg. 1),
    by ``diffusion.demos.heun_step_picture`` on the solvers page's particles."""
    from diffusion import demos, figures, precomputed

    x_T = demos.particles(precomputed.ERROR_PARTICLES, precomputed.ERROR_SEED)
    x_T = x_T[f["particle"] : f["particle"] + 1]
    return figures.heun_step(
        *demos.heun_step_picture(_load(f["model"]), x_T, f["steps"], f["spacing"], f["index"]),
        lecture=lecture,
    )


def _two_steps_vs_one(f: dict, lecture: bool):
    """Progressive distillation (Salimans & Ho 2022, Alg. 2): the student's one DDIM step
    against its parent's two, by ``diffusion.demos.two_teacher_steps_vs_one`` from the
    progressive page's noised data point."""
    import torch

    import diffusion
    from diffusion import demos, figures

    k, ds = int(f["steps"]), f["dataset"]
    parent = f"{ds}-pd@{2 * k}steps"
    parent = parent if parent in _models() else ds
    x0 = diffusion.sample_dataset(ds, 8, seed=f["seed"] + 99)[:1]
    noise = torch.randn(1, 2, generator=torch.Generator().manual_seed(f["seed"]))
    picture = demos.two_teacher_steps_vs_one(
        _load(parent), _load(f"{ds}-pd@{k}steps"), k, min(f["index"], k - 1), x0, noise
    )
    return figures.two_steps_vs_one(*picture, lecture=lecture)


def _consistency_property(f: dict, lecture: bool):
    """The consistency property f(x_t, t) = x_0 along one exact PF-ODE path (Song et al.
    2023, eq. 2) for the shipped CD and iCT/ECT models, and the diffusion model's x0-hat,
    by ``diffusion.demos.consistency_along_path`` on the consistency page's particles."""
    import torch

    from diffusion import demos, figures

    ds = f["dataset"]
    x_T = torch.randn((100, 2), generator=torch.Generator().manual_seed(0))
    x_T = x_T[f["particle"] : f["particle"] + 1]
    named = {
        "CD: f(x_t, t)": _load(f"{ds}-cd"),
        "iCT/ECT: f(x_t, t)": _load(f"{ds}-ct"),
        "diffusion model: x0-hat": _load(ds),
    }
    return figures.consistency_property(
        *demos.consistency_along_path(_load(ds), named, x_T), lecture=lecture
    )


def _images(f: dict, lecture: bool):
    """Samples of image models as square tiles, one panel per run, grey heat maps."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from diffusion import figures

    labels = [_label(run) for run in f["panels"]]
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=labels, horizontal_spacing=0.04)
    for j, run in enumerate(f["panels"]):
        traj = _run(run, run["model"], run["steps"], f["n"], f["seed"])
        x = traj.x.numpy()[:, 0]  # (n, H, W), about [-1, 1]
        cols = int(np.ceil(np.sqrt(len(x))))
        rows = int(np.ceil(len(x) / cols))
        h, w = x.shape[1:]
        tile = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for k, img in enumerate(x):
            r, c = divmod(k, cols)
            tile[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = img
        fig.add_trace(
            go.Heatmap(
                z=np.clip(tile[::-1], -1, 1),
                zmin=-1,
                zmax=1,
                colorscale="gray",
                showscale=False,
                hoverinfo="skip",
            ),
            row=1,
            col=j + 1,
        )
    fig.update_xaxes(visible=False, constrain="domain")
    for j in range(len(labels)):
        a = "" if j == 0 else str(j + 1)
        fig.update_layout(
            {f"yaxis{a}": {"visible": False, "scaleanchor": f"x{a}", "constrain": "domain"}}
        )
    return figures.style(fig, lecture=lecture, height=380)


_BUILDERS = {
    "samples": _samples,
    "grids": _grids,
    "error_vs_nfe": _error_vs_nfe,
    "quality": _quality,
    "shipped_quality": _shipped_quality,
    "heun_step": _heun_step,
    "two_steps_vs_one": _two_steps_vs_one,
    "consistency_property": _consistency_property,
    "images": _images,
}


@functools.lru_cache(maxsize=64)
def _cached(spec_json: str, lecture: bool):
    import torch

    spec = json.loads(spec_json)
    with torch.no_grad():
        return _BUILDERS[spec["kind"]](spec, lecture)


def figure_for(spec: dict[str, Any], *, lecture: bool = True, height: int | None = None):
    """The plotly figure of a checked figure spec (``check_figure``); a fresh copy each
    call, so the caller may restyle it."""
    import plotly.graph_objects as go

    fig = go.Figure(_cached(json.dumps(spec, sort_keys=True), lecture))
    if height is not None:
        fig.update_layout(height=height)
    return fig


def slide_figure(slide, *, lecture: bool = True, height: int | None = None):
    """The plotly figure of one slide (a ``sequence.Slide``)."""
    return figure_for(slide.figure, lecture=lecture, height=height)
