"""The curves and tables the pages show by default, computed once and shipped.

``scripts/precompute_curves.py`` runs every function in ``CURVES`` at the pages' default
settings and writes one small JSON file per curve under ``assets/curves/``, plus a
manifest holding, for each, the command, the seed, the code version and the file's
sha256. The *code version* is a sha256 of the library sources the result depends on,
taken over their syntax trees without docstrings, so reformatting or editing prose
leaves it unchanged while a change to the code marks the asset stale (``stale()``).

Each computation mirrors the page's own live path (``ui.models.run_model``: x_T from
``seed``, the sampler's noise from ``seed + 1``), so "recompute live" on a page and
the shipped file agree up to floating-point noise. Quality is the sliced Wasserstein-2
distance of ``diffusion.metrics.evaluate_2d`` (Bonneel et al. 2015) on 2-D data and the
Frechet distance in a digit classifier's features (Heusel et al. 2017, eq. 6) on images.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from .grids import DEFAULT_SPACING

ROOT = Path(__file__).resolve().parent.parent
CURVES_DIR = ROOT / "assets" / "curves"
MANIFEST = CURVES_DIR / "manifest.json"
FORMAT = 1

DEFAULT_MODEL = "8gaussians"
SEED = 0
SWEEP_STEPS = (5, 10, 20, 50, 100)
SWEEP_POINTS = 2000
QUALITY_POINTS = 2000
ERROR_PARTICLES = 64
ERROR_SEED = 7
SOLVERS = (
    "ddim",
    "euler",
    "heun",
    "dpm-solver-1",
    "dpm-solver-2",
    "dpm-solver-3",
    "dpm-solver++2m",
    "dpm-solver++3m",
    "dpm-solver++2s",
    "unipc",
)
DIGITS_SAMPLERS = ("ddim", "euler", "heun", "dpm-solver++2m", "dpm-solver++3m", "unipc")
DIGITS_NFE = (2, 4, 8)
DIGITS_N = 200
COMPARE_BUDGETS = (1, 2, 4, 8, 16, 32, 64)
COMPARE_TABLE = (
    ("DDIM", "ddim", 10),
    ("DDIM", "ddim", 50),
    ("DPM-Solver++", "dpm-solver++2m", 10),
    ("DPM-Solver++", "dpm-solver++2m", 20),
    ("Original DDPM", "ddpm", 1000),
)

_CORE = [
    "diffusion/samplers/*.py",
    "diffusion/grids.py",
    "diffusion/schedules.py",
    "diffusion/model.py",
    "diffusion/nets.py",
    "diffusion/checkpoints.py",
    "diffusion/precomputed.py",
]
_2D = [*_CORE, "diffusion/metrics.py", "diffusion/toy/*.py"]
SOURCES: dict[str, list[str]] = {
    "ddim_quality": _2D,
    "solver_error": [
        *_CORE,
        "diffusion/oracle.py",
        "diffusion/reference.py",
        "diffusion/demos.py",
        "diffusion/toy/*.py",
    ],
    "digits_fd": [*_CORE, "diffusion/images/*.py"],
    "compare": _2D,
    "fewstep": _2D,
}
"""Per curve, the library files (globs from the project root) its numbers depend on."""


# ----- code version ----------------------------------------------------------------------
def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def source_files(globs: Iterable[str], root: Path = ROOT) -> list[Path]:
    """The files the globs name; a glob that names none is an error, so a moved or deleted
    module cannot silently drop out of a curve's code version."""
    found = {}
    for g in globs:
        files = [p for p in root.glob(g) if p.is_file()]
        if not files:
            raise ValueError(f"source glob {g!r} matches no file under {root}")
        found.update(dict.fromkeys(files))
    return sorted(found)


def code_version(globs: Iterable[str], root: Path = ROOT) -> str:
    """sha256 over the files' syntax trees without docstrings (first 16 hex digits)."""
    h = hashlib.sha256()
    for path in source_files(globs, root):
        tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(ast.dump(tree, include_attributes=False).encode() + b"\0")
    return h.hexdigest()[:16]


# ----- sampling as the pages do it ----------------------------------------------------------
def load_model(spec: str):
    """A shipped model or ``oracle:<dataset>``, as ``ui.models.load`` builds it."""
    if spec.startswith("oracle:"):
        from .oracle import oracle_model
        from .schedules import linear_schedule
        from .toy.datasets import gaussian_mixture

        model = oracle_model(gaussian_mixture(spec[7:]), linear_schedule(), name=spec)
        model.sample_shape = (2,)
        return model
    from .checkpoints import load_model as load

    model = load(spec)
    if hasattr(model.net, "eval"):
        model.net.eval()
    return model


