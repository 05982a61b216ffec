"""Benchmark section ``images``: GPU figures measured on an H200 (read from
``assets/images/bench_gpu.json``, the results of scripts/images_gpu.py,
scripts/images_time_to_quality.py and scripts/images_device_run.sh with the commands,
dates and machine of each device run) and CPU figures measured now, on this machine.

CPU: offline-track training wall time (the digits UNet, a fixed number of steps),
and the latency of 16 images at 10 NFE with our DDIM against the same network
driven by diffusers' DDIMScheduler loop.

The GPU part is rendered from the data file alone (``gpu_part``), so it can be
re-rendered into BENCHMARKS.md without the CPU measurements:
``python -m diffusion.bench.images --splice-gpu BENCHMARKS.md``. A device run of
scripts/images_time_to_quality.py is recorded in the data file with
``python -m diffusion.bench.images --add-ttq RUN FILE... --command CMD``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from ..images.store import ASSETS
from .common import interleaved_medians, machine_info, md_table

__all__ = ["GPU_DATA", "gpu_part", "load_gpu_data", "run", "splice_gpu_part"]

GPU_DATA = ASSETS / "bench_gpu.json"
"""The GPU measurements the section renders (the only place their numbers live)."""

GPU_HEADING = "### GPU (H200)"
CPU_HEADING = "### CPU (this machine)"

_WORDS = dict(
    enumerate(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"], 1)
)


def load_gpu_data(path: str | Path | None = None) -> dict | None:
    """The GPU measurements, or None when the data file is absent."""
    path = Path(path) if path is not None else GPU_DATA
    return json.loads(path.read_text()) if path.exists() else None


def _when(date: str, day: str) -> str:
    """``date`` ('YYYY-MM-DD HH:MM UTC') without its day when that is ``day``."""
    return date[len(day) + 1 :] if day and date.startswith(day + " ") else date


def _secs(x: float) -> str:
    """Seconds to the precision that still shows them: 0.04, 0.3, 7, 93."""
    return f"{x:.2f}" if x < 0.1 else f"{x:.1f}" if x < 1 else f"{x:.0f}"


def _count(n: int) -> str:
    return _WORDS.get(n, str(n))


def _mark(g: dict, run: str) -> float | None:
    fwd = g.get("forward", {}).get(str(run))
    return fwd["mark_images_per_s"] if fwd else None


def _gpu_rows(g: dict) -> list[list[str]]:
    """Training and sampling against diffusers, each side's rate as a fraction of the
    physical mark of the row's own run: the graphed bf16 forward rate divided by 3 for
    a training step (forward + backward ~ 3 forwards) and by the NFE for a sample."""

    def fracs(r: dict, run: str, per: float) -> str:
        mark = _mark(g, run)
        if not mark:
            return ""
        keys = ("ours_images_per_s", "ours_eager_images_per_s", "diffusers_images_per_s")
        return " / ".join(f"{r[k] / (mark / per):.0%}" for k in keys)

    def row(label: str, r: dict, target: str, run: str, per: float) -> list[str]:
        return [
            label,
            f"{r['ours_images_per_s']:,.0f}",
            f"{r['ours_eager_images_per_s']:,.0f}",
            f"{r['diffusers_images_per_s']:,.0f}",
            f"{r['ratio']:.2f}",
            target,
            fracs(r, run, per),
            str(run),
        ]

    rows = []
    t = g.get("train", {})
    for key in sorted((k for k in t if k.startswith("batch")), key=lambda k: int(k[5:])):
        b = t[key]
        label = f"training, UNet {t['params'] / 1e6:.1f} M, 32x32 bf16, batch {key[5:]}"
        rows.append(row(label, b, ">= 2.0" if key == "batch128" else ">= 1.5", b["run"], 3))
    s = g.get("sample")
    if s:
        for nfe in (10, 50):
            label = f"sampling, DDIM {nfe} NFE, batch {s['batch']}, bf16"
            rows.append(row(label, s[f"nfe{nfe}"], ">= 1.5", s["run"], nfe))
    return rows


def _intro(g: dict) -> list[str]:
    """Machine, runs and how the table's figures are taken."""
    day = g["date"].split()[0]
    runs = g["runs"]
    out = [
        f"Measured on one {g['device']} (device kind `{g['device_kind']}`; torch "
        f"{g['torch']}, Triton {g['triton']}, driver {g['driver']}) on {g['date']} in "
        f"{_count(len(runs))} device calls, one after the other; medians of timed windows "
        "ended by a CUDA synchronisation. In each benchmark run ours (compiled, the default "
        "on CUDA), ours eager (`--no-compile`) and the peer alternate, and each measures its "
        "own physical mark first:",
        "",
    ]
    for name, r in runs.items():
        note = f" {r['note']}" if r.get("note") else ""
        out.append(
            f"- run {name} ({_when(r['date'], day)}): `{r['command']}` ({r['parts']}).{note}"
        )
    t = g.get("train", {})
    out += [
        "",
        "Peer: " + t.get("peer", "diffusers' loop") + " for training; diffusers' "
        "DDIMScheduler loop on the same network for sampling. Compile mode "
        f"`{t.get('compile_mode', '?')}`: torch.compile, then one CUDA graph per step. Each "
        "row is read against the physical mark of its own run (a training step counts as 3 "
        "forwards, a sample as NFE forwards).",
    ]
    return out


