"""One training loop over a loss object (the EDM shape: losses are small callables).

DDPM training, progressive distillation and consistency distillation/training all
use ``train`` with their own loss; nothing here prints. Progress goes through a
callback (tqdm in the CLI, st.progress in the app) and a stop predicate.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .schedules import VPSchedule

__all__ = ["EMA", "DDPMLoss", "DivergedError", "TrainResult", "train"]


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class DDPMLoss:
    """The simple DDPM objective (Ho et al. 2020, eq. 14), for eps, x0 or v targets.

    t ~ U{0, ..., T-1}, eps ~ N(0, I), x_t = alpha_t x_0 + sigma_t eps; the network
    net(x_t, t) regresses the chosen target with mean squared error.
    """

    def __init__(self, schedule: VPSchedule, prediction: str = "eps") -> None:
        self.schedule = schedule
        self.prediction = prediction
        self._alpha = schedule.alpha(torch.arange(schedule.T)).float()
        self._sigma = schedule.sigma(torch.arange(schedule.T)).float()

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        b = x0.shape[0]
        dev = x0.device
        t = torch.randint(0, self.schedule.T, (b,), generator=generator, device="cpu")
        eps = torch.randn(x0.shape, generator=generator, device="cpu").to(dev, x0.dtype)
        shape = (b,) + (1,) * (x0.ndim - 1)
        a = self._alpha[t].to(dev, x0.dtype).reshape(shape)
        s = self._sigma[t].to(dev, x0.dtype).reshape(shape)
        x_t = a * x0 + s * eps
        out = net(x_t, t.to(dev, x0.dtype))
        if self.prediction == "eps":
            target = eps
        elif self.prediction == "x0":
            target = x0
        else:
            target = a * eps - s * x0
        return torch.mean((out - target) ** 2)


class EMA:
    """Exponential moving average of a network's parameters (a frozen copy)."""

    def __init__(self, net: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self._ema_tensors = (list(self.net.parameters()), list(self.net.buffers()))
        self._source: tuple | None = None  # (net, its parameters, its buffers)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        # the tensor lists are kept between steps: walking a small network's modules
        # costs as much as the update itself
        if self._source is None or self._source[0] is not net:
            self._source = (net, [p.detach() for p in net.parameters()], list(net.buffers()))
        (ema_params, ema_buffers), (_, params, buffers) = self._ema_tensors, self._source
        if len(ema_params) != len(params) or len(ema_buffers) != len(buffers):
            raise ValueError("EMA.update: the network's parameters changed since the copy")
        torch._foreach_lerp_(ema_params, params, 1.0 - self.decay)
        for b_ema, b in zip(ema_buffers, buffers, strict=True):
            b_ema.copy_(b)


@dataclass
class TrainResult:
    net: nn.Module  # the trained network (EMA weights when ema_decay > 0)
    raw_net: nn.Module  # the online weights
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped: bool = False


def train(
    net: nn.Module,
    loss: Callable[[nn.Module, Tensor, torch.Generator | None], Tensor],
    data: Callable[[int, torch.Generator], Tensor],
    *,
    steps: int,
    batch_size: int = 512,
    lr: float = 1e-3,
    ema_decay: float = 0.999,
    seed: int = 0,
    grad_clip: float | None = 1.0,
    max_seconds: float | None = None,
    callback: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[nn.Module], None] | None = None,
) -> TrainResult:
    """Optimise ``loss(net, x0_batch, generator)`` with Adam for ``steps`` steps.

    data(batch_size, generator) draws a batch of clean data. ``callback(step, loss)``
    reports progress; ``should_stop()`` or ``max_seconds`` end training early (the
    result then says stopped=True). ``on_step(net)`` runs after each update (for
    example a consistency model's EMA target). A NaN/inf loss raises DivergedError
    and leaves ``net`` as it was before that step.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in net.parameters() if p.requires_grad]
    # The fused kernel updates all tensors in one pass: for the 2-D MLPs (14 small
    # tensors) the optimiser step is then a third of the foreach version's time.
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
    opt = torch.optim.Adam(params, lr=lr, fused=fused, foreach=None if fused else True)
    ema = EMA(net, ema_decay) if ema_decay > 0 else None
    result = TrainResult(net=net, raw_net=net)
    start = time.perf_counter()
    net.train()
    for step in range(steps):
        x0 = data(batch_size, gen)
        value = loss(net, x0, gen)
        if not torch.isfinite(value):
            raise DivergedError(
                f"loss became {value.item()} at step {step}; lower the learning rate"
            )
        opt.zero_grad(set_to_none=True)
        value.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
        opt.step()
        if ema is not None:
            ema.update(net)
        if on_step is not None:
            on_step(net)
        v = float(value.detach())
        result.losses.append(v)
        result.steps = step + 1
        if callback is not None:
            callback(step + 1, v)
        over_time = max_seconds is not None and time.perf_counter() - start > max_seconds
        if over_time or (should_stop is not None and should_stop()):
            result.stopped = step + 1 < steps
            break
    net.eval()
    result.seconds = time.perf_counter() - start
    result.net = ema.net if ema is not None else net
    return result