def sample_2d(
    model,
    sampler: str,
    steps: int,
    n: int,
    seed: int,
    spacing: str | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, int, int]:
    """(samples (n, 2), NFE, number of timesteps) of one ``diffusion.samplers.sample`` run,
    the call behind every page's samples (``ui.models.run_model``)."""
    from .samplers import sample

    with torch.no_grad():
        traj = sample(model, sampler, steps, n=n, seed=seed, spacing=spacing, **(options or {}))
    return traj.x.detach().float(), int(traj.nfe), len(traj.timesteps)


def quality_2d(x: torch.Tensor, dataset: str, seed: int) -> dict[str, float]:
    from .metrics import evaluate_2d

    return {k: float(v) for k, v in evaluate_2d(x, dataset, seed=seed).items()}


def _fewstep(dataset: str) -> tuple[dict[int, str], dict[str, str]]:
    """The shipped PD students {steps: name} and consistency models {method: name}."""
    from .checkpoints import list_models

    pd, cm = {}, {}
    for m in list_models():
        if str(m.get("dataset")) != dataset:
            continue
        if m.get("kind") == "pd-student":
            found = re.search(r"@(\d+)steps$", m["name"])
            steps = int(m.get("steps") or (found.group(1) if found else 0))
            if steps:
                pd[steps] = m["name"]
        elif m.get("kind") == "consistency":
            cm[str(m.get("method") or m["name"].rsplit("-", 1)[-1])] = m["name"]
    return pd, cm


# ----- the curves ------------------------------------------------------------------------------
def ddim_quality(
    spec: str = DEFAULT_MODEL,
    seed: int = SEED,
    spacing: str = DEFAULT_SPACING,
    steps: Iterable[int] = SWEEP_STEPS,
    n: int = SWEEP_POINTS,
    etas: Iterable[float] = (0.0, 0.5, 1.0),
    ddpm: bool = True,
) -> dict:
    """Page 2: sliced W2 against steps for DDIM at each eta (Song et al. 2021, eq. 16)
    and DDPM with the beta variance; and the data-vs-data floor at n points."""
    from .samplers import REGISTRY

    model, dataset = load_model(spec), _dataset(spec)
    runs = [(f"DDIM eta = {e:g}", "ddim", {"eta": float(e)}) for e in etas]
    if ddpm and "ddpm" in REGISTRY:
        runs.append(("DDPM (beta)", "ddpm", {"variance": "beta"}))
    series, floor = {}, float("nan")
    steps = list(steps)
    for label, name, opts in runs:
        vals = []
        for s in steps:
            q = quality_2d(sample_2d(model, name, s, n, seed, spacing, opts)[0], dataset, seed)
            vals.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        series[label] = [steps, vals]
    return {
        "params": {"model": spec, "seed": seed, "spacing": spacing, "n": n},
        "series": series,
        "floor": floor,
    }


def solver_error(
    oracle: str = f"oracle:{DEFAULT_MODEL}",
    spacing: str = "logsnr",
    solvers: Iterable[str] = SOLVERS,
) -> dict:
    """Page 3: RMS error of each solver against a float64 adaptive solve of the same
    probability-flow ODE (Song et al. 2021b, eq. 13) on an exact oracle, against NFE
    (``diffusion.demos.solver_error_curve``, as the page computes it)."""
    from . import demos
    from .samplers import REGISTRY

    model = load_model(oracle)
    x_T = demos.particles(ERROR_PARTICLES, ERROR_SEED)
    exact = demos.exact_solution(model, x_T)
    curves = {}
    for name in solvers:
        if name in REGISTRY:
            pts = demos.solver_error_curve(model, name, spacing, x_T, exact)
            curves[name] = [[int(a), float(b)] for a, b in pts]
    return {
        "params": {
            "oracle": oracle,
            "spacing": spacing,
            "particles": ERROR_PARTICLES,
            "seed": ERROR_SEED,
        },
        "curves": curves,
    }