def _windows_note(g: dict) -> list[str]:
    """How many timed windows each median is over."""
    t, s = g.get("train", {}), g.get("sample")
    batches = {k[5:]: v for k, v in t.items() if k.startswith("batch")}
    if not batches:
        return []
    windows = {v["windows_per_side"] for v in batches.values()}
    per = (
        f"{windows.pop()} windows per side"
        if len(windows) == 1
        else ", ".join(
            f"{v['windows_per_side']} windows per side at batch {k}" for k, v in batches.items()
        )
    )
    steps = ", ".join(
        f"{v['steps_per_timing']} steps each at batch {k}"
        if i == 0
        else f"{v['steps_per_timing']} at batch {k}"
        for i, (k, v) in enumerate(batches.items())
    )
    text = f"Training: {per} ({steps}), {_count(t['rounds'])} rounds of the three sides"
    if s:
        text += f"; sampling: {s['rounds']} rounds of {s['calls_per_round']} timed calls per side"
    return ["", text + "."]


def _forward_note(g: dict) -> list[str]:
    """The physical mark of each run: the UNet's bf16 forward alone, graphed and eager."""
    fwd = g.get("forward")
    if not fwd:
        return []
    parts = [
        f"run {run}: {f['batch512']['graphed_images_per_s']:,.0f} img/s at batch 512 (eager "
        f"{f['batch512']['eager_images_per_s']:,.0f}; at batch 256: "
        f"{f['batch256']['graphed_images_per_s']:,.0f} graphed, "
        f"{f['batch256']['eager_images_per_s']:,.0f} eager)"
        for run, f in fwd.items()
    ]
    return [
        "",
        "Physical mark, the same UNet's bf16 forward, compiled and graph-captured: "
        + "; ".join(parts)
        + ".",
    ]


def _launch_bound_note(g: dict) -> list[str]:
    """Batch 128 against the earlier run of the same code: which rates follow the host."""
    new = g.get("train", {}).get("batch128")
    prev = g.get("previous", {})
    old = prev.get("train", {}).get("batch128")
    if not new or not old:
        return []
    old_run = prev["train"].get("runs", {}).get("batch128")
    when = _when(prev["runs"][old_run]["date"], g["date"].split()[0]) if old_run else "?"
    moved = {
        k: abs(new[k] / old[k] - 1)
        for k in ("ours_images_per_s", "ours_eager_images_per_s", "diffusers_images_per_s")
    }
    bound = sorted(moved[k] for k in ("ours_eager_images_per_s", "diffusers_images_per_s"))
    return [
        "",
        "The eager and diffusers training rates at batch 128 are launch-bound, so they "
        f"follow the host's speed: in the earlier run of the same code ({when}) they were "
        f"{old['ours_eager_images_per_s']:,.0f} and {old['diffusers_images_per_s']:,.0f} "
        f"img/s against {old['ours_images_per_s']:,.0f} compiled ({old['ratio']:.2f}x); the "
        f"compiled rate moved by {moved['ours_images_per_s']:.1%}, the launch-bound ones by "
        f"{bound[0] * 100:.0f}-{bound[1]:.0%}.",
    ]


