"""Benchmark section ``images``: GPU figures measured on an H200 (read from
``assets/images/bench_gpu.json``, written by scripts/images_gpu.py and
scripts/images_device_run.sh) and CPU figures measured now, on this machine.

CPU: offline-track training wall time (the digits UNet, a fixed number of steps),
and the latency of 16 images at 10 NFE with our DDIM against the same network
driven by diffusers' DDIMScheduler loop.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from ..images.store import ASSETS
from .common import interleaved_medians, machine_info, md_table

__all__ = ["run"]


def _gpu_rows(g: dict) -> list[list[str]]:
    """Training and sampling against diffusers, with each rate as a fraction of the
    physical mark: the graphed bf16 forward rate divided by 3 for a training step
    (forward + backward ~ 3 forwards) and by the NFE for a sample."""
    mark = g.get("forward", {}).get("mark_images_per_s")

    def frac(rate: float, per: float) -> str:
        return f"{rate / (mark / per):.0%}" if mark else ""

    rows = []
    t = g.get("train", {})
    for key in sorted(k for k in t if k.startswith("batch")):
        b = t[key]
        rows.append(
            [
                f"training, UNet {t['params'] / 1e6:.1f} M, 32x32 bf16, batch {key[5:]}",
                f"{b['ours_images_per_s']:,.0f}",
                f"{b['ours_eager_images_per_s']:,.0f}",
                f"{b['diffusers_images_per_s']:,.0f}",
                f"{b['ratio']:.2f}",
                ">= 2.0" if key == "batch128" else ">= 1.5",
                frac(b["ours_images_per_s"], 3),
            ]
        )
    s = g.get("sample")
    if s:
        for nfe in (10, 50):
            r = s[f"nfe{nfe}"]
            rows.append(
                [
                    f"sampling, DDIM {nfe} NFE, batch {s['batch']}, bf16",
                    f"{r['ours_images_per_s']:,.0f}",
                    f"{r['ours_eager_images_per_s']:,.0f}",
                    f"{r['diffusers_images_per_s']:,.0f}",
                    f"{r['ratio']:.2f}",
                    ">= 1.5",
                    frac(r["ours_images_per_s"], nfe),
                ]
            )
    return rows


def _gpu_section() -> list[str]:
    path = ASSETS / "bench_gpu.json"
    if not path.exists():
        return ["No GPU measurements found (assets/images/bench_gpu.json)."]
    g = json.loads(path.read_text())
    runs = g.get("runs", {"A": {"date": g["date"], "command": "bash scripts/images_device_run.sh"}})
    out = [
        f"Measured on {g['device']} (torch {g['torch']}) in {len(runs)} call(s) of "
        "`scripts/images_device_run.sh`; medians of timed windows ended by a CUDA "
        "synchronisation, ours (compiled, the default on CUDA), ours eager (`--no-compile`) "
        "and the peer alternating in each run:",
        "",
    ]
    for name, r in runs.items():
        out.append(f"- run {name} ({r['date']}): `{r['command']}` ({r.get('parts', 'all parts')})")
    t = g.get("train", {})
    out += [
        "",
        "Peer: " + t.get("peer", "diffusers' loop") + " for training; diffusers' "
        "DDIMScheduler loop on the same network for sampling. Compile mode "
        f"`{t.get('compile_mode', '?')}`: torch.compile, then one CUDA graph per step.",
        "",
    ]
    headers = [
        "H200",
        "ours img/s",
        "ours eager img/s",
        "diffusers img/s",
        "ratio",
        "target",
        "of the mark",
    ]
    out.append(md_table(headers, _gpu_rows(g)))
    for note in _GPU_NOTES:
        out += note(g)
    return out


def _forward_note(g: dict) -> list[str]:
    """The physical mark: the UNet's bf16 forward alone, graphed and eager."""
    fwd = g.get("forward")
    if not fwd:
        return []
    b = fwd["batch512"]
    return [
        "",
        f"Physical mark (run {fwd.get('run', 'A')}): the same UNet's bf16 forward, "
        f"compiled and graph-captured, {b['graphed_images_per_s']:,.0f} img/s at batch 512 "
        f"(eager {b['eager_images_per_s']:,.0f}; at batch 256: "
        f"{fwd['batch256']['graphed_images_per_s']:,.0f} graphed, "
        f"{fwd['batch256']['eager_images_per_s']:,.0f} eager). A training step counts as "
        "3 forwards, a sample as NFE forwards; run B's rows are read against run A's mark.",
    ]


