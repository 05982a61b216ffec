"""Image diffusion training for GPUs: bf16 autocast, EMA, exact resume, DDP.

One process per GPU under ``torchrun`` (DistributedDataParallel, NCCL on GPUs,
gloo on CPUs); a plain ``python`` call runs one process. Usage:

    python -m diffusion images train --data cifar10 --out runs/cifar --steps 100000
    torchrun --nproc_per_node=2 -m diffusion.images.train --data synthetic --out runs/s

Determinism across world sizes: every step draws the *global* batch (data
indices, t, eps) from one generator seeded by ``seed`` and each rank takes its
slice, so a run on N processes computes the same gradient as a single process
with the same global batch (up to the order of floating-point sums). The
generator lives on the training device, so a GPU step needs no host-to-device
copy; a checkpoint therefore resumes on the same kind of device it was written on.

Throughput: the host never waits for the GPU inside a step. Losses stay on the
device and are read (one synchronisation) only every ``log_every`` steps, at a
checkpoint and at the end; that is also where a NaN/inf loss is detected, so no
checkpoint is ever written from diverged weights. Adam is the fused kernel on
CUDA and the EMA one foreach lerp.

Compiled (``compile``, on by default on CUDA, off on a CPU): the network is compiled
with ``torch.compile`` and the whole step is replayed from a CUDA graph, with the
network and its inputs in channels_last (``compile.TrainStep``). The warm-up is paid
once, before the first timed interval, and reported as ``compile_seconds``;
TorchInductor's cache lives in ``<out>/compile_cache`` so a resumed run reuses it.

Checkpoints (``<out>/state.safetensors`` + ``<out>/state.json``, no pickle) hold
the network, its EMA, Adam's moments, every RNG state and the step: a resumed run
continues exactly where it stopped. ``<out>/model.*`` is the EMA network as an
image checkpoint that ``sample`` and the app load.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..io import atomic_write, write_json
from ..schedules import get_schedule
from ..training import DivergedError
from .compile import DEFAULT_MODE, MODES, TrainStep, resolve_compile, use_cache_dir
from .store import save_image_model, sha256_file
from .unet import UNet, UNetConfig

__all__ = ["TrainConfig", "load_training_data", "main", "synthetic_images", "train_images"]

DATASETS = ("cifar10", "synthetic", "digits")


@dataclass
class TrainConfig:
    """Everything a run needs; stored in the checkpoint so resume uses the same run."""

    out: str
    data: str = "cifar10"
    data_root: str | None = None
    steps: int = 1000
    batch_size: int = 128  # global, over all processes
    lr: float = 2e-4
    warmup: int = 1000
    ema_decay: float = 0.9999
    grad_clip: float = 1.0
    prediction: str = "eps"
    schedule: str = "linear"
    T: int = 1000
    seed: int = 0
    bf16: bool = True  # autocast on CUDA; ignored on CPU
    log_every: int = 50
    ckpt_every: int = 1000
    unet: dict = field(default_factory=dict)  # UNetConfig overrides
    compile: bool | None = None  # None: on for CUDA, off for CPU
    compile_mode: str = DEFAULT_MODE

    def check(self) -> None:
        if self.compile_mode not in MODES:
            raise ValueError(
                f"unknown compile mode {self.compile_mode!r}; choose one of {', '.join(MODES)}"
            )
        if self.data not in DATASETS:
            raise ValueError(
                f"unknown image dataset {self.data!r}; choose one of {', '.join(DATASETS)}"
            )
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"unknown prediction {self.prediction!r}; choose eps or v")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch size must be at least 1")


def synthetic_images(n: int = 4096, size: int = 32, channels: int = 3, seed: int = 1234) -> Tensor:
    """A fixed synthetic dataset (no download): smooth random colour fields.

    Low-resolution Gaussian noise upsampled bicubically and squashed by tanh gives
    images with image-like spatial correlation, in [-1, 1]. (n, C, size, size).
    """
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, channels, 4, 4, generator=g) * 1.5
    return torch.tanh(F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False))


def load_training_data(cfg: TrainConfig) -> Tensor:
    """The whole training set as float32 (N, C, H, W) in [-1, 1]."""
    if cfg.data == "cifar10":
        from .cifar import load_cifar10, to_model_range

        images, _ = load_cifar10("train", root=cfg.data_root)
        return to_model_range(images)
    if cfg.data == "digits":
        from .digits import load_digits

        return load_digits()[0]
    size = int(cfg.unet.get("image_size", 32))
    return synthetic_images(size=size, channels=int(cfg.unet.get("in_channels", 3)))


def _dist_info() -> tuple[int, int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


# ----- checkpoint of the whole training state ------------------------------------


def _save_state(out: Path, step: int, net, ema, opt, gen, losses, cfg) -> None:
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    groups = [  # a compiled run keeps lr as a device tensor
        {k: float(v) if isinstance(v, Tensor) else v for k, v in g.items()}
        for g in opt_state["param_groups"]
    ]
    for idx, st in opt_state["state"].items():
        for key, val in st.items():
            tensors[f"opt.{idx}.{key}"] = torch.as_tensor(val)
    tensors["rng.data"] = gen.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    weights = out / "state.safetensors"
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp)))
    meta = {
        "step": step,
        "config": asdict(cfg),
        "param_groups": groups,
        "losses": losses,
        "device": gen.device.type,  # where the data generator's stream lives
        "sha256": sha256_file(weights),
    }
    write_json(out / "state.json", meta)


def _load_state(out: Path, net, ema, opt, gen, device) -> tuple[int, list[float]]:
    meta = json.loads((out / "state.json").read_text())
    written_on = meta.get("device", "cpu")
    if written_on != gen.device.type:
        raise ValueError(
            f"{out} was written on {written_on} and this run is on {gen.device.type}; "
            f"resume on {written_on}, or start a new run in a new --out directory"
        )
    weights = out / "state.safetensors"
    if sha256_file(weights) != meta["sha256"]:
        raise ValueError(f"{weights} is corrupt (sha256 mismatch); cannot resume")
    t = load_file(str(weights))
    net.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("net.")})
    ema.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("ema.")})
    state: dict[int, dict] = {}
    for k, v in t.items():
        if k.startswith("opt."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v.to(device) if v.ndim else v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    gen.set_state(t["rng.data"])
    torch.set_rng_state(t["rng.torch"])
    if "rng.cuda" in t and torch.cuda.is_available():
        torch.cuda.set_rng_state(t["rng.cuda"])
    return int(meta["step"]), list(meta["losses"])


# ----- the loop ----------------------------------------------------------------------


@dataclass
class _Run:
    """One process's share of a training run: where it runs, what it trains, its data."""

    cfg: TrainConfig
    rank: int
    world: int
    device: torch.device
    out: Path
    x_all: Tensor  # the whole training set, on the host
    x_dev: Tensor  # the same, on the training device
    net: nn.Module
    ema: nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator  # the global batch's stream
    lr_t: Tensor | None = None  # the learning rate as a device tensor (compiled runs)

    @property
    def local(self) -> int:
        """This process's share of the global batch."""
        return self.cfg.batch_size // self.world