def _compile_note(g: dict) -> list[str]:
    """Seconds spent compiling before the first timed window; a warm figure is shown
    with its run and the cold one of the earlier run."""
    t, s = g.get("train", {}), g.get("sample")
    prev = g.get("previous", {})
    day = g["date"].split()[0]

    def cold(secs: float | None, run: str | None) -> str:
        if secs is None or not run or run not in prev.get("runs", {}):
            return ""
        return f" ({secs:.0f} s cold, {_when(prev['runs'][run]['date'], day)})"

    parts = []
    for i, key in enumerate(
        sorted((k for k in t if k.startswith("batch")), key=lambda k: int(k[5:]))
    ):
        b, first = t[key], t[key]["compile_seconds"]
        text = ("training at " if i == 0 else "at ") + f"batch {key[5:]}: {_secs(first[0])} s"
        if b.get("compile_note"):
            text += f" in run {b['run']}"
        if len(first) > 1:
            text += f" (a second run in the process: {_secs(first[1])} s)"
        if b.get("compile_note"):
            old = prev.get("train", {}).get(key)
            text += f", {b['compile_note']}" + cold(
                old["compile_seconds"][0] if old else None,
                prev.get("train", {}).get("runs", {}).get(key),
            )
        parts.append(text)
    if s:
        text = f"sampling at batch {s['batch']}: {_secs(s['compile_seconds'])} s"
        if s.get("compile_note"):
            old = prev.get("sample")
            text += f" in run {s['run']}, {s['compile_note']}" + cold(
                old["compile_seconds"] if old else None, old.get("run") if old else None
            )
        parts.append(text)
    if not parts:
        return []
    return ["", "Compilation, paid once before the first timed window: " + "; ".join(parts) + "."]


def _sample_note(g: dict) -> list[str]:
    """How far graphed samples are from eager ones, and from the diffusers loop."""
    s = g.get("sample")
    if not s:
        return []
    return [
        "",
        "Graphed against eager sampling (same network, bf16 autocast): relative L2 "
        f"difference {s['nfe10']['rel_diff_vs_eager']:.1e} (10 NFE), "
        f"{s['nfe50']['rel_diff_vs_eager']:.1e} (50 NFE). The benchmark's network has "
        "random weights in every layer, so samples are not images and their difference "
        "from the diffusers loop (max abs "
        f"{s['nfe10']['max_abs_diff_vs_diffusers']:.2f}) only shows two bf16 trajectories "
        "of an untrained network drifting apart; DDIM's agreement with diffusers is checked "
        "in float32 by tests/test_diffusers_agreement.py.",
    ]


def _tests_note(g: dict) -> list[str]:
    """The compiled-path tests, run on the GPU."""
    ts = g.get("tests")
    if not ts:
        return []
    rel = ts["samplers_rel_l2_graphed_vs_eager_bf16"]
    lo, hi = min(rel, key=rel.get), max(rel, key=rel.get)
    counts = f"{ts['passed']} passed"
    if ts.get("failed"):
        counts += f", {ts['failed']} failed"
    if ts.get("skipped"):
        counts += f", {ts['skipped']} skipped ({ts['skipped_reason']})"
    return [
        "",
        f"`{ts['file']}` on the H200 (run {ts['run']}, {ts['note']}): {counts} in "
        f"{ts['seconds']:.0f} s. Every sampler of the registry on the graphed denoiser "
        "against the eager network under bf16 autocast: relative L2 of the samples "
        f"{rel[lo]:.1e} ({lo}) to {rel[hi]:.1e} ({hi}), tolerance {ts['tolerance']:.0e}; "
        f"{ts['training']}.",
    ]