def _compile_note(g: dict) -> list[str]:
    """Seconds spent compiling before the first timed window."""
    t = g.get("train", {})
    if not t:
        return []
    comp = {k[5:]: v["compile_seconds"] for k, v in t.items() if k.startswith("batch")}
    return [
        "",
        "Compilation, paid once before the first timed window: "
        + "; ".join(
            f"batch {k}: {v[0]:.0f} s"
            + (f" (a second run in the process: {v[1]:.1f} s)" if len(v) > 1 else "")
            for k, v in comp.items()
        )
        + f"; sampling at batch 256: {g['sample']['compile_seconds']:.0f} s."
        if "sample" in g
        else "",
    ]


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
    """The samplers' test on the graphed denoiser, run on the GPU."""
    ts = g.get("tests")
    if not ts:
        return []
    rel = ts["samplers_rel_l2_graphed_vs_eager_bf16"]
    return [
        "",
        f"`{ts['file']}` on the H200: every sampler of the registry on the graphed denoiser "
        f"against the eager network under bf16 autocast, relative L2 of the samples "
        f"{min(rel.values()):.1e} to {max(rel.values()):.1e} (tolerance "
        f"{ts['tolerance']:.0e}); run A: {ts['run_A']}; run B: {ts['run_B']}.",
    ]


def _quality_note(g: dict) -> list[str]:
    """Time to quality of the compiled and the eager training."""
    q = g.get("time_to_quality")
    if not q:
        return []
    c, e = q["compiled"], q["eager"]
    return [
        "",
        f"Time to quality ({q['recipe']}): compiled {c['wall_seconds']:.0f} s wall "
        f"({c['compile_seconds']:.0f} s of it compiling; {c['steady_images_per_s']:,.0f} "
        f"img/s after), FD-1000 at DDIM 50 {c['fd1000_ddim50']:.1f}; eager "
        f"{e['wall_seconds']:.0f} s ({e['steady_images_per_s']:,.0f} img/s), FD-1000 "
        f"{e['fd1000_ddim50']:.1f} ({e['date']}, {e['note']}). The shipped teacher scores "
        f"{q['shipped_teacher_fd1000_ddim50']:.1f} in run A. The compiled run did not reach "
        "the shipped teacher's FD in the same 6,000 steps, so the time to that quality is "
        "not yet measured for the compiled path.",
    ]


def _modes_note(g: dict) -> list[str]:
    """The other compile modes tried."""
    m = g.get("modes_tried")
    if not m:
        return []
    return ["", "Other compile modes: " + "; ".join(f"`{k}`: {v}" for k, v in m.items()) + "."]


def _fid_note(g: dict) -> list[str]:
    """Speed of the FID feature extractor against pytorch-fid."""
    f = g.get("fid_features")
    if not f:
        return []
    return [
        "",
        md_table(
            [
                "H200, FID features (Inception pool3), batch " + str(f["batch"]),
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
        "",
        f"(measured {f.get('date', g['date'])}; the feature extractor is unchanged since)",
    ]


def _parity_note(g: dict) -> list[str]:
    """The FID Inception network's parity with pytorch-fid's."""
    p = g.get("parity")
    if not p:
        return []
    diffs = [v["max_abs_diff"] for k, v in p.items() if k.startswith("seed")]
    return [
        "",
        f"FID Inception parity with pytorch-fid's InceptionV3 (same random state dict, "
        f"16 images, pool3): max abs difference {max(diffs):.2e} (bound 1e-4): "
        f"{'passed' if p['passed'] else 'FAILED'}.",
    ]


def _ddp_note(g: dict) -> list[str]:
    """Multi-GPU training, checked on one GPU."""
    d = g.get("ddp_1gpu")
    if not d:
        return []
    return [
        "",
        f"Multi-GPU training (issue 6, {d.get('date', g['date'])}, eager): "
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
        f"Shipped digits models trained on the H200 ({o.get('date', g['date'])}, eager): "
        f"classifier {o['classifier']['seconds']:.0f} s, teacher {o['teacher']['steps']} "
        f"steps {o['teacher']['seconds']:.0f} s, PD 64 -> 1 in {o['pd']['seconds']:.0f} s, "
        f"CD {o['cd']['steps']} steps {o['cd']['seconds']:.0f} s; teacher DDIM "
        f"{o['teacher']['fd_label']}: "
        + ", ".join(f"{k} steps {v:.1f}" for k, v in o["teacher"]["ddim"].items())
        + ".",
    ]


_GPU_NOTES = (
    _forward_note,
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
        "### GPU (H200)",
        "",
        *_gpu_section(),
        "",
        "### CPU (this machine)",
        "",
        *_cpu_section(quick),
    ]
    return "\n".join(lines) + "\n"
