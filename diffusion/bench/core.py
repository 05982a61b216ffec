"""Core benchmark section: the 2-D engine on this machine.

1. Training one swiss-roll model to quality: wall time of ``train_toy`` and the
   sliced W2 of its samples against the data-vs-data floor (target: within 1.5x of
   the floor in <= 15 s).
2. Sampling 2,000 points through ``diffusion.samplers.sample`` (what the CLI and
   the app call): DDIM 10 and 50 steps, DPM-Solver++(2M) 10 steps, DDPM 1000 steps.
3. Sampler overhead: each training-free sampler against the same number of bare
   network calls on the same batch, interleaved (target ratio <= 1.10).
4. The same network driven by diffusers' scheduler loop (set_timesteps, then
   scale_model_input / net / step per evaluation) at the same NFE: our time over theirs.

Models: the shipped ``swissroll`` checkpoint when present, else the model trained in 1.
"""

from __future__ import annotations

import inspect
import os
import statistics
import sys
import time

import torch

from .common import (
    interleaved_medians,
    machine_info,
    md_table,
    median_time,
    paired_ratio,
    steady_allocator,
    torch_threads,
)

N_POINTS = 2000
TRAIN_TARGET_S = 15.0
QUALITY_FACTOR = 1.5
OVERHEAD_TARGET = 1.10
# The quick swiss-roll recipe of docs/toy.md: width 64, depth 4, batch 512, 2,000
# steps; other options at diffusion.toy.train2d.DEFAULT_HPARAMS. (The shipped model
# trains longer, 3,000 steps at batch 1,024, for margin.)
FULL_TRAIN_STEPS = 2000
TRAIN_HPARAMS = {"width": 64, "depth": 4, "batch_size": 512}
TRAIN_THREADS = 1  # the 2-D MLP trains faster on one thread than on two (as in the app)

# (label, sampler, steps, spacing, target seconds)
SAMPLING_ROWS = [
    ("DDIM, 10 steps", "ddim", 10, "leading", 0.1),
    ("DDIM, 50 steps", "ddim", 50, "leading", 0.3),
    ("DPM-Solver++(2M), 10 steps", "dpm-solver++2m", 10, "logsnr", 0.1),
    ("DDPM, 1000 steps", "ddpm", 1000, "leading", 4.0),
]

# (our sampler, diffusers scheduler class, its config, steps, our spacing that matches it)
DIFFUSERS_ROWS = [
    ("ddim", "DDIMScheduler", {"clip_sample": False, "set_alpha_to_one": True}, 10, "leading"),
    (
        "dpm-solver++2m",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        10,
        "linspace",
    ),
    (
        "dpm-solver++3m",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 3},
        10,
        "linspace",
    ),
    ("euler", "EulerDiscreteScheduler", {}, 10, "linspace"),
    ("heun", "HeunDiscreteScheduler", {}, 10, "linspace"),
    ("ddpm", "DDPMScheduler", {"clip_sample": False}, 100, "leading"),
]


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def _note(what: str) -> None:
    print(f"bench core: {time.strftime('%H:%M:%S')} {what} ...", file=sys.stderr, flush=True)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _verdict(ok: bool) -> str:
    return "pass" if ok else "**fail**"


def _registered(name: str) -> bool:
    from ..samplers import REGISTRY

    return name in REGISTRY


def _quality(model, seed: int) -> dict:
    """evaluate_2d of 2,000 samples drawn with a fine DDIM grid, so the metric
    measures the model rather than the sampler's discretisation error."""
    from ..metrics import evaluate_2d
    from ..samplers import sample

    with torch.no_grad():
        x = sample(model, "ddim", 200, n=N_POINTS, seed=seed, spacing="trailing").x
    return evaluate_2d(x, "swissroll", seed=seed)


def _train_rows(quick: bool) -> tuple[list[list[object]], object, str]:
    from ..toy.train2d import train_toy

    steps = 200 if quick else FULL_TRAIN_STEPS
    # One run per seed; a quality bar is a property of the recipe, so a second seed
    # shows its spread when time allows (full mode).
    seeds = [0] if quick else [0, 1]
    walls, ratios, model = [], [], None
    for seed in seeds:
        t0 = time.perf_counter()
        with torch_threads(TRAIN_THREADS):
            model, _result = train_toy("swissroll", steps=steps, seed=seed, **TRAIN_HPARAMS)
        walls.append(time.perf_counter() - t0)
        q = _quality(model, seed)
        ratios.append(q["sliced_w2"] / q["floor_sliced_w2"])
    wall, ratio = statistics.median(walls), statistics.median(ratios)
    rows = [
        [
            f"train swiss roll, MLP {TRAIN_HPARAMS['width']}x{TRAIN_HPARAMS['depth']}, "
            f"{steps} steps, {TRAIN_THREADS} thread (median of seeds {', '.join(map(str, seeds))})",
            f"<= {TRAIN_TARGET_S:.0f} s",
            _fmt(wall),
            _verdict(wall <= TRAIN_TARGET_S),
        ],
        [
            "its sliced W2 / data-vs-data floor (2,000 points, DDIM 200)",
            f"<= {QUALITY_FACTOR}",
            f"{ratio:.2f} (seeds: {', '.join(f'{r:.2f}' for r in ratios)})",
            _verdict(ratio <= QUALITY_FACTOR),
        ],
    ]
    note = "quick run: a short budget, not expected to reach the quality bar" if quick else ""
    return rows, model, note