TTQ_MODES = ("compiled", "eager")
"""The training paths that scripts/images_time_to_quality.py compares."""


def add_time_to_quality(g: dict, run: str, command: str, files: list[str | Path]) -> None:
    """Record one device run of scripts/images_time_to_quality.py in ``g`` (the data of
    ``bench_gpu.json``): the run with its command under ``runs``, and every mode's
    result of every output file as one record (run, seed, mode) under
    ``time_to_quality``. A run label already recorded is replaced."""
    q = g.setdefault("time_to_quality", {})
    q["records"] = [r for r in q.get("records", []) if r["run"] != run]
    made = {}
    for f in files:
        d = json.loads(Path(f).read_text())
        seed = int(d.get("seed", d["recipe"].rsplit("seed ", 1)[-1]))
        recipe = d["recipe"].rsplit(", seed", 1)[0]
        q.update(
            recipe=recipe.replace("digits teacher_config", "`teacher_config`"),
            shipped_teacher_fd1000_ddim50=d["shipped_teacher_fd1000_ddim50"],
            shipped_teacher_fd1000_ddim50_other_noise=d[
                "shipped_teacher_fd1000_ddim50_other_noise"
            ],
        )
        for mode in TTQ_MODES:
            if mode in d:
                rec = {"run": run, "seed": seed, "mode": mode, "date": d["date"]}
                q["records"].append({**rec, "eval": d["eval"], **d[mode]})
        made[Path(f).name] = d["date"]
    g.setdefault("runs", {})[run] = {
        "date": min(made.values()),
        "command": command,
        "parts": "time to quality",
        "files": made,
    }


def _ttq_latest(q: dict) -> dict[tuple[int, str], dict]:
    """The last record of each (seed, mode): a later run of the same seed and path
    replaces an earlier one (one cut off by its time cap, say)."""
    return {(r["seed"], r["mode"]): r for r in q["records"]}


def _reached(r: dict | None) -> str:
    """Seconds of training to the target, or how far the run went without it."""
    if r is None:
        return "not run"
    if r.get("reached"):
        return f"{r['train_seconds_to_quality']:.0f} s ({r['steps']:,} steps)"
    return f"not reached in {r['steps']:,} steps ({r.get('stopped_by', 'step cap')})"


def _ttq_seconds(rs: list[dict | None]) -> float | None:
    """The median training seconds to the target, when every run reached it."""
    if not rs or not all(r and r.get("reached") for r in rs):
        return None
    return statistics.median(r["train_seconds_to_quality"] for r in rs)


def quality_rows(g: dict) -> list[list[str]]:
    """The time-to-quality table: per seed, the training seconds (evaluations left out)
    of each path to the shipped teacher's FD, then the medians over the seeds."""
    latest = _ttq_latest(g["time_to_quality"])
    seeds = sorted({seed for seed, _ in latest})

    def ratio(a: float | None, b: float | None) -> str:
        return f"{b / a:.2f}" if a and b else ""

    rows = []
    for seed in seeds:
        c, e = (latest.get((seed, m)) for m in TTQ_MODES)
        runs = sorted({r["run"] for r in (c, e) if r})
        rows.append(
            [
                f"seed {seed} (run{'s' if len(runs) > 1 else ''} {', '.join(runs)})",
                _reached(c) + (f", {c['compile_seconds']:.0f} s compiling" if c else ""),
                _reached(e),
                ratio(*(r and r.get("train_seconds_to_quality") for r in (c, e))),
            ]
        )
    med = [_ttq_seconds([latest.get((s, m)) for s in seeds]) for m in TTQ_MODES]
    rows.append(
        [
            f"median of the {_count(len(seeds))} seeds",
            *(f"{x:.0f} s" if x else "" for x in med),
            ratio(*med),
        ]
    )
    return rows


