"""GPU measurements for the image track, run on a CUDA machine; writes one JSON file.

  parity    FID Inception vs pytorch-fid's InceptionV3, one random state dict in both
  fid       feature extraction images/s (ours vs pytorch-fid)
  train     training images/s of the default UNet at 32x32 in bf16: train_images vs the
            same network in a loop written like diffusers' train_unconditional example
  sample    sampling images/s at 10 and 50 NFE: our DDIM vs diffusers' DDIMScheduler loop

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

from diffusion.images.inception import FIDInception  # noqa: E402
from diffusion.images.unet import UNet, count_parameters  # noqa: E402


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
        for _ in range(3):  # interleaved, so clock changes hit both alike
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


def part_train(res: dict) -> None:
    """Ours: ``diffusion.images.train.train_images`` itself (synthetic 32x32 data, the
    default UNet, bf16), images/s from its own log records (a CUDA synchronisation at
    each one). Peer: the same network and batch trained the way diffusers' example
    ``train_unconditional.py`` does it: DDPMScheduler.add_noise, AdamW, EMAModel,
    gradient clipping, bf16 autocast and the loss read every step for its progress
    bar. Rounds alternate; each figure is the median over steady 20-step windows."""
    import tempfile

    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    from diffusion.images.train import TrainConfig, synthetic_images, train_images

    batch, window, steps = 128, 20, 120
    data = synthetic_images(4096, size=32)

    def ours_round() -> list[float]:
        recs = []
        with tempfile.TemporaryDirectory() as d:
            cfg = TrainConfig(
                out=d,
                data="synthetic",
                steps=steps,
                batch_size=batch,
                warmup=100,
                log_every=window,
                ckpt_every=10**9,
                seed=0,
            )
            train_images(cfg, data=data, resume=False, log=recs.append)
        return [r["images_per_s"] for r in recs[1:]]  # the first window holds warm-up

    def peer_round() -> list[float]:
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

    rates = {"ours": [], "diffusers": []}
    for _ in range(3):
        rates["ours"] += ours_round()
        rates["diffusers"] += peer_round()
    out = {
        "batch": batch,
        "params": count_parameters(UNet()),
        "steps_per_timing": window,
        "windows_per_side": len(rates["ours"]),
        "peer": "diffusers train_unconditional.py loop (add_noise, AdamW, EMAModel, "
        "loss.item() per step)",
    }
    for k, v in rates.items():
        out[k + "_images_per_s"] = statistics.median(v)
    out["ratio"] = out["ours_images_per_s"] / out["diffusers_images_per_s"]
    res["train"] = out
    print("train", json.dumps(out), flush=True)


def part_sample(res: dict) -> None:
    from diffusers import DDIMScheduler

    from diffusion.model import DiffusionModel
    from diffusion.samplers import get_sampler
    from diffusion.schedules import linear_schedule, make_timesteps

    net = UNet().cuda().eval().requires_grad_(False)
    model = DiffusionModel(net, linear_schedule(), "eps")
    batch = 256
    x_T = torch.randn(batch, 3, 32, 32, device="cuda")
    ddim = get_sampler("ddim")
    out = {"batch": batch, "dtype": "bf16 autocast"}
    for nfe in (10, 50):
        ts = make_timesteps(model.schedule, nfe, "trailing")

        def ours(ts=ts):
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

        rounds = {"ours": [], "diffusers": []}
        for _ in range(3):
            rounds["ours"].append(cuda_time(ours, repeats=5, warmup=2))
            rounds["diffusers"].append(cuda_time(theirs, repeats=5, warmup=2))
        r = {k + "_images_per_s": batch / statistics.median(v) for k, v in rounds.items()}
        r["ratio"] = r["ours_images_per_s"] / r["diffusers_images_per_s"]
        a, b = ours().float(), theirs().float()
        r["max_abs_diff_vs_diffusers"] = float((a - b).abs().max())
        out[f"nfe{nfe}"] = r
    res["sample"] = out
    print("sample", json.dumps(out), flush=True)


PARTS = {"parity": part_parity, "fid": part_fid, "train": part_train, "sample": part_sample}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--parts", default=",".join(PARTS))
    args = p.parse_args()
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