def digits_fd(
    samplers: Iterable[str] = DIGITS_SAMPLERS,
    nfes: Iterable[int] = DIGITS_NFE,
    n: int = DIGITS_N,
    seed: int = SEED,
    few_step: bool = True,
) -> dict:
    """Page 7: FD-n of the digits teacher with each sampler at each NFE, the PD students
    up to the largest NFE (Salimans & Ho 2022) and the CD model at 1, 2, 4 steps."""
    from .images.digits import digits_metrics
    from .images.sampling import load_any, sample_images
    from .samplers import get_sampler

    nfes = list(nfes)
    cache: dict[str, Any] = {}

    def point(spec: str, sampler: str, steps: int) -> list:
        model = cache.setdefault(spec, load_any(spec))
        few = model.config.get("kind") in ("pd-student", "consistency")  # their own grid
        x, nfe = sample_images(
            model, sampler, steps, n=n, seed=seed, spacing=None if few else "trailing"
        )[:2]
        return [int(nfe), float(digits_metrics(x)["fd"])]

    curves = {}
    for name in samplers:
        fits = [get_sampler(name).steps_for_nfe(k) for k in nfes]
        curves[name] = sorted(point("digits", name, k) for k in fits if k is not None)
    if few_step:
        pd, cm = _fewstep("digits")
        curves["pd"] = sorted(point(spec, "ddim", s) for s, spec in pd.items() if s <= max(nfes))
        if "cd" in cm:
            curves["cd"] = sorted(point(cm["cd"], "consistency", k) for k in (1, 2, 4))
    return {"params": {"n": n, "seed": seed, "nfe": nfes}, "curves": curves}


def _compare_run(
    spec: str,
    pd: dict[int, str],
    cm: dict[str, str],
    model_cache: dict,
    method: str,
    budget: int,
    n: int,
    seed: int,
):
    """One method of the compare page at (at most) ``budget`` NFE, or None."""
    from .samplers import REGISTRY

    def get(name: str):
        return model_cache.setdefault(name, load_model(name))

    if method in REGISTRY:
        sp = REGISTRY[method]
        steps = max([s for s in range(1, budget + 1) if sp.nfe(s) <= budget], default=0)
        if steps == 0:
            return None
        return sample_2d(get(spec), method, steps, n, seed, DEFAULT_SPACING)
    if method == "pd":
        fits = [s for s in pd if s <= budget]
        return sample_2d(get(pd[max(fits)]), "ddim", max(fits), n, seed) if fits else None
    return sample_2d(get(cm[method]), "consistency", min(budget, 4), n, seed)


def compare(
    spec: str = DEFAULT_MODEL,
    seed: int = SEED,
    methods: Iterable[str] = (*SOLVERS, "ddpm", "pd", "cd", "ct"),
    budgets: Iterable[int] = COMPARE_BUDGETS,
    n: int = QUALITY_POINTS,
    table: bool = True,
) -> dict:
    """Page 6: quality against NFE per method from the same x_T, and the chapter's
    comparison table (training-free solvers and the few-step models) measured here."""
    from .samplers import REGISTRY

    dataset = _dataset(spec)
    pd, cm = _fewstep(dataset)
    cache: dict = {}
    curves, floor = {}, float("nan")
    for method in methods:
        if method not in REGISTRY and method != "pd" and method not in cm:
            continue
        xs, ys = [], []
        for b in budgets:
            r = _compare_run(spec, pd, cm, cache, method, b, n, seed)
            if r is None or r[1] in xs:
                continue
            q = quality_2d(r[0], dataset, seed)
            xs.append(r[1])
            ys.append(q["sliced_w2"])
            floor = q["floor_sliced_w2"]
        curves[method] = [xs, ys]
    rows = []
    if table:
        model = cache.setdefault(spec, load_model(spec))
        for label, name, steps in COMPARE_TABLE:
            if name not in REGISTRY:
                continue
            t0 = time.perf_counter()
            x, nfe, _ = sample_2d(
                model, name, steps, n, seed, DEFAULT_SPACING if name != "ddpm" else "leading"
            )
            ms = (time.perf_counter() - t0) * 1e3
            rows.append(
                {
                    "method": label,
                    "steps": steps,
                    "NFE": nfe,
                    "retraining?": "no",
                    "sliced W2": round(quality_2d(x, dataset, seed)["sliced_w2"], 4),
                    "wall time (ms)": round(ms, 1),
                }
            )
        for method, budgets_ in (("pd", (4, 8)), *((m, (1, 2)) for m in sorted(cm))):
            if method == "pd" and not pd:
                continue
            for b in budgets_:
                t0 = time.perf_counter()
                r = _compare_run(spec, pd, cm, cache, method, b, n, seed)
                ms = (time.perf_counter() - t0) * 1e3
                if r is None:
                    continue
                label = (
                    "progressive distillation"
                    if method == "pd"
                    else f"consistency ({method.upper()})"
                )
                rows.append(
                    {
                        "method": label,
                        "steps": r[2],
                        "NFE": r[1],
                        "retraining?": "yes",
                        "sliced W2": round(quality_2d(r[0], dataset, seed)["sliced_w2"], 4),
                        "wall time (ms)": round(ms, 1),
                    }
                )
    return {
        "params": {"model": spec, "dataset": dataset, "seed": seed, "n": n},
        "curves": curves,
        "floor": floor,
        "table": rows,
    }