def train_images(
    cfg: TrainConfig,
    *,
    data: Tensor | None = None,
    resume: bool = True,
    log: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate: Callable[[int, nn.Module], bool] | None = None,
    eval_every: int = 1000,
) -> dict:
    """Train (or resume) an image UNet; returns a summary dict.

    ``data`` overrides the dataset (float32 (N, C, H, W) in [-1, 1]). ``log(record)``
    receives {"step", "loss", "lr", "images_per_s", "seconds"} every ``log_every``
    steps on rank 0 (also appended to <out>/log.jsonl).

    ``evaluate(step, net)`` is called every ``eval_every`` steps and at the last one
    with the network that would be saved (the EMA one); it must not change it. When it
    returns True, training stops there (the model is saved as at any stop). Its time
    is left out of ``seconds``, ``images_per_s`` and the log's rates and reported as
    ``eval_seconds``. One process only.
    """
    cfg.check()
    if evaluate is not None and eval_every < 1:
        raise ValueError("eval_every must be at least 1")
    run = _start_run(cfg, data)
    if evaluate is not None and run.world > 1:
        raise ValueError("evaluation during training runs in one process only")
    step, losses = _resume_or_seed(run, resume)
    compiled = resolve_compile(cfg.compile, run.device)
    if compiled:
        _use_compiled_layout(run)
    for group in run.opt.param_groups:
        group["capturable"] = compiled
        if compiled:
            group["lr"] = run.lr_t
    body = _step_body(run, compiled)
    run_step, compile_seconds, capture_error = body, 0.0, None
    if compiled and step < cfg.steps:
        trainer = _capture_step(run, body, step, log)
        run_step, compile_seconds = trainer, trainer.compile_seconds
        capture_error = trainer.capture_error

    start_step, t0 = step, time.perf_counter()
    check = None if evaluate is None else (eval_every, evaluate)
    step, eval_seconds = _train_loop(run, run_step, step, losses, t0, log, should_stop, check)
    seconds = time.perf_counter() - t0 - eval_seconds
    _save_model(run, compiled, step)
    return {
        "steps": step,
        "losses": losses,
        "seconds": seconds,
        "world_size": run.world,
        "images_per_s": (step - start_step) * cfg.batch_size / max(seconds, 1e-9),
        "rank": run.rank,
        "compiled": compiled,
        "compile_mode": cfg.compile_mode if compiled else None,
        "compile_seconds": compile_seconds,
        "capture_error": capture_error,
        "eval_seconds": eval_seconds,
    }


