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

__all__ = ["KINDS", "check_figure", "slide_figure", "figure_for"]

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

    return tuple(m["name"] for m in diffusion.list_models()
                 if m.get("dataset") and m.get("dataset") not in DATASETS)


def _oracles() -> tuple[str, ...]:
    return tuple(m for m in _models() if m.startswith("oracle:"))


def _fewstep_datasets() -> tuple[str, ...]:
    """2-D datasets with a shipped teacher, progressive-distillation rounds and CD/CT models."""
    names = set(_models())
    return tuple(sorted(m.split("-pd@")[0] for m in names
                        if m.endswith("-pd@1steps") and m.split("-pd@")[0] in names))


_MODEL = _choice(_models)
_SAMPLER = _choice(_samplers)
_SPACING = _choice(_spacings)
_STEPS = _int(1, 1000)


def _record(fields: dict[str, Any]) -> Callable[[Any], dict]:
    def check(v: Any) -> dict:
        return _check_fields(v, fields)
    return check


_RUN = {  # one sampler run: a panel of a samples figure, a series of a quality figure
    "model": (_MODEL, None), "sampler": (_SAMPLER, _REQUIRED), "steps": (_STEPS, None),
    "spacing": (_SPACING, None), "eta": (_float(0.0, 1.0), None), "label": (_text, None),
}