def fewstep(
    dataset: str = DEFAULT_MODEL,
    seed: int = SEED,
    n: int = QUALITY_POINTS,
    max_steps: int = 64,
    cm_steps: Iterable[int] = (1, 2),
) -> dict:
    """Pages 4 and 5: each PD student against DDIM on its teacher at the same NFE
    (Salimans & Ho 2022, Fig. 4), and CD against CT at 1 and 2 steps (Song et al. 2023,
    Algorithm 1)."""
    pd, cm = _fewstep(dataset)
    teacher = load_model(dataset)
    ladder = sorted(s for s in pd if s <= max_steps)
    student, ddim, floor = [], [], float("nan")
    for s in ladder:
        student.append(
            quality_2d(sample_2d(load_model(pd[s]), "ddim", s, n, seed)[0], dataset, seed)[
                "sliced_w2"
            ]
        )
        q = quality_2d(sample_2d(teacher, "ddim", s, n, seed, "trailing")[0], dataset, seed)
        ddim.append(q["sliced_w2"])
        floor = q["floor_sliced_w2"]
    rows = []
    for method in sorted(cm):
        model = load_model(cm[method])
        for s in cm_steps:
            q = quality_2d(sample_2d(model, "consistency", s, n, seed)[0], dataset, seed)
            rows.append(
                {
                    "model": method.upper(),
                    "steps": s,
                    "sliced W2": round(q["sliced_w2"], 4),
                    "data-vs-data floor": round(q["floor_sliced_w2"], 4),
                    "MMD": f"{q['mmd']:.2e}",
                }
            )
    return {
        "params": {"dataset": dataset, "seed": seed, "n": n},
        "pd": {"steps": ladder, "student": student, "ddim": ddim, "floor": floor},
        "cm_table": rows,
    }


def _dataset(spec: str) -> str:
    if spec.startswith("oracle:"):
        return spec[7:]
    from .checkpoints import list_models

    for m in list_models():
        if m["name"] == spec and m.get("dataset"):
            return str(m["dataset"])
    return spec.split("-")[0].split("@")[0]


CURVES: dict[str, Callable[[], dict]] = {
    "ddim_quality": ddim_quality,
    "solver_error": solver_error,
    "digits_fd": digits_fd,
    "compare": compare,
    "fewstep": fewstep,
}


# ----- files ----------------------------------------------------------------------------------
def read_manifest(directory: Path = CURVES_DIR) -> dict:
    path = directory / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {"format": FORMAT, "curves": {}}


def write(
    name: str,
    result: dict,
    *,
    command: str,
    seed: int = SEED,
    directory: Path = CURVES_DIR,
    root: Path = ROOT,
) -> Path:
    """One curve's JSON file and its manifest entry (command, seed, code version, sha256)."""
    if name not in SOURCES:
        raise ValueError(f"unknown curve {name!r}; choose one of {', '.join(SOURCES)}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    path.write_text(text)
    manifest = read_manifest(directory)
    manifest["curves"][name] = {
        "file": path.name,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "command": command,
        "seed": seed,
        "code_version": code_version(SOURCES[name], root),
        "sources": SOURCES[name],
        "torch": torch.__version__,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return path


def load(name: str, directory: Path = CURVES_DIR) -> dict:
    """A shipped curve, checked against its manifest's sha256 (ValueError if it differs)."""
    entry = read_manifest(directory)["curves"].get(name)
    if entry is None:
        raise FileNotFoundError(
            f"no shipped curve {name!r} in {directory}; run scripts/precompute_curves.py"
        )
    raw = (directory / entry["file"]).read_bytes()
    if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
        raise ValueError(f"{directory / entry['file']} does not match its manifest sha256")
    return json.loads(raw)


def stale(directory: Path = CURVES_DIR, root: Path = ROOT) -> dict[str, str]:
    """Curves whose code version differs from the code now: name -> why."""
    out = {}
    curves = read_manifest(directory)["curves"]
    for name, globs in SOURCES.items():
        entry = curves.get(name)
        if entry is None:
            out[name] = "missing"
        elif entry["code_version"] != code_version(globs, root):
            out[name] = (
                f"computed with code version {entry['code_version']}, the code is now "
                f"{code_version(globs, root)}"
            )
    return out
