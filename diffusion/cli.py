"""The command line: ``python -m diffusion <command> ...`` (reference: docs/cli.md).

Commands: describe, data, train, sample, evaluate, bench, list; plus the
sub-commands that other parts of the package plug in (``distill``, ``images ...``)
through a ``register(subparsers)`` function in their own ``cli`` module.

Bad input never produces a traceback: a handler raises ValueError (or
FileNotFoundError, NonFiniteError, DivergedError) with a message that names the
problem and the valid choices, and ``main`` prints it as one ``error: ...`` line on
stderr and returns exit code 2. Every number is parsed against the bounds of
``diffusion.limits`` while the command line is read, before any model is loaded or
memory allocated. Output files are written atomically (``diffusion.io``), and the
target is checked (not a link, a folder that accepts a new file) before any work
starts; a failed or terminated (SIGTERM) command leaves no file or folder behind.
A closed output pipe (``list models | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .limits import LIMITS, MAX_SAMPLE_FLOATS, float_option, int_option

__all__ = ["EXIT_BAD_INPUT", "build_parser", "describe_model", "main"]

EXIT_BAD_INPUT = 2

# Sub-CLIs owned by other parts of the package; each module has register(subparsers).
PLUGINS = ("diffusion.distill.cli", "diffusion.images.cli", "diffusion.lecture.cli")


class UsageError(Exception):
    """A command line that argparse could not parse."""


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help line ends with its default, unless the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.required or action.default is argparse.SUPPRESS:
            return text
        if action.option_strings and action.nargs == 0:  # a flag
            return text + " (default: off)"
        if action.option_strings and action.default is not None:
            return text + " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits; we want one 'error: ...' line.
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see: {self.prog} --help)")


# ----- helpers shared by the handlers ------------------------------------------------


def _check_out(path: str, option: str = "--out") -> Path:
    """Fail before any work when the output file cannot be written (diffusion.io)."""
    from .io import check_output_file

    return check_output_file(path, option)


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _check_dataset(name: str) -> str:
    from .toy.datasets import DATASETS

    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return name


def _load_model(spec: str):
    """The checkpoint loader, with any failure to read a checkpoint turned into a
    ValueError naming the model (its config is validated before a network is built)."""
    from .checkpoints import load_model

    try:
        return load_model(spec)
    except UnicodeDecodeError as e:
        raise ValueError(f"cannot load model {spec!r}: a file is not UTF-8 text") from e
    except (ValueError, FileNotFoundError):
        raise
    except Exception as e:  # a corrupt file can fail in the parser, torch or safetensors
        raise ValueError(f"cannot load model {spec!r}: {type(e).__name__}: {e}") from e


def _load_array(path: str, what: str, key: str | None = None) -> np.ndarray:
    """An array from a .npy file, or ``key`` of a .npz file, never unpickling."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file {path!r} not found")
    try:
        data = np.load(p, allow_pickle=False)
    except Exception:  # never suggest allow_pickle: a pickle is refused, not "unsafe"
        raise ValueError(
            f"cannot read {what} file {path!r}: not a NumPy .npy/.npz file "
            "(pickled objects are never loaded)"
        ) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if key is None or key not in data.files:
                raise ValueError(
                    f"{what} file {path!r} has no array {key!r}; it holds {', '.join(data.files)}"
                )
            return data[key]
    return data