KINDS: dict[str, dict[str, tuple[Callable[[Any], Any], Any]]] = {
    # figures.samples_grid: panels side by side from the same x_T
    "samples": {
        "panels": (_list(_record({**_RUN, "model": (_MODEL, _REQUIRED),
                                  "steps": (_STEPS, _REQUIRED)}), 1, 4), _REQUIRED),
        "n": (_int(100, 3000), 1000), "seed": (_int(0, 10_000), 0),
    },
    # figures.schedule_timesteps: where each spacing evaluates the model
    "grids": {
        "model": (_MODEL, "oracle:8gaussians"), "steps": (_int(2, 100), _REQUIRED),
        "spacings": (_list(_SPACING, 1, 7), _REQUIRED),
    },
    # figures.error_vs_nfe: RMS error against the exact ODE solution on an oracle
    "error_vs_nfe": {
        "model": (_choice(_oracles), "oracle:8gaussians"),
        "solvers": (_list(_SAMPLER, 1, 6), _REQUIRED), "spacing": (_SPACING, "logsnr"),
        "steps": (_list(_int(1, 64), 2, 10), [2, 3, 4, 6, 8, 12, 16]),
    },
    # figures.quality_curves: sliced Wasserstein-2 against NFE
    "quality": {
        "model": (_MODEL, "8gaussians"),
        "series": (_list(_record({**_RUN, "steps": (_STEPS, None)}), 1, 5), _REQUIRED),
        "steps": (_list(_STEPS, 2, 8), _REQUIRED), "n": (_int(200, 2000), 1000),
    },
    # figures.heun_step: Euler predictor and Heun corrector for one particle
    "heun_step": {
        "model": (_choice(_oracles), "oracle:8gaussians"), "spacing": (_SPACING, "logsnr"),
        "steps": (_int(3, 10), 4), "index": (_int(0, 8), 0), "particle": (_int(0, 63), 3),
    },
    # figures.two_steps_vs_one: a PD student's one step against its teacher's two
    "two_steps_vs_one": {
        "dataset": (_choice(_fewstep_datasets), "8gaussians"),
        "steps": (_choice(lambda: ("1", "2", "4", "8", "16", "32", "64")), _REQUIRED),
        "index": (_int(0, 63), 0), "seed": (_int(0, 10_000), 0),
    },
    # image grids side by side from the same x_T (the image track's page)
    "images": {
        "panels": (_list(_record({**_RUN, "model": (_choice(_image_models), _REQUIRED),
                                  "steps": (_STEPS, _REQUIRED)}), 1, 4), _REQUIRED),
        "n": (_int(4, 36), 16), "seed": (_int(0, 10_000), 0),
    },
    # figures.consistency_property: CD/CT outputs along one exact ODE path
    "consistency_property": {
        "dataset": (_choice(_fewstep_datasets), "8gaussians"), "particle": (_int(0, 99), 0),
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
    return diffusion.sample(_load(run.get("model", model)), run["sampler"],
                            run.get("steps", steps), n=n, seed=seed, spacing=run.get("spacing"),
                            **opts)


def _label(run: dict) -> str:
    if "label" in run:
        return run["label"]
    text = f"{run['sampler']}, {run['steps']} step{'s' if run['steps'] > 1 else ''}"
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
    return figures.schedule_timesteps(t.numpy(), sch.alpha_bar(t).numpy(),
                                      sch.lambda_(t).numpy(), grids, lecture=lecture)


_PARTICLES = 64


def _x_T():
    import torch

    return torch.randn((_PARTICLES, 2), generator=torch.Generator().manual_seed(7),
                       dtype=torch.float64)


def _error_vs_nfe(f: dict, lecture: bool):
    import diffusion
    from diffusion import figures
    from diffusion.metrics import fit_order

    model = _load(f["model"])
    exact = diffusion.reference_solve(model, _x_T(), rtol=1e-9, atol=1e-9)
    series, orders = {}, {}
    for name in f["solvers"]:
        pts = []
        for steps in f["steps"]:
            traj = diffusion.sample(model, name, steps, n=_PARTICLES, seed=0, spacing=f["spacing"],
                                    x_T=_x_T(), dtype=exact.dtype)
            err = float(((traj.x - exact) ** 2).sum(-1).mean().sqrt())
            pts.append((traj.nfe, err))
        series[name] = ([p[0] for p in pts], [p[1] for p in pts])
        good = [p for p in pts if p[1] > 1e-9][-4:]
        if len(good) >= 2:
            orders[name] = fit_order([p[0] for p in good], [p[1] for p in good])
    return figures.error_vs_nfe(series, orders=orders, lecture=lecture)


def _quality(f: dict, lecture: bool):
    import diffusion
    from diffusion import figures

    series, floor = {}, None
    for run in f["series"]:
        model = run.get("model", f["model"])
        values = []
        for steps in f["steps"]:
            traj = _run({**run, "steps": steps}, model, steps, f["n"], 0)
            q = diffusion.evaluate_2d(traj.x, _dataset_of(model), n_ref=f["n"], mmd_points=200)
            values.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        label = run.get("label") or (run["sampler"] + (f", {run['spacing']}"
                                                       if "spacing" in run else ""))
        series[label] = (list(f["steps"]), values)
    return figures.quality_curves(series, metric=f"sliced W2 ({f['n']:,} points)",
                                  x_label="steps", floor=floor, lecture=lecture)


def _heun_step(f: dict, lecture: bool):
    import diffusion
    from diffusion import figures

    model = _load(f["model"])
    ts = diffusion.make_timesteps(model.schedule, f["steps"], f["spacing"]).tolist()
    i = f["index"]
    x_T = _x_T()[f["particle"]:f["particle"] + 1]
    x_i = diffusion.reference_trajectory(model, x_T, [ts[i]])[0] if i else x_T
    x_eu, x_he = figures.heun_points(model, x_i, ts[i], ts[i + 1])
    path = diffusion.reference_trajectory(model, x_i, np.linspace(ts[i], ts[i + 1], 40),
                                          t_start=ts[i])[:, 0]
    return figures.heun_step(x_i[0].numpy(), x_eu[0].numpy(), x_he[0].numpy(), path.numpy(),
                             lecture=lecture)


def _two_steps_vs_one(f: dict, lecture: bool):
    """Progressive distillation (Salimans & Ho 2022, Alg. 2): the student's one DDIM step
    t -> t'' against its teacher's two steps t -> t' -> t''."""
    import torch

    import diffusion
    from diffusion import figures

    k, ds = int(f["steps"]), f["dataset"]
    student = _load(f"{ds}-pd@{k}steps")
    teacher_name = f"{ds}-pd@{2 * k}steps"
    teacher = _load(teacher_name if teacher_name in _models() else ds)
    grid = diffusion.sample(student, "ddim", k, n=1, seed=0).timesteps.tolist()
    t_grid = diffusion.sample(teacher, "ddim", 2 * k, n=1, seed=0).timesteps.tolist()
    i = min(f["index"], k - 1)
    t0, t1 = grid[i], t_grid[2 * i + 1]
    t2 = grid[i + 1] if i + 1 < k else -1.0
    sch = student.schedule
    g = torch.Generator().manual_seed(f["seed"])
    x0 = diffusion.sample_dataset(ds, 1, seed=f["seed"] + 99)
    x_t = float(sch.alpha(t0)) * x0 + float(sch.sigma(t0)) * torch.randn(1, 2, generator=g)
    x_1 = figures.ddim_step(teacher, x_t, t0, t1)
    x_2 = figures.ddim_step(teacher, x_1, t1, t2)
    x_s = figures.ddim_step(student, x_t, t0, t2)
    path = torch.cat([x_t, x_1, x_2]).numpy()
    return figures.two_steps_vs_one(x_t[0].numpy(), path, x_s[0].numpy(), lecture=lecture)


def _consistency_property(f: dict, lecture: bool):
    """The consistency property f(x_t, t) = x_0 along one exact PF-ODE path (Song et al.
    2023, eq. 2) for the shipped CD and CT models, and the diffusion model's x0-hat."""
    import torch

    import diffusion
    from diffusion import figures

    ds = f["dataset"]
    base = _load(ds)
    ts = np.unique(np.concatenate([np.geomspace(1, base.schedule.T - 1, 24), [0.0]]))[::-1]
    x_T = torch.randn((100, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_T = x_T[f["particle"]:f["particle"] + 1]
    path = diffusion.reference_trajectory(base, x_T, ts.tolist())[:, 0]
    outs = {}
    with torch.no_grad():
        for label, spec in (("CD: f(x_t, t)", f"{ds}-cd"), ("CT: f(x_t, t)", f"{ds}-ct"),
                            ("diffusion model: x0-hat", ds)):
            m = _load(spec)
            outs[label] = np.stack([m.predict(p[None].float(), float(t)).x0[0].double().numpy()
                                    for p, t in zip(path, ts, strict=True)])
    return figures.consistency_property(ts.copy(), path.numpy(), outs, lecture=lecture)


def _images(f: dict, lecture: bool):
    """Samples of image models as square tiles, one panel per run, grey heat maps."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from diffusion import figures

    labels = [_label(run) for run in f["panels"]]
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=labels,
                        horizontal_spacing=0.04)
    for j, run in enumerate(f["panels"]):
        traj = _run(run, run["model"], run["steps"], f["n"], f["seed"])
        x = traj.x.numpy()[:, 0]  # (n, H, W), about [-1, 1]
        cols = int(np.ceil(np.sqrt(len(x))))
        rows = int(np.ceil(len(x) / cols))
        h, w = x.shape[1:]
        tile = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for k, img in enumerate(x):
            r, c = divmod(k, cols)
            tile[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = img
        fig.add_trace(go.Heatmap(z=np.clip(tile[::-1], -1, 1), zmin=-1, zmax=1,
                                 colorscale="gray", showscale=False, hoverinfo="skip"),
                      row=1, col=j + 1)
    fig.update_xaxes(visible=False, constrain="domain")
    for j in range(len(labels)):
        a = "" if j == 0 else str(j + 1)
        fig.update_layout({f"yaxis{a}": {"visible": False, "scaleanchor": f"x{a}",
                                         "constrain": "domain"}})
    return figures.style(fig, lecture=lecture, height=380)


_BUILDERS = {
    "samples": _samples, "grids": _grids, "error_vs_nfe": _error_vs_nfe, "quality": _quality,
    "heun_step": _heun_step, "two_steps_vs_one": _two_steps_vs_one,
    "consistency_property": _consistency_property, "images": _images,
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