def _bench_model(trained):
    """The shipped swissroll model when it exists, else the one just trained."""
    try:
        from ..checkpoints import load_model

        return load_model("swissroll"), "shipped checkpoint `swissroll`"
    except (ImportError, ValueError, FileNotFoundError) as e:
        return trained, f"the model trained above (no shipped swissroll: {e})"


def _sampling_rows(model, quick: bool) -> list[list[object]]:
    from ..samplers import sample

    rows = []
    for label, name, steps, spacing, target in SAMPLING_ROWS:
        if not _registered(name):
            rows.append([label, f"<= {_fmt(target)}", f"sampler {name} not registered", "**fail**"])
            continue
        long_run = steps >= 1000
        repeats = 1 if (quick and long_run) else (3 if quick or long_run else 7)

        def run(name=name, steps=steps, spacing=spacing):
            with torch.no_grad():
                return sample(model, name, steps, n=N_POINTS, seed=0, spacing=spacing)

        t = median_time(run, repeats=repeats, warmup=0 if long_run else 1)
        rows.append([label, f"<= {_fmt(target)}", _fmt(t), _verdict(t <= target)])
    return rows


def _bare_calls(model, run_sampler):
    """The network alone, replaying the calls one sampler run makes: the same inputs
    x_t and times t, captured during a first run and called back to back.

    The replay matters: a network's speed on a CPU depends on its inputs (activations
    that underflow to subnormal floats cost many times a normal multiply), so bare
    calls on other data, such as x_T at every time, do a different amount of work and
    the ratio would charge the network's own data-dependent cost to the sampler.
    """
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []
    net = model.net

    def recording(x, t):
        calls.append((x.clone(), t.clone()))
        return net(x, t)

    model.net = recording
    try:
        run_sampler()
    finally:
        model.net = net

    def run():
        with torch.no_grad():
            for x, t in calls:
                net(x, t)

    return run, len(calls)


def _overhead_rows(model, quick: bool) -> list[list[object]]:
    from ..grids import make_timesteps
    from ..samplers import REGISTRY

    steps, repeats = 10, (3 if quick else 101)  # a 10% bar needs many rounds to be stable
    x_T = torch.randn(N_POINTS, 2, generator=torch.Generator().manual_seed(0))
    timesteps = make_timesteps(model.schedule, steps, "logsnr")
    pairs = []
    for name, spec in sorted(REGISTRY.items()):
        if spec.family != "training-free":
            continue  # few-step samplers need their own models (bench section fewstep)

        def sampler_run(spec=spec):
            with torch.no_grad():
                return spec(model, x_T, timesteps, generator=torch.Generator().manual_seed(1))

        bare, nfe = _bare_calls(model, sampler_run)
        if nfe != spec.nfe(steps):
            raise RuntimeError(f"{name}: {nfe} network calls, its spec says {spec.nfe(steps)}")
        pairs.append((spec, nfe, sampler_run, bare))
    # One untimed pass over every pair first: the first rows measured in a fresh
    # process otherwise read 2-4% higher (caches and clock still settling).
    for _, _, sampler_run, bare in pairs:
        paired_ratio(sampler_run, bare, repeats=3 if quick else 11)
    rows = []
    for spec, nfe, sampler_run, bare in pairs:
        m = paired_ratio(sampler_run, bare, repeats=repeats)
        rows.append(
            [
                f"{spec.label} ({spec.name})",
                nfe,
                _fmt(m["fn"]),
                _fmt(m["peer"]),
                f"{m['ratio']:.3f}",
                f"{m['q1']:.3f} - {m['q3']:.3f}",
                _verdict(m["ratio"] <= OVERHEAD_TARGET),
            ]
        )
    return rows


def _diffusers_loop(model, cls_name: str, config: dict, steps: int, x_T: torch.Tensor):
    """diffusers' scheduler loop around the same network (eps prediction, DDPM linear betas)."""
    import diffusers

    sch = model.schedule
    if sch.name != "linear" or model.prediction != "eps":
        raise ValueError("the diffusers comparison expects a linear-schedule eps model")
    scheduler = getattr(diffusers, cls_name)(
        num_train_timesteps=sch.T,
        beta_start=float(sch.betas[0]),
        beta_end=float(sch.betas[-1]),
        beta_schedule="linear",
        prediction_type="epsilon",
        **config,
    )
    net = model.net
    # Only the stochastic schedulers take a generator in step().
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters

    def run():
        with torch.no_grad():
            scheduler.set_timesteps(steps)
            extra = {"generator": torch.Generator().manual_seed(1)} if takes_generator else {}
            x = x_T * scheduler.init_noise_sigma
            for t in scheduler.timesteps:
                inp = scheduler.scale_model_input(x, t)
                eps = net(inp, torch.full((x.shape[0],), float(t), dtype=x.dtype))
                x = scheduler.step(eps, t, x, **extra).prev_sample
            return x

    return run


