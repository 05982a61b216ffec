"""GPU measurements for the image track, run on a CUDA machine; writes one JSON file.

  parity    FID Inception vs pytorch-fid's InceptionV3, one random state dict in both
  fid       feature extraction images/s (ours vs pytorch-fid)
  forward   the physical mark: bf16 forward images/s of the same UNet (eager, graphed)
  train     training images/s of the default UNet at 32x32 in bf16, batch 128 and 512:
            train_images (compiled, and eager) vs the same network in a loop written like
            diffusers' train_unconditional example
  sample    sampling images/s at 10 and 50 NFE, batch 256: our DDIM on the graphed
            denoiser (and eager) vs diffusers' DDIMScheduler loop
  variants  every compile mode, each in its own process under a time limit

Usage: python scripts/images_gpu.py --out bench_gpu.json [--parts parity,fid,train,sample]
Needs torch with CUDA, diffusers and pytorch-fid (+ torchvision) installed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from diffusion.images.inception import FIDInception
from diffusion.images.train import synthetic_images
from diffusion.images.unet import UNet, count_parameters


def cuda_time(fn, repeats: int = 10, warmup: int = 3) -> float:
    """Median seconds of fn() measured with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1000)
    return statistics.median(times)


def random_inception_state(seed: int = 0) -> dict:
    """A random but well-scaled state dict for the FID Inception (He-init convs,
    BatchNorm statistics near 1), so features stay finite through 20 blocks."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in FIDInception().state_dict().items():
        if k.endswith("conv.weight"):
            fan_in = v[0].numel()
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("bn.weight") or k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith("bn.bias") or k.endswith("running_mean"):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif v.dtype == torch.long:
            sd[k] = v.clone()
        else:
            sd[k] = 0.01 * torch.randn(v.shape, generator=g)
    return sd


def pytorch_fid_inception(state: dict):
    import pytorch_fid.inception as pfi

    # No network on the machine: hand pytorch-fid our state dict where it would
    # download its weights. It loads it strictly, which also checks every name and shape.
    pfi.load_state_dict_from_url = lambda *a, **k: state
    return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()


def part_parity(res: dict) -> None:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    out = {}
    for seed in (0, 1):
        state = random_inception_state(seed)
        ref = pytorch_fid_inception(state).cuda()
        ours = FIDInception()
        ours.load_state_dict(state, strict=True)
        ours = ours.cuda().eval()
        x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 10)).cuda()
        with torch.no_grad():
            a = ours(x)
            b = ref(x)[0].flatten(1)
        out[f"seed{seed}"] = {
            "max_abs_diff": float((a - b).abs().max()),
            "max_abs_feature": float(b.abs().max()),
            "mean_abs_feature": float(b.abs().mean()),
        }
        # float64 on the CPU as well, where no kernel choice can differ
        with torch.no_grad():
            a64 = ours.double().cpu()(x.double().cpu()[:4])
            b64 = ref.double().cpu()(x.double().cpu()[:4])[0].flatten(1)
        out[f"seed{seed}"]["max_abs_diff_float64"] = float((a64 - b64).abs().max())
    out["passed"] = all(v["max_abs_diff"] < 1e-4 for k, v in out.items() if k.startswith("seed"))
    res["parity"] = out
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    print("parity", json.dumps(out), flush=True)


def part_fid(res: dict) -> None:
    state = random_inception_state(0)
    ref = pytorch_fid_inception(state).cuda()
    ours = FIDInception()
    ours.load_state_dict(state)
    ours = ours.cuda().eval()
    batch = 500
    x = torch.rand(batch, 3, 32, 32, device="cuda")
    out = {"batch": batch}
    with torch.no_grad():
        rounds = {"ours": [], "pytorch_fid": []}
        for _ in range(5):  # interleaved, so clock changes hit both alike
            rounds["ours"].append(cuda_time(lambda: ours(x), repeats=5))
            rounds["pytorch_fid"].append(cuda_time(lambda: ref(x), repeats=5))
        for k, v in rounds.items():
            out[k + "_images_per_s"] = batch / statistics.median(v)
        # channels_last + bf16 autocast: faster, but the features then differ by bf16 noise
        ours_cl = ours.to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            t = cuda_time(lambda: ours_cl(x.contiguous(memory_format=torch.channels_last)))
        out["ours_bf16_channels_last_images_per_s"] = batch / t
    out["ratio"] = out["ours_images_per_s"] / out["pytorch_fid_images_per_s"]
    res["fid_features"] = out
    print("fid", json.dumps(out), flush=True)


def _train_cfg(d: str, batch: int, steps: int, window: int, compile: bool, mode: str):
    from diffusion.images.train import TrainConfig

    return TrainConfig(
        out=d,
        data="synthetic",
        steps=steps,
        batch_size=batch,
        warmup=100,
        log_every=window,
        ckpt_every=10**9,
        seed=0,
        compile=compile,
        compile_mode=mode,
    )


def ours_train_round(
    data, batch: int, steps: int, window: int, compile: bool, mode: str, echo: bool = False
):
    """images/s of train_images' own log windows (the first one dropped), and its
    compile seconds (paid before the first window). ``echo`` prints each record as it
    comes (a process killed at its time limit then shows how far it got)."""
    import tempfile

    from diffusion.images.train import train_images

    recs = []

    def log(rec: dict) -> None:
        recs.append(rec)
        if echo:
            print("progress", json.dumps(rec), flush=True)

    with tempfile.TemporaryDirectory() as d:
        cfg = _train_cfg(d, batch, steps, window, compile, mode)
        summary = train_images(cfg, data=data, resume=False, log=log)
    rates = [r["images_per_s"] for r in recs if "images_per_s" in r][1:]
    return rates, summary


def peer_train_round(data, batch: int, steps: int, window: int) -> list[float]:
    """The same network trained the way diffusers' train_unconditional.py does it:
    DDPMScheduler.add_noise, AdamW, EMAModel, gradient clipping, bf16 autocast and the
    loss read every step for its progress bar."""
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    torch.manual_seed(0)
    net = UNet().cuda().train()
    x0 = data.cuda()
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, weight_decay=1e-6, eps=1e-8)
    ema = EMAModel(net.parameters(), decay=0.9999, use_ema_warmup=True, power=0.75)
    rates = []
    for w in range(steps // window):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(window):
            idx = torch.randint(0, len(x0), (batch,), device="cuda")
            noise = torch.randn(batch, 3, 32, 32, device="cuda")
            t = torch.randint(0, 1000, (batch,), device="cuda")
            noisy = sched.add_noise(x0[idx], noise, t)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = net(noisy, t.float())
            loss = F.mse_loss(out.float(), noise.float())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            ema.step(net.parameters())
            loss.detach().item()  # the example's per-step progress-bar log
        torch.cuda.synchronize()
        if w:  # the first window holds warm-up
            rates.append(window * batch / (time.perf_counter() - t0))
    return rates


OUT_PATH = ""


def part_train(res: dict, batches=(128, 512), rounds: int = 2) -> None:
    """Ours (train_images, compiled: the default on CUDA), ours eager (--no-compile,
    the loop before compilation) and the diffusers peer, alternating in rounds; each
    figure is the median over steady windows of each side."""
    from diffusion.images.compile import DEFAULT_MODE

    data = synthetic_images(4096, size=32)
    out = {
        "params": count_parameters(UNet()),
        "compile_mode": DEFAULT_MODE,
        "peer": "diffusers train_unconditional.py loop (add_noise, AdamW, EMAModel, "
        "loss.item() per step)",
    }
    for batch in batches:
        window = 20 if batch <= 128 else 10
        steps = window * 8
        rates = {"ours": [], "ours_eager": [], "diffusers": []}
        compile_s, captured = [], []
        for _ in range(rounds):
            r, summ = ours_train_round(data, batch, steps, window, True, DEFAULT_MODE)
            rates["ours"] += r
            compile_s.append(summ["compile_seconds"])
            captured.append(summ["capture_error"] is None)
            rates["ours_eager"] += ours_train_round(data, batch, steps, window, False, "graph")[0]
            rates["diffusers"] += peer_train_round(data, batch, steps, window)
        b = {"steps_per_timing": window, "windows_per_side": len(rates["ours"])}
        for k, v in rates.items():
            b[k + "_images_per_s"] = statistics.median(v)
        b["ratio"] = b["ours_images_per_s"] / b["diffusers_images_per_s"]
        b["ratio_eager"] = b["ours_eager_images_per_s"] / b["diffusers_images_per_s"]
        b["compile_seconds"] = compile_s
        b["captured"] = all(captured)
        out[f"batch{batch}"] = b
        print("train", batch, json.dumps(b), flush=True)
        res["train"] = out
        if OUT_PATH:  # keep what was measured if a later batch runs out of time
            Path(OUT_PATH).write_text(json.dumps(res, indent=2))


def _sample_setup(batch: int):
    from diffusion.model import DiffusionModel
    from diffusion.schedules import linear_schedule

    torch.manual_seed(0)
    net = UNet().cuda().eval().requires_grad_(False)
    with torch.no_grad():  # the zero-initialised output layers would give eps = 0
        for p in net.parameters():
            if p.ndim > 1 and p.abs().max() == 0:
                p.normal_(0, 0.02)
    model = DiffusionModel(net, linear_schedule(), "eps")
    x_T = torch.randn(batch, 3, 32, 32, device="cuda")
    return net, model, x_T


def part_forward(res: dict) -> None:
    """The physical mark: the bf16 forward throughput of the same UNet, eager and
    compiled + graph-captured, at batch 256 and 512 (the best is the mark)."""
    from diffusion.images.compile import DEFAULT_MODE, GraphedDenoiser

    out = {}
    for batch in (256, 512):
        net, _, x = _sample_setup(batch)
        t = torch.full((batch,), 500.0, device="cuda")
        g = GraphedDenoiser(net, DEFAULT_MODE)
        with torch.no_grad():

            def eager(net=net, x=x, t=t):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return net(x, t)

            t_e = cuda_time(eager, repeats=20, warmup=3)
            t_g = cuda_time(lambda g=g, x=x, t=t: g(x, t), repeats=20, warmup=3)
        out[f"batch{batch}"] = {
            "eager_images_per_s": batch / t_e,
            "graphed_images_per_s": batch / t_g,
        }
    out["mark_images_per_s"] = max(v for b in out.values() for v in b.values())
    res["forward"] = out
    print("forward", json.dumps(out), flush=True)


def part_sample(res: dict) -> None:
    from diffusers import DDIMScheduler

    from diffusion.grids import make_timesteps
    from diffusion.images.compile import DEFAULT_MODE, compile_denoiser
    from diffusion.samplers import get_sampler

    batch = 256
    net, model, x_T = _sample_setup(batch)
    fast = compile_denoiser(model, DEFAULT_MODE)
    ddim = get_sampler("ddim")
    out = {"batch": batch, "dtype": "bf16 autocast", "compile_mode": DEFAULT_MODE}
    for nfe in (10, 50):
        ts = make_timesteps(model.schedule, nfe, "trailing")

        def ours(ts=ts):
            with torch.no_grad():
                return ddim(fast, x_T, ts, record=False).x

        def ours_eager(ts=ts):
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
                return ddim(model, x_T, ts, record=False).x

        sched = DDIMScheduler(
            num_train_timesteps=1000,
            beta_schedule="linear",
            timestep_spacing="trailing",
            clip_sample=False,
            set_alpha_to_one=True,
        )
        sched.set_timesteps(nfe)

        def theirs(sched=sched):
            x = x_T
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
                for t in sched.timesteps:
                    eps = net(x, t.float().expand(batch).cuda())
                    x = sched.step(eps, t, x).prev_sample
            return x

        t0 = time.perf_counter()
        ours()
        torch.cuda.synchronize()
        first = time.perf_counter() - t0
        rounds = {"ours": [], "ours_eager": [], "diffusers": []}
        for _ in range(3):
            rounds["ours"].append(cuda_time(ours, repeats=5, warmup=1))
            rounds["ours_eager"].append(cuda_time(ours_eager, repeats=5, warmup=1))
            rounds["diffusers"].append(cuda_time(theirs, repeats=5, warmup=1))
        r = {k + "_images_per_s": batch / statistics.median(v) for k, v in rounds.items()}
        r["ratio"] = r["ours_images_per_s"] / r["diffusers_images_per_s"]
        r["ratio_eager"] = r["ours_eager_images_per_s"] / r["diffusers_images_per_s"]
        a, b, e = ours().float(), theirs().float(), ours_eager().float()
        r["max_abs_diff_vs_diffusers"] = float((a - b).abs().max())
        r["rel_diff_vs_eager"] = float((a - e).norm() / e.norm())
        r["first_call_seconds"] = first
        out[f"nfe{nfe}"] = r
        print("sample", nfe, json.dumps(r), flush=True)
    out["compile_seconds"] = fast.net.compile_seconds
    res["sample"] = out


VARIANT_JOBS = "train:reduce-overhead,train:max-autotune,sample:reduce-overhead"


def part_variants(res: dict) -> None:
    """Compile modes for training (batch 128) and sampling (DDIM 10, batch 256), each in
    its own process under a time limit: images/s and compile seconds, or how far it got.

    $VARIANT_JOBS lists kind:mode pairs (default: the modes the default one is not);
    $VARIANT_LIMIT is each one's limit in seconds, $VARIANT_BUDGET the whole part's.
    A process over its limit is killed with its whole process group (Inductor's
    compile workers included), so nothing it started runs on into later measurements.
    """
    import contextlib
    import os
    import signal
    import subprocess

    from diffusion.images.compile import MODES

    out = {}
    limit = float(os.environ.get("VARIANT_LIMIT", "110"))
    budget = float(os.environ.get("VARIANT_BUDGET", "1e9"))
    jobs = [j.split(":") for j in os.environ.get("VARIANT_JOBS", VARIANT_JOBS).split(",")]
    for kind, mode in jobs:
        if kind not in ("train", "sample") or mode not in (*MODES, "eager"):
            raise ValueError(f"unknown variant {kind}:{mode}")
    t_start = time.perf_counter()
    for kind, mode in jobs:
        left = budget - (time.perf_counter() - t_start)
        if left < 30:
            out[f"{kind}:{mode}"] = {"error": "not run: the part's time budget was spent"}
            continue
        cap = min(limit, left)
        cmd = [sys.executable, __file__, "--variant", f"{kind}:{mode}", "--out", "/tmp/v.json"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            stdout, stderr = proc.communicate(timeout=cap)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        with contextlib.suppress(ProcessLookupError):  # its compile workers too
            os.killpg(proc.pid, signal.SIGKILL)
        if timed_out:
            stdout, stderr = proc.communicate()
        lines = stdout.splitlines()
        result = [ln for ln in lines if ln.startswith("{")]
        progress = [json.loads(ln.split(" ", 1)[1]) for ln in lines if ln.startswith("progress ")]
        if result:
            r = json.loads(result[-1])
        elif timed_out:
            r = {"error": f"did not finish in {cap:.0f} s"}
        else:
            r = {"error": (stderr or stdout)[-600:]}
        compiled = [p for p in progress if "compile_seconds" in p]
        if timed_out and not result:
            r["reached"] = (
                f"compiled in {compiled[0]['compile_seconds']:.0f} s, then "
                f"{sum('images_per_s' in p for p in progress)} timed windows"
                if compiled
                else "no step timed" + (" (still compiling)" if mode != "eager" else "")
            )
        r["wall_seconds"] = round(time.perf_counter() - t0, 1)
        out[f"{kind}:{mode}"] = r
        print("variant", kind, mode, json.dumps(r), flush=True)
        res["variants"] = out
        if OUT_PATH:
            Path(OUT_PATH).write_text(json.dumps(res, indent=2))


def run_variant(spec: str) -> None:
    kind, mode = spec.split(":")
    if kind == "train":
        data = synthetic_images(4096, size=32)
        eager = mode == "eager"
        cfg_mode = "graph" if eager else mode  # the config's mode is unused when eager
        rates, summ = ours_train_round(data, 128, 160, 20, not eager, cfg_mode, echo=True)
        print(
            json.dumps(
                {
                    "images_per_s": statistics.median(rates),
                    "compile_seconds": summ["compile_seconds"],
                    "capture_error": summ["capture_error"],
                }
            )
        )
        return
    from diffusion.grids import make_timesteps
    from diffusion.images.compile import compile_denoiser
    from diffusion.samplers import get_sampler

    _, model, x_T = _sample_setup(256)
    fast = compile_denoiser(model, mode)
    ts = make_timesteps(model.schedule, 10, "trailing")
    ddim = get_sampler("ddim")
    with torch.no_grad():
        t = cuda_time(lambda: ddim(fast, x_T, ts, record=False).x, repeats=10, warmup=2)
    print(json.dumps({"images_per_s": 256 / t, "compile_seconds": fast.net.compile_seconds}))


PARTS = {
    "parity": part_parity,
    "fid": part_fid,
    "forward": part_forward,
    "train": part_train,
    "sample": part_sample,
    "variants": part_variants,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--parts", default="parity,fid,forward,train,sample")
    p.add_argument("--variant", default=None, help="kind:mode, one measurement (internal)")
    p.add_argument("--train-batches", default="128,512")
    p.add_argument("--train-rounds", type=int, default=2)
    args = p.parse_args()
    batches = tuple(int(b) for b in args.train_batches.split(","))
    PARTS["train"] = lambda res: part_train(res, batches, args.train_rounds)
    if args.variant:
        return run_variant(args.variant)
    global OUT_PATH
    OUT_PATH = args.out
    res = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    for name in args.parts.split(","):
        t0 = time.perf_counter()
        try:
            PARTS[name](res)
        except Exception as e:  # keep the other parts' results
            res[name + "_error"] = f"{type(e).__name__}: {e}"
            print(name, "failed:", e, flush=True)
        res.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
        Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