def _start_run(cfg: TrainConfig, data: Tensor | None) -> _Run:
    """This process's place in the run, its data, the network, its EMA and Adam."""
    rank, world, local_rank = _dist_info()
    if cfg.batch_size % world:
        raise ValueError(f"batch size {cfg.batch_size} is not divisible by {world} processes")
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    out = Path(cfg.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    x_all = (data if data is not None else load_training_data(cfg)).float()
    unet_cfg = UNetConfig.from_dict(
        {"image_size": x_all.shape[-1], "in_channels": x_all.shape[1], **cfg.unet}
    )
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    net = UNet(unet_cfg).to(device)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, fused=device.type == "cuda")
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    return _Run(cfg, rank, world, device, out, x_all, x_all.to(device), net, ema, opt, gen)


def _resume_or_seed(run: _Run, resume: bool) -> tuple[int, list[float]]:
    """The step and losses so far (from the checkpoint when resuming), with this rank's
    dropout stream seeded."""
    cfg = run.cfg
    step, losses = 0, []
    # Dropout noise differs per rank, as it should; seeded so runs repeat.
    torch.manual_seed(cfg.seed + 1000 * run.rank)
    if resume and (run.out / "state.json").exists():
        step, losses = _load_state(run.out, run.net, run.ema, run.opt, run.gen, run.device)
        if run.rank > 0:  # the checkpoint holds rank 0's generator; the others reseed
            torch.manual_seed(cfg.seed + 1000 * run.rank + step)
    return step, losses


def _use_compiled_layout(run: _Run) -> None:
    """channels_last suits cuDNN's and Inductor's convolutions in bf16; the optimiser
    takes its learning rate from a device tensor so a captured step can follow the
    warm-up schedule."""
    run.net.to(memory_format=torch.channels_last)
    run.ema.to(memory_format=torch.channels_last)
    with torch.no_grad():  # resumed moments take their parameter's layout (fused Adam)
        for p_, st in run.opt.state.items():
            for k, v in st.items():
                if isinstance(v, Tensor) and v.shape == p_.shape:
                    st[k] = torch.empty_like(p_).copy_(v)
    torch.backends.cudnn.benchmark = True
    use_cache_dir(run.out / "compile_cache")
    run.lr_t = torch.tensor(run.cfg.lr, device=run.device)