def _diffusers_rows(model, quick: bool) -> tuple[list[list[object]], str]:
    from ..samplers import REGISTRY, sample

    try:
        import diffusers  # noqa: F401
    except ImportError:
        return [], "diffusers is not installed (`pip install -e .[diffusers]`): comparison not run."
    repeats = 3 if quick else 7
    x_T = torch.randn(N_POINTS, 2, generator=torch.Generator().manual_seed(0))
    rows = []
    for name, cls_name, config, steps, spacing in DIFFUSERS_ROWS:
        if name not in REGISTRY:
            rows.append([name, cls_name, "", "", "", f"sampler {name} not registered"])
            continue
        theirs = _diffusers_loop(model, cls_name, config, steps, x_T)

        def ours(name=name, steps=steps, spacing=spacing):
            with torch.no_grad():
                return sample(model, name, steps, n=N_POINTS, seed=1, spacing=spacing, x_T=x_T)

        try:
            med = interleaved_medians({"ours": ours, "diffusers": theirs}, repeats=repeats)
        except Exception as e:  # an API change in diffusers: show it in the table
            rows.append([name, cls_name, "", "", "", f"error: {type(e).__name__}: {e}"])
            continue
        rows.append(
            [
                name,
                cls_name,
                REGISTRY[name].nfe(steps),
                _fmt(med["ours"]),
                _fmt(med["diffusers"]),
                f"{med['ours'] / med['diffusers']:.2f}",
            ]
        )
    return rows, ""


def run(quick: bool = False) -> str:
    """The core section of BENCHMARKS.md (Markdown)."""
    torch.manual_seed(0)
    allocator = steady_allocator()
    out = [
        "## Core: training, sampling and sampler overhead on the 2-D world",
        "",
        f"Machine: {machine_info()}; {allocator}.",
        "",
        f"Load average when the section started: {_load()} (other work on the machine slows "
        "every time here alike; the ratios are measured round-robin and suffer least).",
        "",
    ]
    _note("training to quality")
    train_rows, trained, note = _train_rows(quick)
    model, source = _bench_model(trained)
    out += ["### Training to quality (swiss roll)", ""]
    out += [md_table(["measurement", "target", "measured", "result"], train_rows), ""]
    if note:
        out += [f"_{note}._", ""]

    out += [
        f"### Sampling {N_POINTS:,} points",
        "",
        f"Model: {source}. Wall time of `diffusion.samplers.sample` (grid, initial noise "
        "and sampler; no gradients), median of repeated runs.",
        "",
    ]
    _note("sampling")
    out += [md_table(["sampler", "target", "median", "result"], _sampling_rows(model, quick)), ""]

    out += [
        "### Sampler overhead",
        "",
        f"Each sampler at 10 timesteps on {N_POINTS:,} points against its own network calls "
        "replayed bare (the inputs x_t and times t of one run, captured and called back to "
        "back: a CPU network's speed depends on its data, so bare calls on other inputs do "
        "other work), in one process on one thread (with two, thread "
        "wake-ups add jitter as large as the 10% measured). Each round runs the sampler and "
        "the bare calls back to back, alternating which goes first; ratio = the median over "
        "the rounds of sampler time / bare-call time (a pair run milliseconds apart sees "
        "the same machine speed, which a ratio of two separate medians does not), with "
        "the ratios' quartiles beside it. One untimed pass over all pairs comes first.",
        "",
    ]
    header = [
        "sampler",
        "NFE",
        "sampler median",
        "bare calls median",
        "ratio",
        "quartiles",
        "<= 1.10",
    ]
    _note("sampler overhead")
    with torch_threads(1):
        out += [md_table(header, _overhead_rows(model, quick)), ""]

    out += [
        "### Side by side with diffusers' scheduler loop",
        "",
        "The same network and initial noise, at the same NFE and matching timestep spacing; "
        "diffusers runs `set_timesteps`, then `scale_model_input`, the network and `step` "
        "for each timestep. Ratio = ours / diffusers (below 1: ours is faster).",
        "",
    ]
    _note("diffusers comparison")
    rows, missing = _diffusers_rows(model, quick)
    if missing:
        out += [missing, ""]
    else:
        header = ["sampler", "diffusers scheduler", "NFE", "ours", "diffusers", "ratio"]
        out += [md_table(header, rows), ""]
    return "\n".join(out)
