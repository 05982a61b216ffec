"""Consistency models (Song et al. 2023): distillation (CD, Alg. 2) and training (CT, Alg. 3),
plus the improved training recipe iCT (Song & Dhariwal 2023).

A consistency function maps every point of a probability-flow ODE trajectory to the
trajectory's start at the smallest noise level, so one evaluation at pure noise samples.

VP adaptation. The paper works with the variance-exploding (VE) process x = x_0 + sigma z.
Our VP x_t divided by alpha_t is exactly that process with sigma = sigma_bar_t =
sigma_t / alpha_t (schedules.VPSchedule.sigma_bar), and the DDIM ODE is the VE ODE in
sigma_bar. So everything here works in the x/alpha view:

    f_theta(x_t, t) = c_skip(t) x_t / alpha_t + c_out(t) F_theta(x_t, t)          (paper eq. 5)
    c_skip = sigma_data^2 / ((sigma_bar - sigma_bar_min)^2 + sigma_data^2)
    c_out  = sigma_data (sigma_bar - sigma_bar_min) / sqrt(sigma_data^2 + sigma_bar^2)

(paper App. C, with eps = sigma_bar_min = sigma_bar at t = 0). At t = 0, c_skip = 1 and
c_out = 0, so f(x, 0) = x / alpha_0 exactly: the identity in the x/alpha view, which is the
boundary condition f(x, eps) = x. The network F sees the VP x_t (already unit-scaled,
EDM's c_in) and the float timestep t, like every denoiser of the package.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..model import DiffusionModel
from ..nets import build_net, register_net
from ..samplers.steps import eps_from_x0, euler_step, heun_step
from ..schedules import VPSchedule, get_schedule
from ..training import EMA, DivergedError, train
from .progressive import as_data_fn, check_teacher, student_config

__all__ = [
    "DISTANCES",
    "SOLVERS",
    "ConsistencyDistillationLoss",
    "ConsistencyFunction",
    "ConsistencyTrainingLoss",
    "consistency_distillation",
    "consistency_model",
    "consistency_training",
    "ct_schedule",
    "ict_schedule",
    "karras_timesteps",
    "pseudo_huber",
]

DISTANCES = ("l2", "pseudo-huber")
SOLVERS = ("ddim", "heun")


class ConsistencyFunction(nn.Module):
    """f_theta(x_t, t) = c_skip(t) x_t / alpha_t + c_out(t) F_theta(x_t, t), boundary built in.

    Args:
        backbone: the network F_theta(x, t) -> (B, *D), or a config dict for build_net.
        schedule: the VP schedule, or {"name": ..., "T": ...}.
        sigma_data: the data's standard deviation in the c_skip / c_out scalings.

    forward(x: (B, *D), t: (B,)) -> (B, *D), the clean estimate. Registered as network
    type "consistency" so checkpoints rebuild it from ``config``.
    """

    def __init__(
        self,
        backbone: nn.Module | dict,
        schedule: VPSchedule | dict,
        sigma_data: float = 0.5,
    ) -> None:
        super().__init__()
        if isinstance(backbone, dict):
            backbone = build_net(backbone)
        if isinstance(schedule, dict):
            schedule = get_schedule(schedule.get("name", "linear"), int(schedule.get("T", 1000)))
        if not sigma_data > 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data}")
        self.backbone = backbone
        self.schedule = schedule
        self.sigma_data = float(sigma_data)
        self.sigma_bar_min = float(schedule.sigma_bar(schedule.t_min))
        self.config = {
            "type": "consistency",
            "backbone": dict(getattr(backbone, "config", {})),
            "schedule": {"name": schedule.name, "T": schedule.T},
            "sigma_data": self.sigma_data,
        }

    def scalings(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """alpha_t, c_skip(t), c_out(t) for t: (B,), float64.

        Computed once per distinct t (training draws t from a grid of at most a few
        hundred levels) and looked up per sample."""
        levels, inverse = torch.unique(t.detach().to("cpu", torch.float64), return_inverse=True)
        sb = self.schedule.sigma_bar(levels)
        sd, sb_min = self.sigma_data, self.sigma_bar_min
        c_skip = sd**2 / ((sb - sb_min) ** 2 + sd**2)
        c_out = sd * (sb - sb_min) / torch.sqrt(sd**2 + sb**2)
        alpha = self.schedule.alpha(levels)
        index = inverse.reshape(-1)
        return tuple(c.index_select(0, index).reshape(t.shape) for c in (alpha, c_skip, c_out))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        alpha, c_skip, c_out = self.scalings(t)
        shape = (-1,) + (1,) * (x.ndim - 1)
        alpha, c_skip, c_out = (
            c.to(x.device, x.dtype).reshape(shape) for c in (alpha, c_skip, c_out)
        )
        return c_skip * (x / alpha) + c_out * self.backbone(x, t)


register_net("consistency", ConsistencyFunction)


def consistency_model(
    fn: ConsistencyFunction, name: str = "consistency", config: dict | None = None
) -> DiffusionModel:
    """Wrap a consistency function as a DiffusionModel predicting x0 (so the registry's
    ``consistency`` sampler, and every other sampler, can run it)."""
    config = config or {}
    return DiffusionModel(
        fn,
        fn.schedule,
        prediction="x0",
        name=name,
        sample_shape=tuple(config.get("sample_shape", (2,))),
        config=config,
    )


def karras_timesteps(schedule: VPSchedule, N: int, rho: float = 7.0) -> Tensor:
    """t_1 < ... < t_N (ascending, float64) whose sigma_bar follow the Karras grid (EDM eq. 5,
    CM Sec. 5) from sigma_bar_min (t_1 = 0) to sigma_bar_max (t_N = T-1)."""
    if N < 2:
        raise ValueError(f"the discretisation N must be at least 2, got {N}")
    s_min, s_max = schedule.sigma_bar(schedule.t_min), schedule.sigma_bar(schedule.t_max)
    u = torch.linspace(0, 1, N, dtype=torch.float64)
    sb = (s_min ** (1 / rho) + u * (s_max ** (1 / rho) - s_min ** (1 / rho))) ** rho
    ts = schedule.t_from_sigma_bar(sb).clamp(schedule.t_min, schedule.t_max)
    ts[0], ts[-1] = schedule.t_min, schedule.t_max
    return ts


def pseudo_huber(a: Tensor, b: Tensor, c: float | None = None) -> Tensor:
    """sqrt(||a - b||^2 + c^2) - c per sample (Song & Dhariwal 2023, eq. 12);
    default c = 0.00054 sqrt(d) with d the data dimension."""
    d = a[0].numel()
    c = 0.00054 * math.sqrt(d) if c is None else c
    sq = ((a - b) ** 2).reshape(a.shape[0], -1).sum(1)
    return torch.sqrt(sq + c**2) - c


def _distance(name: str, a: Tensor, b: Tensor, c: float | None) -> Tensor:
    if name == "l2":
        return ((a - b) ** 2).reshape(a.shape[0], -1).mean(1)
    return pseudo_huber(a, b, c)


def ct_schedule(k: int, K: int, s0: int = 2, s1: int = 150, mu0: float = 0.9) -> tuple[int, float]:
    """CT's discretisation N(k) and target decay mu(k) at step k of K (Song et al. 2023, App. C):
    N(k) = ceil(sqrt(k/K ((s1+1)^2 - s0^2) + s0^2) - 1) + 1, mu(k) = exp(s0 log(mu0) / N(k))."""
    n = math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2) - 1) + 1
    return n, math.exp(s0 * math.log(mu0) / n)


def ict_schedule(k: int, K: int, s0: int = 10, s1: int = 1280) -> int:
    """iCT's exponential curriculum (Song & Dhariwal 2023, eq. 11):
    N(k) = min(s0 2^floor(k/K'), s1) + 1, K' = floor(K / (log2(s1/s0) + 1))."""
    k_prime = max(1, math.floor(K / (math.log2(s1 // s0) + 1)))
    return min(s0 * 2 ** (k // k_prime), s1) + 1


class _PairLoss:
    """What CD and CT share: the grid, the noisy pair and the distance."""

    def __init__(self, schedule: VPSchedule, N: int, distance: str, huber_c: float | None) -> None:
        if distance not in DISTANCES:
            raise ValueError(f"unknown distance {distance!r}; choose one of {', '.join(DISTANCES)}")
        self.schedule = schedule
        self.distance = distance
        self.huber_c = huber_c
        self.set_N(N)

    def set_N(self, N: int) -> None:
        if getattr(self, "N", None) == N:
            return
        self.N = N
        ts = karras_timesteps(self.schedule, N)
        self.t = ts.float()
        self.alpha = self.schedule.alpha(ts).float()
        self.sigma = self.schedule.sigma(ts).float()
        self.sigma_bar = self.schedule.sigma_bar(ts).float()

    def _at(self, n: Tensor, x: Tensor):
        shape = (-1,) + (1,) * (x.ndim - 1)
        return (
            self.t[n].to(x),
            self.alpha[n].to(x).reshape(shape),
            self.sigma[n].to(x).reshape(shape),
            self.sigma_bar[n].to(x).reshape(shape),
        )


class ConsistencyDistillationLoss(_PairLoss):
    """CD loss (Song et al. 2023, Alg. 2):
    d(f_theta(x_{t_{n+1}}, t_{n+1}), f_theta-(x-hat_{t_n}, t_n)),
    where x-hat_{t_n} is one teacher ODE step from x_{t_{n+1}} (DDIM = Euler in sigma_bar,
    or Heun), and theta- is the EMA target network ``target``."""

    def __init__(
        self,
        teacher: DiffusionModel,
        target: nn.Module,
        N: int = 18,
        solver: str = "heun",
        distance: str = "l2",
        huber_c: float | None = None,
    ) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"unknown ODE solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        super().__init__(teacher.schedule, N, distance, huber_c)
        self.teacher = teacher
        self.target = target
        self.solver = solver

    @torch.no_grad()
    def _teacher_step(self, x: Tensor, n: Tensor) -> Tensor:
        """x_{t_{n+1}} -> x-hat_{t_n} by one step of the probability-flow ODE in sigma_bar
        (``samplers.steps``: Euler, which is DDIM, or Heun, EDM Alg. 1). The slope
        dz/dsigma_bar of z = x/alpha is (z - x0-hat)/sigma_bar = eps-hat, taken from the
        teacher's x0-hat so that every prediction type steps the same way."""
        t1, a1, s1, sb1 = self._at(n + 1, x)
        t0, a0, s0, sb0 = self._at(n, x)
        eps1 = eps_from_x0(x, self.teacher.predict(x, t1, a1, s1).x0, a1, s1)
        x_euler = euler_step(x, eps1, a1, sb1, a0, sb0)
        if self.solver == "ddim":
            return x_euler
        eps0 = eps_from_x0(x_euler, self.teacher.predict(x_euler, t0, a0, s0).x0, a0, s0)
        return heun_step(x, eps1, eps0, a1, sb1, a0, sb0)

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        b = x0.shape[0]
        n = torch.randint(0, self.N - 1, (b,), generator=generator)
        eps = torch.randn(x0.shape, generator=generator).to(x0)
        t1, a1, s1, _ = self._at(n + 1, x0)
        x1 = a1 * x0 + s1 * eps
        x_prev = self._teacher_step(x1, n)
        with torch.no_grad():
            target = self.target(x_prev, self.t[n].to(x0))
        return _distance(self.distance, net(x1, t1), target, self.huber_c).mean()


class ConsistencyTrainingLoss(_PairLoss):
    """CT loss (Song et al. 2023, Alg. 3): the pair shares its noise,
    x_{t_n} = alpha_n (x_0 + sigma_bar_n z) and x_{t_{n+1}} = alpha_{n+1} (x_0 + sigma_bar_{n+1} z)
    (VP scale); no teacher.

    improved=True is iCT (Song & Dhariwal 2023): pseudo-Huber distance, the target is the
    online network under stop-gradient (no EMA), n drawn from the lognormal-based
    distribution (eq. 13 with P_mean, P_std) and weighted by 1/(sigma_bar_{n+1} - sigma_bar_n).
    ``step(k)`` advances the N(k) curriculum; the outer loop calls it every step.
    """

    def __init__(
        self,
        schedule: VPSchedule,
        total_steps: int,
        *,
        improved: bool = False,
        target: nn.Module | None = None,
        distance: str | None = None,
        huber_c: float | None = None,
        p_mean: float = -1.1,
        p_std: float = 2.0,
        s0: int | None = None,
        s1: int | None = None,
    ) -> None:
        self.improved = improved
        self.total_steps = total_steps
        self.p_mean, self.p_std = p_mean, p_std
        self.s0 = s0 if s0 is not None else (10 if improved else 2)
        self.s1 = s1 if s1 is not None else (1280 if improved else 150)
        self.target = target
        self.mu = 0.0
        distance = distance or ("pseudo-huber" if improved else "l2")
        super().__init__(schedule, self._N(0), distance, huber_c)

    def _N(self, k: int) -> int:
        if self.improved:
            return ict_schedule(k, self.total_steps, self.s0, self.s1)
        n, self.mu = ct_schedule(k, self.total_steps, self.s0, self.s1)
        return n

    def step(self, k: int) -> None:
        self.set_N(self._N(k))

    def _draw_n(self, b: int, generator: torch.Generator | None) -> Tensor:
        if not self.improved:
            return torch.randint(0, self.N - 1, (b,), generator=generator)
        # iCT eq. 13: p(n) prop. to
        # erf((log sb_{n+1} - P_mean)/(sqrt2 P_std)) - erf((log sb_n - P_mean)/(sqrt2 P_std))
        log_sb = torch.log(self.sigma_bar.double())
        cdf = torch.erf((log_sb - self.p_mean) / (math.sqrt(2) * self.p_std))
        p = (cdf[1:] - cdf[:-1]).clamp(min=0)
        return torch.multinomial(p / p.sum(), b, replacement=True, generator=generator)

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        b = x0.shape[0]
        n = self._draw_n(b, generator)
        z = torch.randn(x0.shape, generator=generator).to(x0)
        t1, a1, _, sb1 = self._at(n + 1, x0)
        t0, a0, _, sb0 = self._at(n, x0)
        x1, x_prev = a1 * (x0 + sb1 * z), a0 * (x0 + sb0 * z)
        target_net = net if self.target is None else self.target
        with torch.no_grad():
            target = target_net(x_prev, t0)
        d = _distance(self.distance, net(x1, t1), target, self.huber_c)
        if self.improved:
            d = d / (sb1 - sb0).reshape(b)
        return d.mean()


def _estimate_sigma_data(draw, generator_seed: int) -> float:
    x = draw(4096, torch.Generator().manual_seed(generator_seed))
    return float(x.std(0).pow(2).mean().sqrt())


def _fewstep_config(base: dict | None, fn: ConsistencyFunction, kind: str, info: dict) -> dict:
    cfg = student_config(
        base,
        kind=kind,
        prediction="x0",
        net=fn.config,
        schedule={"name": fn.schedule.name, "T": fn.schedule.T},
        sampling={"sampler": "consistency"},
        training=info,
    )
    cfg.setdefault("sample_shape", [2])
    return cfg


def consistency_distillation(
    teacher: DiffusionModel,
    data: Tensor | Callable[[int, torch.Generator], Tensor],
    *,
    steps: int = 3000,
    N: int = 18,
    solver: str = "heun",
    distance: str = "l2",
    huber_c: float | None = None,
    mu: float = 0.95,
    sigma_data: float | None = None,
    batch_size: int = 512,
    lr: float = 1e-3,
    ema_decay: float = 0.99,
    init_from_teacher: bool = True,
    net: nn.Module | None = None,
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_seconds: float | None = None,
) -> DiffusionModel:
    """Consistency distillation of ``teacher`` (Song et al. 2023, Alg. 2).

    The backbone F_theta copies the teacher's network (and weights, if init_from_teacher),
    or is ``net`` when given (any teacher then works, the exact GMM oracle included);
    the target theta- follows theta with decay ``mu`` after every step; the returned model
    uses the EMA (``ema_decay``) of theta. sigma_data defaults to the data's RMS std.
    Returns a DiffusionModel (prediction 'x0', kind 'consistency') for the ``consistency`` sampler.
    """
    check_teacher(teacher, needs_net=net is None)
    if not 0.0 <= mu < 1.0:
        raise ValueError(f"mu must lie in [0, 1), got {mu}")
    draw = as_data_fn(data)
    sd = sigma_data if sigma_data is not None else _estimate_sigma_data(draw, seed)
    if net is not None:
        backbone = net
    elif init_from_teacher:
        backbone = copy.deepcopy(teacher.net)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = build_net(teacher.net.config)
    backbone.requires_grad_(True)
    fn = ConsistencyFunction(backbone, teacher.schedule, sd)
    target = EMA(fn, mu)
    loss = ConsistencyDistillationLoss(teacher, target.net, N, solver, distance, huber_c)
    run = _Run(steps, batch_size, lr, ema_decay, seed, callback, should_stop, max_seconds)
    net_out, record = run.train(fn, loss, draw, on_step=target.update)
    info = {
        "method": "cd",
        **record,
        "N": N,
        "solver": solver,
        "distance": distance,
        "mu": mu,
    }
    cfg = _fewstep_config(teacher.config, net_out, "consistency", info)
    return consistency_model(net_out, f"{teacher.name}-cd", cfg)


def consistency_training(
    net: nn.Module | DiffusionModel,
    schedule: VPSchedule,
    data: Tensor | Callable[[int, torch.Generator], Tensor],
    *,
    improved: bool = False,
    steps: int = 5000,
    distance: str | None = None,
    huber_c: float | None = None,
    sigma_data: float | None = None,
    s0: int | None = None,
    s1: int | None = None,
    p_mean: float = -1.1,
    p_std: float = 2.0,
    batch_size: int = 512,
    lr: float = 1e-3,
    ema_decay: float = 0.99,
    seed: int = 0,
    base_config: dict | None = None,
    callback: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_seconds: float | None = None,
) -> DiffusionModel:
    """Consistency training from data alone (Song et al. 2023, Alg. 3; iCT with improved=True).

    ``net`` is the backbone F_theta, trained in place: a fresh network
    (``build_net(config)``, training from scratch as in both papers), or a trained
    diffusion model (a DiffusionModel of kind 'diffusion'), whose network is copied as the
    initialisation. The latter is the initialisation of Easy Consistency Tuning (Geng et al.
    2024, "Consistency Models Made Easy", Sec. 3: a diffusion model is the consistency
    model of the coarsest discretisation, so fine-tune from it). The loss stays the
    teacher-free CT/iCT loss: the diffusion model is never evaluated, only its weights are
    the starting point. The config records which (``training.init``).
    CT: the target theta- is an EMA of theta with the adaptive decay mu(k) and N(k) grows as
    in the paper; iCT: no EMA target, exponential N(k) curriculum, lognormal n, pseudo-Huber.
    s0, s1: the curriculum's first and last N (default: the paper's, 2/150 for CT,
    10/1280 for iCT); p_mean, p_std: iCT's lognormal for n (default the paper's -1.1, 2.0).
    Returns a DiffusionModel (prediction 'x0', kind 'consistency').
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    draw = as_data_fn(data)
    if isinstance(net, DiffusionModel):
        check_teacher(net, allowed=("diffusion",))
        if (net.schedule.name, net.schedule.T) != (schedule.name, schedule.T):
            raise ValueError(
                f"the diffusion model to initialise from uses schedule {net.schedule.name} "
                f"(T={net.schedule.T}), not {schedule.name} (T={schedule.T})"
            )
        init = {"from": net.name, "weights": "diffusion model (ECT, Geng et al. 2024)"}
        net = copy.deepcopy(net.net)
    else:
        init = {"from": None, "weights": "scratch"}
    sd = sigma_data if sigma_data is not None else _estimate_sigma_data(draw, seed)
    fn = ConsistencyFunction(net.requires_grad_(True), schedule, sd)
    target = None if improved else EMA(fn, 0.0)
    loss = ConsistencyTrainingLoss(
        schedule,
        steps,
        improved=improved,
        target=None if target is None else target.net,
        distance=distance,
        huber_c=huber_c,
        p_mean=p_mean,
        p_std=p_std,
        s0=s0,
        s1=s1,
    )
    k = [0]

    def on_step(f: nn.Module) -> None:
        if target is not None:  # theta- <- mu(k) theta- + (1 - mu(k)) theta
            target.decay = loss.mu
            target.update(f)
        k[0] += 1
        loss.step(k[0])

    run = _Run(steps, batch_size, lr, ema_decay, seed, callback, should_stop, max_seconds)
    net_out, record = run.train(fn, loss, draw, on_step=on_step)
    method = "ict" if improved else "ct"
    info = {
        "method": method,
        "init": init,
        **record,
        "final_N": loss.N,
        "s0": loss.s0,
        "s1": loss.s1,
        **({"p_mean": p_mean, "p_std": p_std} if improved else {}),
        "distance": loss.distance,
    }
    cfg = _fewstep_config(base_config, net_out, "consistency", info)
    return consistency_model(net_out, method, cfg)


@dataclass(frozen=True)
class _Run:
    """The optimiser settings CD and CT share, run through ``training.train``."""

    steps: int
    batch_size: int
    lr: float
    ema_decay: float
    seed: int
    callback: Callable[[int, float], None] | None
    should_stop: Callable[[], bool] | None
    max_seconds: float | None

    def train(self, fn: nn.Module, loss, draw, on_step) -> tuple[nn.Module, dict]:
        """Train ``fn`` (frozen and in eval mode afterwards); returns it with the run's
        record for the config's training block."""
        try:
            result = train(
                fn,
                loss,
                draw,
                steps=self.steps,
                batch_size=self.batch_size,
                lr=self.lr,
                ema_decay=self.ema_decay,
                seed=self.seed,
                callback=self.callback,
                should_stop=self.should_stop,
                max_seconds=self.max_seconds,
                on_step=on_step,
            )
        except DivergedError as err:
            raise DivergedError(f"consistency model: {err}") from None
        record = {
            "steps": result.steps,
            "seconds": round(result.seconds, 2),
            "lr": self.lr,
            "batch_size": self.batch_size,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
        }
        return result.net.eval().requires_grad_(False), record