def _quality_note(g: dict) -> list[str]:
    """Time to the shipped teacher's quality, compiled and eager, over several seeds."""
    q = g.get("time_to_quality")
    if not q or not q.get("records"):
        return []
    latest = _ttq_latest(q)
    recs = q["records"]
    n = int(recs[0]["eval"].split(",")[0].removeprefix("FD-"))  # the script's --n
    runs = sorted({r["run"] for r in recs})
    target = q["shipped_teacher_fd1000_ddim50"]
    out = [
        "",
        f"Time to quality (runs {', '.join(runs)}: `scripts/images_time_to_quality.py`): "
        f"the digits teacher's recipe ({q['recipe']}) trained compiled and eager for seeds "
        f"{', '.join(str(s) for s in sorted({s for s, _ in latest}))}. Each run is scored "
        f"as it trains ({recs[0]['eval'].split(', cap')[0]}; each run under the time cap in "
        f"its command) until it reaches the shipped teacher's FD-{n}, "
        f"{target:.2f} in the same run ({q['shipped_teacher_fd1000_ddim50_other_noise']:.2f} "
        f"from another {n:,} noises). Training seconds include data loading and "
        "compilation and leave out the evaluations:",
        "",
        md_table(
            ["digits teacher recipe on the H200", "compiled", "eager", "eager / compiled"],
            quality_rows(g),
        ),
        "",
    ]
    by_mode = {m: [r for k, r in latest.items() if k[1] == m] for m in TTQ_MODES}
    compiled = sorted(by_mode["compiled"], key=lambda r: r["date"])
    rate = {m: [r["steady_images_per_s"] for r in by_mode[m]] for m in TTQ_MODES}
    steps = {m: [r["steps"] for r in by_mode[m] if r.get("reached")] for m in TTQ_MODES}
    later = ", ".join(f"{r['compile_seconds']:.0f}" for r in compiled[1:])
    text = (
        f"The first compiled run on the machine compiled for "
        f"{compiled[0]['compile_seconds']:.0f} s on an empty Inductor cache; the later ones "
        f"reused the cache ({later} s). "
        f"Steady rates: compiled {min(rate['compiled']):,}-{max(rate['compiled']):,} img/s, "
        f"eager {min(rate['eager']):,}-{max(rate['eager']):,} img/s."
    )
    every = sorted(steps["compiled"] + steps["eager"])
    if steps["compiled"] and steps["eager"]:
        text += (
            f" The steps to the target range from {every[0]:,} to {every[-1]:,} for one "
            f"recipe; the median is {statistics.median(steps['compiled']):,.0f} steps compiled "
            f"and {statistics.median(steps['eager']):,.0f} eager. Seed and the GPU's "
            "run-to-run non-determinism move it, so each path's time is a median over seeds."
        )
    if q.get("paths_differ_in"):
        text += f" Both paths are fp32; the compiled step differs only in {q['paths_differ_in']}."
    at = {
        m: [
            next((x["train_seconds"] for x in r["evals"]), None)
            for r in sorted(by_mode[m], key=lambda r: r["seed"])
        ]
        for m in TTQ_MODES
    }
    if all(x is not None for m in TTQ_MODES for x in at[m]):
        step0 = recs[0]["evals"][0]["step"]
        text += (
            f" Time to the first evaluation ({step0:,} steps, the same work in every run), "
            f"by seed: compiled {', '.join(f'{x:.0f}' for x in at['compiled'])} s, eager "
            f"{', '.join(f'{x:.0f}' for x in at['eager'])} s."
        )
    for r in recs:
        if latest[(r["seed"], r["mode"])] is not r:
            text += (
                f" Run {r['run']}'s {r['mode']} run of seed {r['seed']} stopped at its "
                f"{r.get('stopped_by', 'cap')} ({r['steps']:,} steps, FD "
                f"{r['evals'][-1]['fd1000_ddim50']:.1f}) and was repeated in run "
                f"{latest[(r['seed'], r['mode'])]['run']}."
            )
    if q.get("earlier"):
        text += f" {q['earlier']}"
    out.append(text)
    return out