def _sampler_accepts(fn, option: str) -> bool:
    params = inspect.signature(fn).parameters
    return option in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class _Progress:
    """A tqdm-like progress line on stderr without tqdm: redrawn in place on a
    terminal, one line per tenth of the run otherwise (logs stay readable)."""

    def __init__(self, total: int, label: str, quiet: bool = False) -> None:
        self.total, self.label, self.quiet = total, label, quiet
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.last_tenth = -1
        self.tty = sys.stderr.isatty()

    def __call__(self, step: int, loss: float) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        frac = step / self.total
        line = (
            f"{self.label} {step}/{self.total} [{frac:4.0%}] loss {loss:.4f} "
            f"{elapsed:.1f}s ({step / max(elapsed, 1e-9):.0f} it/s)"
        )
        if self.tty:
            if now - self.last_draw > 0.1 or step == self.total:
                sys.stderr.write("\r" + line)
                sys.stderr.flush()
                self.last_draw = now
        elif int(frac * 10) > self.last_tenth:
            self.last_tenth = int(frac * 10)
            sys.stderr.write(line + "\n")

    def close(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


class _StopOnInterrupt:
    """The first Ctrl-C asks training to stop after the current step (the model
    trained so far is then saved); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        self.requested = True
        sys.stderr.write("\nstopping after this step; press Ctrl-C again to abort\n")
        signal.signal(signal.SIGINT, self.previous)

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# ----- describe ------------------------------------------------------------------------


def describe_model(model, spec: str = "") -> dict:
    """Everything a script needs to know about a model: its schedule (alpha_bar for
    every integer t), prediction type, sample shape, config, and for the analytic
    oracle the Gaussian mixture (weights, means, covariances)."""
    from .oracle import GaussianMixture

    sch = model.schedule
    info: dict = {
        "model": spec or model.name,
        "name": model.name,
        "prediction": model.prediction,
        "sample_shape": list(model.sample_shape),
        "schedule": {
            "name": sch.name,
            "T": sch.T,
            "alpha_bar": sch.alphas_cumprod.tolist(),
        },
    }
    if model.config:
        info["config"] = model.config
    gmm = getattr(model.net, "gmm", None)
    if isinstance(gmm, GaussianMixture):
        info["kind"] = "oracle"
        info["mixture"] = gmm.to_dict()
    return info


def cmd_describe(args: argparse.Namespace) -> int:
    info = describe_model(_load_model(args.model), args.model)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    sch = info["schedule"]
    abar = sch["alpha_bar"]
    print(f"model       {info['model']}")
    print(f"prediction  {info['prediction']}")
    print(f"shape       {tuple(info['sample_shape'])}")
    print(
        f"schedule    {sch['name']}, T={sch['T']}, "
        f"alpha_bar[0]={abar[0]:.6g}, alpha_bar[T-1]={abar[-1]:.6g}"
    )
    if "mixture" in info:
        mix = info["mixture"]
        print(f"mixture     {len(mix['weights'])} Gaussian components in {len(mix['means'][0])}-D")
    for key, value in (info.get("config") or {}).items():
        if key not in ("sha256",):
            print(f"  {key}: {value}")
    return 0


# ----- data ----------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    from .io import save_npy
    from .toy.datasets import sample_dataset

    _check_dataset(args.dataset)
    out = _check_out(args.out)
    x = sample_dataset(args.dataset, args.n, args.seed)
    save_npy(out, x.detach().cpu().numpy().astype(np.float32))
    print(f"wrote {out} ({args.n} points of {args.dataset}, seed {args.seed})", file=sys.stderr)
    return 0


# ----- train ---------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoints import save_checkpoint
    from .io import check_output_dir
    from .toy.train2d import DEFAULT_HPARAMS, train_toy

    _check_dataset(args.dataset)
    out_dir = check_output_dir(args.out)

    hparams = {}
    for key in ("batch_size", "width", "depth", "lr"):
        if getattr(args, key) is not None:
            hparams[key] = getattr(args, key)
    width = hparams.get("width", DEFAULT_HPARAMS["width"])
    depth = hparams.get("depth", DEFAULT_HPARAMS["depth"])
    params = depth * width * (width + DEFAULT_HPARAMS["emb_dim"] + 1)
    if params > LIMITS["params"].hi:
        raise ValueError(
            f"--width {width} with --depth {depth} gives about {params:,} parameters; "
            f"at most {int(LIMITS['params'].hi):,} allowed"
        )
    progress = _Progress(args.steps, f"train {args.dataset}", quiet=args.quiet)
    with _StopOnInterrupt() as stop:
        try:
            model, result = train_toy(
                args.dataset,
                steps=args.steps,
                seed=args.seed,
                callback=progress,
                should_stop=stop,
                max_seconds=args.max_seconds,
                **hparams,
            )
        finally:
            progress.close()

    # The folder is created only now, so a failed run leaves nothing behind.
    from .io import make_output_dir

    make_output_dir(out_dir)
    stem = out_dir / "model"
    config = dict(model.config)
    config.setdefault("kind", "diffusion")
    config.setdefault("dataset", args.dataset)
    config.setdefault("prediction", model.prediction)
    config.setdefault("schedule", {"name": model.schedule.name, "T": model.schedule.T})
    training = dict(config.get("training") or {})
    for key, value in (
        ("steps", result.steps),
        ("seconds", round(result.seconds, 2)),
        ("seed", args.seed),
        *hparams.items(),
    ):
        training.setdefault(key, value)
    training["stopped_early"] = result.stopped
    config["training"] = training
    save_checkpoint(str(stem), result.net, config)
    print(
        f"trained {args.dataset} for {result.steps} steps in {result.seconds:.1f}s; "
        f"saved {stem}.safetensors (use --model {stem})",
        file=sys.stderr,
    )
    return 0


# ----- sample --------------------------------------------------------------------------


def cmd_sample(args: argparse.Namespace) -> int:
    """Check the request, draw the samples, write them with what made them."""
    import torch

    from .io import save_npz
    from .samplers import sample

    out = _check_out(args.out)
    name, options = _sampler_options(args)
    model = _load_model(args.model)
    T = model.schedule.T
    if not 1 <= args.steps <= T:
        raise ValueError(f"--steps must be between 1 and T={T}, got {args.steps}")
    x_T, n = _starting_noise(args, tuple(model.sample_shape))

    # No autograd graph: a loaded network may still have trainable parameters.
    with torch.no_grad():
        traj = sample(
            model,
            args.sampler,
            args.steps,
            n=n,
            seed=args.seed,
            spacing=args.spacing,
            order=args.order,
            x_T=x_T,
            **options,
        )
    arrays = _sample_arrays(args, model, name, traj)
    save_npz(out, **arrays)
    print(
        f"wrote {out}: {n} samples, {name}, {len(traj.timesteps)} steps, NFE {traj.nfe}",
        file=sys.stderr,
    )
    _warn_about_choices(args, model, name, str(arrays["spacing"]))
    return 0


def _sampler_options(args: argparse.Namespace) -> tuple[str, dict]:
    """The sampler's registry name and the options given for it; refuses a spacing it
    does not know and an option the sampler does not take."""
    from .grids import SPACINGS
    from .samplers import REGISTRY, resolve_sampler

    name = resolve_sampler(args.sampler, args.order)
    spec = REGISTRY[name]
    if args.spacing is not None and args.spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {args.spacing!r}; choose one of {', '.join(SPACINGS)}")
    if args.order is not None and not _takes_order(spec):
        raise ValueError(
            f"--order does not apply to sampler {name}; it applies to dpm-solver, "
            "dpm-solver++ and unipc"
        )
    options: dict = {}
    if args.eta is not None:
        if not _sampler_accepts(spec.fn, "eta"):
            raise ValueError(f"--eta does not apply to sampler {name}; it applies to ddim")
        options["eta"] = args.eta
    if args.variance is not None:
        if not _sampler_accepts(spec.fn, "variance"):
            raise ValueError(f"--variance does not apply to sampler {name}; it applies to ddpm")
        options["variance"] = args.variance
    return name, options


def _starting_noise(args: argparse.Namespace, shape: tuple[int, ...]):
    """The given starting noise x_T (or None) and the number of samples, within the
    output size limit."""
    import torch

    x_T = None
    n = args.n
    if args.x_T is not None:
        arr = _load_array(args.x_T, "--x-T", key="x_T")
        if arr.ndim != 1 + len(shape) or tuple(arr.shape[1:]) != shape:
            raise ValueError(
                f"--x-T has shape {tuple(arr.shape)}; this model needs (n, "
                f"{', '.join(map(str, shape))})"
            )
        if n is not None and arr.shape[0] != n:
            raise ValueError(f"--x-T holds {arr.shape[0]} points but --n is {n}")
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
            raise ValueError("--x-T must hold finite floating-point numbers")
        x_T = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        n = arr.shape[0]
    n = _positive("--n", 2000 if n is None else n)
    per_sample = math.prod(shape) * (2 * args.steps + 2 if args.trajectory else 1)
    if n * per_sample > MAX_SAMPLE_FLOATS:
        raise ValueError(
            f"--n {n} samples of shape {shape}{' with --trajectory' if args.trajectory else ''} "
            f"would hold {n * per_sample:,} floats; at most {MAX_SAMPLE_FLOATS:,} "
            f"(--n up to {MAX_SAMPLE_FLOATS // per_sample:,})"
        )
    return x_T, n


def _sample_arrays(args: argparse.Namespace, model, name: str, traj) -> dict:
    """What the .npz holds: the samples, their grid and how they were made."""
    from .grids import model_timesteps

    arrays = {
        "x": traj.x.detach().cpu().numpy(),
        "timesteps": traj.timesteps.detach().cpu().numpy(),
        "nfe": np.int64(traj.nfe),
        "sampler": np.str_(name),
        "model": np.str_(args.model),
        "seed": np.int64(args.seed),
        "spacing": np.str_(model_timesteps(model, args.steps, args.spacing)[1]),
    }
    if args.trajectory:
        arrays["xs"] = traj.xs.detach().cpu().numpy()
        arrays["x0_preds"] = traj.x0_preds.detach().cpu().numpy()
    return arrays


def _warn_about_choices(args: argparse.Namespace, model, name: str, used: str) -> None:
    """Advice on the sampler, steps and spacing used; none for a few-step model's own
    grid ('model'), which is what it was made for."""
    from .grids import SPACINGS

    if used not in SPACINGS:
        return
    from .advice import warnings_for

    pred = None if args.model.startswith("oracle:") else model.prediction
    for msg in warnings_for(name, args.steps, used, T=model.schedule.T, prediction=pred):
        print(f"warning: {msg}", file=sys.stderr)


# ----- evaluate ------------------------------------------------------------------------


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .metrics import evaluate_2d

    _check_dataset(args.dataset)
    x = _load_array(args.samples, "samples", key="x")
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] < 2:
        raise ValueError(f"samples must have shape (n >= 2, 2) for a 2-D dataset, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
        raise ValueError(f"samples in {args.samples!r} are not all finite numbers")
    if x.shape[0] > LIMITS["n"].hi:
        raise ValueError(f"samples hold {x.shape[0]:,} points; at most {int(LIMITS['n'].hi):,}")
    out = _check_out(args.out) if args.out else None
    metrics = evaluate_2d(
        torch.from_numpy(x.astype(np.float32)), args.dataset, n_ref=args.n_ref, seed=args.seed
    )
    metrics = {
        k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in metrics.items()
    }
    if out is not None:
        from .io import write_json

        write_json(out, metrics)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:16s} {value:.6g}" if isinstance(value, float) else f"{key:16s} {value}")
    return 0


# ----- bench ---------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import SECTIONS, run_bench

    sections = args.section or list(SECTIONS)
    for s in sections:
        if s not in SECTIONS:
            raise ValueError(f"unknown bench section {s!r}; choose one of {', '.join(SECTIONS)}")
    _check_out(args.out)
    statuses = run_bench(sections, quick=args.quick, out=args.out, log=sys.stderr)
    for name, status in statuses.items():
        print(f"bench: section {name}: {status}", file=sys.stderr)
    return 1 if any(s.startswith("failed") for s in statuses.values()) else 0


# ----- list ----------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "samplers":
        from .samplers import REGISTRY

        for name, spec in sorted(REGISTRY.items()):
            kind = "stochastic" if spec.stochastic and not spec.order else f"order {spec.order}"
            print(f"{name:16s} {spec.label:24s} {kind:12s} {spec.citation}")
    elif args.what == "datasets":
        from .toy.datasets import DATASETS, ORACLE_DATASETS

        for name in DATASETS:
            print(f"{name:16s} {'exact oracle' if name in ORACLE_DATASETS else ''}".rstrip())
    elif args.what == "spacings":
        from .grids import SPACINGS

        print("\n".join(SPACINGS))
    else:
        from .checkpoints import BROKEN_MANIFESTS, list_models

        for entry in list_models():
            name, kind = entry.get("name", ""), entry.get("kind", "")
            print(f"{name:24s} {kind:12s} {entry.get('description', '')}")
        for manifest, reason in BROKEN_MANIFESTS.items():  # the others are listed above
            print(f"warning: skipped part of {manifest}: {reason[:300]}", file=sys.stderr)
    return 0


# ----- the parser ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m diffusion",
        description="Accelerated sampling of diffusion models: data, training, sampling, metrics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("describe", help="a model's schedule, prediction type and (oracle) mixture")
    p.add_argument(
        "--model", required=True, help="oracle:<dataset>, a shipped name or a checkpoint path"
    )
    p.add_argument("--json", action="store_true", help="print JSON (alpha_bar for every t)")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("data", help="draw points of a 2-D dataset into a .npy file")
    p.add_argument("--dataset", required=True, help="a 2-D dataset (list datasets)")
    p.add_argument("--n", type=int_option("n"), default=2000, help="number of points")
    p.add_argument("--seed", type=int_option("seed"), default=0, help="random seed")
    p.add_argument(
        "--out", required=True, help="FILE.npy, (n, 2) float32; missing folders are created"
    )
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train a 2-D denoiser and save it as a checkpoint")
    from .toy.train2d import DEFAULT_HPARAMS as HP

    p.add_argument("--dataset", required=True, help="a 2-D dataset (list datasets)")
    p.add_argument(
        "--out",
        required=True,
        help="folder, created when training succeeds (missing parents too); the "
        "checkpoint is DIR/model.{safetensors,json}",
    )
    p.add_argument("--steps", type=int_option("train_steps"), default=3000, help="optimiser steps")
    p.add_argument("--seed", type=int_option("seed"), default=0, help="random seed")
    p.add_argument(
        "--batch-size",
        type=int_option("batch_size"),
        default=None,
        help=f"training batch (default: the recipe's {HP['batch_size']})",
    )
    p.add_argument(
        "--lr",
        type=float_option("lr"),
        default=None,
        help=f"Adam learning rate (default: the recipe's {HP['lr']})",
    )
    p.add_argument(
        "--width",
        type=int_option("width"),
        default=None,
        help=f"hidden units of the MLP (default: {HP['width']})",
    )
    p.add_argument(
        "--depth",
        type=int_option("depth"),
        default=None,
        help=f"hidden layers of the MLP (default: {HP['depth']})",
    )
    p.add_argument(
        "--max-seconds",
        type=float_option("max_seconds"),
        default=None,
        help="stop early after this wall time and save (default: no limit)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="run a sampler and save the samples (and trajectory) as .npz")
    p.add_argument(
        "--model", required=True, help="oracle:<dataset>, a shipped name or a checkpoint path"
    )
    p.add_argument(
        "--sampler", required=True, help="a registry name (python -m diffusion list samplers)"
    )
    p.add_argument(
        "--order",
        type=int_option("order"),
        default=None,
        help="solver order for dpm-solver / dpm-solver++ / unipc (default: the highest)",
    )
    p.add_argument(
        "--steps", type=int_option("sampler_steps"), required=True, help="timesteps (1..T)"
    )
    p.add_argument(
        "--spacing",
        default=None,
        help="timestep spacing (list spacings; default: the grid a few-step model was made "
        "for, else trailing, diffusion.grids.DEFAULT_SPACING)",
    )
    p.add_argument(
        "--eta",
        type=float_option("eta"),
        default=None,
        help="DDIM stochasticity in [0, 1] (default: 0, the ODE)",
    )
    p.add_argument(
        "--variance",
        default=None,
        choices=("beta", "beta_tilde"),
        help="DDPM variance (default: the sampler's, beta_tilde)",
    )
    p.add_argument(
        "--n",
        type=int_option("n"),
        default=None,
        help="number of samples (default: 2000, or as many as --x-T holds)",
    )
    p.add_argument("--seed", type=int_option("seed"), default=0, help="random seed of x_T")
    p.add_argument(
        "--x-T",
        dest="x_T",
        default=None,
        help="initial noise, a .npy of shape (n, *D) (default: drawn from --seed)",
    )
    p.add_argument("--out", required=True, help="FILE.npz; missing folders are created")
    p.add_argument("--trajectory", action="store_true", help="also save xs and x0_preds")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="2-D metrics of samples against fresh data")
    p.add_argument("--samples", required=True, help="a .npz from 'sample' (array x) or a .npy")
    p.add_argument("--dataset", required=True, help="the 2-D dataset the samples imitate")
    p.add_argument(
        "--n-ref",
        type=int_option("n_ref"),
        default=None,
        help="reference points (default: as many as the samples)",
    )
    p.add_argument(
        "--seed", type=int_option("seed"), default=0, help="seed of the fresh reference data"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--out", default=None, help="also write the metrics to this JSON file (default: none)"
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="run the benchmarks and write BENCHMARKS.md")
    p.add_argument(
        "--section",
        action="append",
        default=None,
        help="core, fewstep, app or images; repeatable (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="small budgets, for a smoke run")
    p.add_argument("--out", default="BENCHMARKS.md", help="the report to update")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("list", help="list samplers, datasets, spacings or shipped models")
    p.add_argument(
        "what", choices=("samplers", "datasets", "spacings", "models"), help="what to list"
    )
    p.set_defaults(func=cmd_list)

    for module in PLUGINS:
        plugin = _find_plugin(module)
        if plugin is not None:
            plugin.register(sub)
    return parser


def _find_plugin(module: str):
    """Import a sub-CLI module if it exists. Only its absence is tolerated: an
    ImportError raised inside an existing module propagates."""
    package = module.rsplit(".", 1)[0]
    if importlib.util.find_spec(package) is None or importlib.util.find_spec(module) is None:
        return None
    return importlib.import_module(module)


def _takes_order(spec) -> bool:
    from .samplers.base import _ORDER_ALIASES

    family = {n for orders in _ORDER_ALIASES.values() for n in orders.values()}
    return spec.name in family or _sampler_accepts_named(spec.fn, "order")


def _sampler_accepts_named(fn, option: str) -> bool:
    return option in inspect.signature(fn).parameters


def _say(message: str) -> None:
    """One 'error: ...' line on stderr, the message on one line and at most 400 characters."""
    text = " ".join(str(message).split())
    if len(text) > 400:
        text = text[:397] + "..."
    with contextlib.suppress(OSError, ValueError):
        print(f"error: {text}", file=sys.stderr)


def _quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): send the rest nowhere, silently."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 2 bad input, 1 failed benchmark,
    130 interrupted, 143 terminated, 141 output pipe closed)."""
    from . import io
    from .model import NonFiniteError
    from .training import DivergedError

    ok = False
    with io.terminate_cleanly():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            code = int(args.func(args) or 0)
            sys.stdout.flush()
            ok = code == 0
            return code
        except SystemExit as e:  # --help, or SIGTERM (143) through io.terminate_cleanly
            code = e.code if isinstance(e.code, int) else 0
            if code == 143:
                _say("terminated (SIGTERM); partial output removed")
            ok = code == 0
            return code
        except BrokenPipeError:
            _quiet_stdout()
            return 141
        except (UsageError, ValueError, OSError, NonFiniteError, DivergedError) as e:
            _say(str(e) or type(e).__name__)
            return EXIT_BAD_INPUT
        except MemoryError:
            _say("out of memory; use smaller sizes (docs/cli.md, Limits)")
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            _say("interrupted")
            return 130
        except Exception as e:  # a bug: still one line, never a traceback
            if os.environ.get("DIFFUSION_DEBUG"):
                raise
            _say(f"internal error {type(e).__name__}: {e} (set DIFFUSION_DEBUG=1 for details)")
            return 1
        finally:
            if ok:
                io.forget_created()
            else:
                io.cleanup()