def _step_body(run: _Run, compiled: bool) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """One optimisation step on a drawn batch (the DDPM loss, Ho et al. 2020, eq. 14,
    or its v form, Salimans & Ho 2022), then the EMA update; returns the loss (on the device)."""
    cfg, device, opt = run.cfg, run.device, run.opt
    model = nn.parallel.DistributedDataParallel(run.net) if run.world > 1 else run.net
    sch = get_schedule(cfg.schedule, cfg.T)
    alphas = sch.alpha(torch.arange(cfg.T)).float().to(device)
    sigmas = sch.sigma(torch.arange(cfg.T)).float().to(device)
    use_bf16 = cfg.bf16 and device.type == "cuda"
    params, ema_params = list(run.net.parameters()), list(run.ema.parameters())
    fwd = model
    if compiled:
        from .compile import compile_net

        fwd = compile_net(model, cfg.compile_mode)

    def body(x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        a, s = alphas[t].view(-1, 1, 1, 1), sigmas[t].view(-1, 1, 1, 1)
        x_t = a * x0 + s * eps
        target = eps if cfg.prediction == "eps" else a * eps - s * x0
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out_net = fwd(x_t, t.float())
        loss = F.mse_loss(out_net.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1.0 - cfg.ema_decay)
        return loss

    return body


def _capture_step(run: _Run, body, step: int, log) -> TrainStep:
    """The step compiled and, on one process, captured in a CUDA graph; the warm-up
    runs on example batches from a generator of its own, not the run's."""
    cfg, device, local = run.cfg, run.device, run.local
    local_shape = (local, *run.x_all.shape[1:])
    cl, g = torch.channels_last, torch.Generator(device).manual_seed(0)  # not the run's
    trainer = TrainStep(
        body,
        example=(
            torch.randn(local_shape, generator=g, device=device).contiguous(memory_format=cl),
            torch.randint(0, cfg.T, (local,), generator=g, device=device),
            torch.randn(local_shape, generator=g, device=device).contiguous(memory_format=cl),
        ),
        net=run.net,
        ema=run.ema,
        opt=run.opt,
        lr=run.lr_t,
        mode=cfg.compile_mode,
        capture=run.world == 1,
    )
    if run.rank == 0 and log is not None:
        log(
            {
                "step": step,
                "compile_seconds": trainer.compile_seconds,
                "compile_mode": cfg.compile_mode,
                "captured": trainer.captured,
                "capture_error": trainer.capture_error,
            }
        )
    return trainer


def _train_loop(
    run: _Run, run_step, step: int, losses: list[float], t0: float, log, should_stop, check=None
) -> tuple[int, float]:
    """Steps until cfg.steps, should_stop() or a passed check; logs and checkpoints on
    the way. ``check`` is (every, evaluate) (see ``train_images``). Returns the step
    reached and the seconds spent evaluating; ``losses`` grows by every step's loss."""
    cfg = run.cfg
    start_step, t_log, eval_seconds = step, t0, 0.0
    pending: list[Tensor] = []  # this interval's losses, still on the device
    run.net.train()
    while step < cfg.steps:
        batch = _draw_batch(run)
        lr = _set_lr(run, step)
        loss = run_step(*batch)
        step += 1
        pending.append(_global_mean(run, loss.detach()))
        passed = False
        if check is not None and (step % check[0] == 0 or step == cfg.steps):
            passed, dt = _evaluate(run, check[1], step)
            eval_seconds += dt
            t0, t_log = t0 + dt, t_log + dt  # the rates and times count training only
        stop = passed or (should_stop is not None and should_stop())
        save = step % cfg.ckpt_every == 0 or step == cfg.steps or stop
        logged = step % cfg.log_every == 0 or step == cfg.steps
        if logged or save:
            v = _flush(pending, losses)
            if run.rank == 0 and logged:
                n_steps = min(step - start_step, cfg.log_every)
                t_log = _write_log(run, step, v, lr, n_steps, t0, t_log, log)
        if save:
            _checkpoint(run, step, losses)
        if stop:
            break
    return step, eval_seconds


def _evaluate(run: _Run, evaluate, step: int) -> tuple[bool, float]:
    """``evaluate(step, net)`` on the network that would be saved; its verdict and the
    seconds it took (the device synchronised on both sides)."""
    sync = torch.cuda.synchronize if run.device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    passed = bool(evaluate(step, run.ema if run.cfg.ema_decay > 0 else run.net))
    sync()
    return passed, time.perf_counter() - t


def _draw_batch(run: _Run) -> tuple[Tensor, Tensor, Tensor]:
    """The global batch (data, t, eps) from one generator; this rank's slice of it."""
    cfg, gen, device = run.cfg, run.gen, run.device
    shape = (cfg.batch_size, *run.x_all.shape[1:])
    idx = torch.randint(0, len(run.x_all), (cfg.batch_size,), generator=gen, device=device)
    t = torch.randint(0, cfg.T, (cfg.batch_size,), generator=gen, device=device)
    eps = torch.randn(shape, generator=gen, device=device)
    lo, hi = run.rank * run.local, (run.rank + 1) * run.local
    idx, t, eps = idx[lo:hi], t[lo:hi], eps[lo:hi]
    return run.x_dev[idx], t, eps


def _set_lr(run: _Run, step: int) -> float:
    """The learning rate of this step (linear warm-up), set in the optimiser."""
    cfg = run.cfg
    lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))
    if run.lr_t is not None:
        run.lr_t.fill_(lr)
    else:
        for group in run.opt.param_groups:
            group["lr"] = lr
    return lr


def _global_mean(run: _Run, value: Tensor) -> Tensor:
    """The global-batch mean of the loss, comparable across world sizes."""
    if run.world > 1:
        dist.all_reduce(value)
        value = value / run.world
    return value


def _flush(pending: list[Tensor], losses: list[float]) -> float:
    """Read the pending losses (one synchronisation) into ``losses``; stop on a
    non-finite one. Returns the last."""
    values = torch.stack(pending).tolist()
    first = len(losses) + 1
    pending.clear()
    for i, v in enumerate(values):
        if not math.isfinite(v):
            raise DivergedError(f"loss became {v} at step {first + i}; lower the learning rate")
    losses.extend(values)
    return values[-1]