def _modes_note(g: dict) -> list[str]:
    """The other compile modes: rate and compile time, or how far each got."""
    m = g.get("compile_modes")
    if not m:
        return []
    desc = m.get("descriptions", {})
    default = g.get("train", {}).get(f"batch{m['train_batch']}")
    day = g["date"].split()[0]
    now, earlier, sampling = [], [], []
    for key, r in m.items():
        if ":" not in key:
            continue
        kind, mode = key.split(":", 1)
        about = f" ({desc[mode]})" if mode in desc else ""
        if kind == "sample":
            if "error" in r:
                sampling.append(f"Sampling in `{mode}`: {r['error']}.")
            else:
                sampling.append(
                    f"Sampling in `{mode}`: {r['images_per_s']:,.0f} img/s after "
                    f"{r['compile_seconds']:.0f} s of compiling."
                )
        elif "date" in r:
            earlier.append(f"`{mode}` ({_when(r['date'], day)}): {r['error']}.")
        elif "error" in r:
            now.append(f"`{mode}`{about}: {r['error']}; {r['reached']}")
        else:
            text = (
                f"`{mode}`{about}: {r['images_per_s']:,.0f} img/s after "
                f"{r['compile_seconds']:.0f} s of compiling"
            )
            if default:
                text += (
                    f", against {default['ours_images_per_s']:,.0f} img/s for "
                    f"`{g['train']['compile_mode']}` with our whole-step graph in run "
                    f"{default['run']}"
                )
            now.append(text)
    head = (
        f"Other compile modes (run {m['run']}; training at batch {m['train_batch']}, "
        f"{m['conditions']}): "
    )
    return ["", " ".join([head + "; ".join(now) + ".", *earlier, *sampling])]


def _fid_note(g: dict) -> list[str]:
    """Speed of the FID feature extractor against pytorch-fid."""
    f = g.get("fid_features")
    if not f:
        return []
    return [
        "",
        md_table(
            [
                f"H200, FID features (Inception pool3), batch {f['batch']} (run {f['run']}, "
                f"{f['rounds']} interleaved rounds)",
                "ours img/s",
                "pytorch-fid img/s",
                "ratio",
            ],
            [
                [
                    "fp32",
                    f"{f['ours_images_per_s']:,.0f}",
                    f"{f['pytorch_fid_images_per_s']:,.0f}",
                    f"{f['ratio']:.2f}",
                ],
                [
                    "ours in bf16 + channels_last (features differ by bf16 noise)",
                    f"{f['ours_bf16_channels_last_images_per_s']:,.0f}",
                    "",
                    "",
                ],
            ],
        ),
    ]


def _parity_note(g: dict) -> list[str]:
    """The FID Inception network's parity with pytorch-fid's."""
    p = g.get("parity")
    if not p:
        return []
    seeds = [v for k, v in p.items() if k.startswith("seed")]
    gpu = max(v["max_abs_diff"] for v in seeds)
    f64 = max(v["max_abs_diff_float64"] for v in seeds)
    return [
        "",
        f"FID Inception parity with pytorch-fid's InceptionV3 (run {p['run']}; same random "
        f"state dict, {p['images']} images, pool3, {_count(len(seeds))} seeds): max abs "
        f"difference {gpu:.2e} on the GPU and {f64:.2e} in float64 on the CPU (bound "
        f"{p['bound']:.0e}): {'passed' if p['passed'] else 'FAILED'}.",
    ]


def _ddp_note(g: dict) -> list[str]:
    """Multi-GPU training, checked on one GPU."""
    d = g.get("ddp_1gpu")
    if not d:
        return []
    return [
        "",
        f"Multi-GPU training (issue {d['issue']}, {d['date']}, eager): "
        + d["two_gpus"]
        + ". On one GPU: "
        f"`{d['command']}`: {d['torchrun_1proc_images_per_s_steady']:,.0f} img/s under "
        f"torchrun (1 process) vs {d['plain_1proc_images_per_s_steady']:,.0f} img/s plain; "
        f"loss curves identical (max relative difference "
        f"{d['loss_max_rel_diff_torchrun_vs_plain_200_steps']:.1e}); rank 0's checkpoint "
        f"resumed in a plain process to step {d['resumed_rank0_checkpoint_to_step']}. "
        "Two processes on CPU (gloo) are checked against one process in the test suite "
        "(tests/test_images_train.py).",
    ]


def _offline_note(g: dict) -> list[str]:
    """Training times of the shipped digits models on the GPU."""
    o = g.get("offline_training")
    if not o:
        return []
    return [
        "",
        f"Shipped digits models trained on the H200 ({o['date']}, eager): "
        f"classifier {o['classifier']['seconds']:.0f} s, teacher {o['teacher']['steps']} "
        f"steps {o['teacher']['seconds']:.0f} s, PD 64 -> 1 in {o['pd']['seconds']:.0f} s, "
        f"CD {o['cd']['steps']} steps {o['cd']['seconds']:.0f} s; teacher DDIM "
        f"{o['teacher']['fd_label']}: "
        + ", ".join(f"{k} steps {v:.1f}" for k, v in o["teacher"]["ddim"].items())
        + ".",
    ]


_GPU_NOTES = (
    _windows_note,
    _forward_note,
    _launch_bound_note,
    _compile_note,
    _sample_note,
    _tests_note,
    _quality_note,
    _modes_note,
    _fid_note,
    _parity_note,
    _ddp_note,
    _offline_note,
)
"""The notes under the GPU table, in order; each is empty when its measurement is absent."""


def gpu_part(g: dict | None = None) -> str:
    """Markdown of the section's GPU part (under its heading), from the data alone:
    ``g`` or, by default, the shipped ``assets/images/bench_gpu.json``."""
    g = load_gpu_data() if g is None else g
    if g is None:
        return "No GPU measurements found (assets/images/bench_gpu.json).\n"
    headers = [
        "H200",
        "ours img/s",
        "ours eager img/s",
        "diffusers img/s",
        "ratio",
        "target",
        "of the mark: ours / eager / diffusers",
        "run",
    ]
    out = [*_intro(g), "", md_table(headers, _gpu_rows(g))]
    for note in _GPU_NOTES:
        out += note(g)
    return "\n".join(out).strip() + "\n"


def splice_gpu_part(report: str, gpu: str | None = None) -> str:
    """``report`` (BENCHMARKS.md text) with the images section's GPU part replaced by
    ``gpu`` (default: rendered from the shipped data); everything else, the CPU part
    included, is kept as it is."""
    gpu = gpu_part() if gpu is None else gpu
    start = report.index("<!-- bench:images -->")
    end = report.index("<!-- /bench:images -->", start)
    block = report[start:end]
    head = block.index(GPU_HEADING + "\n") + len(GPU_HEADING) + 1
    tail = block.index("\n" + CPU_HEADING, head)
    block = block[:head] + "\n" + gpu.strip() + "\n" + block[tail:]
    return report[:start] + block + report[end:]