def _write_log(run: _Run, step, loss, lr, n_steps, t0, t_log, log) -> float:
    """One record to <out>/log.jsonl and to ``log``; returns its time, the start of the
    next interval."""
    cfg = run.cfg
    now = time.perf_counter()
    rec = {
        "step": step,
        "loss": loss,
        "lr": lr,
        "images_per_s": n_steps * cfg.batch_size / max(now - t_log, 1e-9),
        "seconds": now - t0,
    }
    with open(run.out / "log.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    if log is not None:
        log(rec)
    return now


def _checkpoint(run: _Run, step: int, losses: list[float]) -> None:
    """Rank 0 writes the whole training state; the others wait for it."""
    if run.rank == 0:
        _save_state(run.out, step, run.net, run.ema, run.opt, run.gen, losses, run.cfg)
    if run.world > 1:
        dist.barrier()


def _save_model(run: _Run, compiled: bool, step: int) -> None:
    """Rank 0 writes the EMA network (the raw one without EMA) as an image checkpoint."""
    cfg = run.cfg
    if compiled:  # checkpoints are written in the default (contiguous) layout
        run.net.to(memory_format=torch.contiguous_format)
        run.ema.to(memory_format=torch.contiguous_format)
    if run.rank == 0:
        save_image_model(
            run.out / "model",
            run.ema if cfg.ema_decay > 0 else run.net,
            {
                "name": f"{cfg.data}-unet",
                "kind": "diffusion",
                "prediction": cfg.prediction,
                "schedule": {"name": cfg.schedule, "T": cfg.T},
                "dataset": cfg.data,
                "training": {"steps": step, "batch_size": cfg.batch_size, "seed": cfg.seed},
            },
        )


# ----- command line ------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="cifar10", choices=DATASETS)
    p.add_argument("--data-root", default=None, help="folder or tarball of CIFAR-10")
    p.add_argument("--out", required=True, help="run folder (checkpoints, log.jsonl)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128, help="global batch size")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--ema-decay", type=float, default=0.9999)
    p.add_argument("--prediction", default="eps", choices=("eps", "v"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-bf16", action="store_true", help="train in float32")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile + a CUDA graph of the whole step (default: on with CUDA, off on CPU)",
    )
    p.add_argument("--compile-mode", default=DEFAULT_MODE, choices=MODES)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-every", type=int, default=1000)
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--base-channels", type=int, default=None)
    p.add_argument("--channel-mult", default=None, help="e.g. 1,2,2,2")
    p.add_argument("--num-res-blocks", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None, help="synthetic data only")
    p.add_argument("--groups", type=int, default=None)
    p.add_argument("--dropout", type=float, default=None)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    unet: dict = {}
    if args.base_channels is not None:
        unet["base_channels"] = args.base_channels
    if args.channel_mult:
        unet["channel_mult"] = [int(m) for m in args.channel_mult.split(",")]
    if args.num_res_blocks is not None:
        unet["num_res_blocks"] = args.num_res_blocks
    if args.image_size is not None:
        unet["image_size"] = args.image_size
    if args.groups is not None:
        unet["groups"] = args.groups
    if args.dropout is not None:
        unet["dropout"] = args.dropout
    if args.data == "digits":
        from .digits import DIGITS_UNET

        unet = {**DIGITS_UNET.to_dict(), **unet}
    return TrainConfig(
        out=args.out,
        data=args.data,
        data_root=args.data_root,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        ema_decay=args.ema_decay,
        prediction=args.prediction,
        seed=args.seed,
        bf16=not args.no_bf16,
        log_every=args.log_every,
        ckpt_every=args.ckpt_every,
        unet=unet,
        compile=args.compile,
        compile_mode=args.compile_mode,
    )


def run_from_args(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)

    def log(rec: dict) -> None:
        if "compile_seconds" in rec:
            print(
                f"compiled ({rec['compile_mode']}) in {rec['compile_seconds']:.1f} s"
                + ("" if rec["captured"] else f"; not captured: {rec['capture_error']}"),
                flush=True,
            )
            return
        print(
            f"step {rec['step']:>7}  loss {rec['loss']:.5f}  lr {rec['lr']:.2e}  "
            f"{rec['images_per_s']:,.0f} img/s  {rec['seconds']:.1f} s",
            flush=True,
        )

    summary = train_images(cfg, resume=not args.no_resume, log=log)
    if summary["rank"] == 0:
        print(
            f"done: {summary['steps']} steps on {summary['world_size']} process(es), "
            f"{summary['images_per_s']:,.0f} img/s; model at {Path(cfg.out) / 'model'}",
            flush=True,
        )
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="diffusion.images.train", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except (ValueError, FileNotFoundError, DivergedError) as e:
        print(f"error: {e}", file=__import__("sys").stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