def _cpu_section(quick: bool) -> list[str]:
    from ..images.digits import DIGITS_UNET, load_digits
    from ..images.store import load_image_model
    from ..images.train import TrainConfig, train_images

    out = []
    # Train from scratch for a fixed wall-clock budget (what a lecturer could spend in
    # class), then score the EMA network against the shipped teacher: FD-200 of DDIM-50
    # samples from the same 200 starting noises.
    budget = 20.0 if quick else 480.0
    import tempfile

    from ..images.digits import digits_metrics
    from ..samplers import sample

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            out=tmp,
            data="digits",
            steps=10**6,
            batch_size=64,
            lr=1e-3,
            warmup=100,
            ema_decay=0.995,  # a short run: an EMA over the last ~200 steps
            log_every=10**9,
            ckpt_every=10**9,
            unet=DIGITS_UNET.to_dict(),
        )
        t0 = time.perf_counter()
        summary = train_images(
            cfg,
            data=load_digits()[0],
            resume=False,
            should_stop=lambda: time.perf_counter() - t0 > budget,
        )
        wall = time.perf_counter() - t0
        trained = load_image_model(str(Path(tmp) / "model"))
    n_eval = 50 if quick else 200
    x_eval = torch.randn(n_eval, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    fd = {}
    with torch.no_grad():
        for name, m in (("trained here", trained), ("shipped teacher", load_image_model("digits"))):
            x = sample(m, "ddim", 50, n=n_eval, seed=0, x_T=x_eval, spacing="trailing").x
            fd[name] = digits_metrics(x)["fd"]
    steps = summary["steps"]
    load = os.getloadavg()[0]
    out.append(
        f"Offline-track training from scratch on this CPU (digits UNet 0.65 M, batch 64, "
        f"lr 1e-3, EMA 0.995) for a {budget:.0f} s budget: {steps:,} steps in {wall:.0f} s "
        f"({summary['images_per_s']:,.0f} img/s, {1000 * wall / steps:.0f} ms/step; load "
        f"average {load:.1f} on {os.cpu_count()} cores). FD-{n_eval} of DDIM-50 samples, same "
        f"starting noise: {fd['trained here']:.1f} for this model against "
        f"{fd['shipped teacher']:.1f} for the shipped teacher (6,000 steps at batch 256, "
        "trained on the H200)."
    )

    from diffusers import DDIMScheduler

    from ..grids import make_timesteps
    from ..samplers import get_sampler

    teacher = load_image_model("digits")
    x_T = torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    ts = make_timesteps(teacher.schedule, 10, "trailing")
    ddim = get_sampler("ddim")
    sched = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,
    )
    sched.set_timesteps(10)
    net = teacher.net

    @torch.no_grad()
    def ours():
        return ddim(teacher, x_T, ts, record=False).x

    @torch.no_grad()
    def theirs():
        x = x_T
        for t in sched.timesteps:
            x = sched.step(net(x, t.float().expand(16)), t, x).prev_sample
        return x

    med = interleaved_medians({"ours": ours, "diffusers": theirs}, repeats=3 if quick else 9)
    diff = float((ours() - theirs()).abs().max())
    out += [
        "",
        md_table(
            [
                "this CPU: 16 digits at 10 NFE (DDIM, trailing)",
                "ours ms",
                "diffusers loop ms",
                "ratio",
            ],
            [
                [
                    "latency",
                    f"{med['ours'] * 1000:.0f}",
                    f"{med['diffusers'] * 1000:.0f}",
                    f"{med['diffusers'] / med['ours']:.2f}",
                ]
            ],
        ),
        f"(max abs difference between the two outputs: {diff:.1e})",
    ]
    return out


def run(quick: bool = False) -> str:
    """Markdown for the images section of BENCHMARKS.md."""
    lines = [
        "## Images",
        "",
        f"Command: `python -m diffusion bench --section images{' --quick' if quick else ''}`; "
        f"CPU figures on: {machine_info()}. Ratios are peer time / our time for latency and "
        "our rate / peer rate for throughput (> 1 means ours is faster).",
        "",
        GPU_HEADING,
        "",
        gpu_part().rstrip(),
        "",
        CPU_HEADING,
        "",
        *_cpu_section(quick),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``--splice-gpu REPORT``: re-render the images section's GPU part of REPORT
    (BENCHMARKS.md) from the shipped data, keeping its CPU part; ``--print-gpu``: print it;
    ``--add-ttq RUN FILE... --command CMD``: record a time-to-quality run in the data."""
    p = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--splice-gpu", metavar="REPORT")
    g.add_argument("--print-gpu", action="store_true")
    g.add_argument(
        "--add-ttq",
        nargs="+",
        metavar=("RUN", "FILE"),
        help="record RUN's scripts/images_time_to_quality.py outputs (FILE...) in the data",
    )
    p.add_argument("--command", help="with --add-ttq: the run's command line")
    args = p.parse_args(argv)
    if args.add_ttq:
        if len(args.add_ttq) < 2 or not args.command:
            p.error("--add-ttq needs RUN, at least one FILE and --command")
        from ..io import write_text

        g = load_gpu_data() or {}
        add_time_to_quality(g, args.add_ttq[0], args.command, args.add_ttq[1:])
        write_text(GPU_DATA, json.dumps(g, indent=2) + "\n")
        return
    if args.print_gpu:
        print(gpu_part(), end="")
        return
    from ..io import write_text

    path = Path(args.splice_gpu)
    write_text(path, splice_gpu_part(path.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
