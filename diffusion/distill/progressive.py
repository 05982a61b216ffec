"""Progressive distillation (Salimans & Ho 2022): halve the number of DDIM steps per round.

A student, initialised from the teacher, learns to take in one deterministic DDIM
step (eta = 0) what the teacher takes in two; the student then teaches the next
round: N -> N/2 -> ... -> 1 steps.

Target (paper, Algorithm 2). From x_t on the student's grid, two teacher DDIM steps
t -> t' -> t'' give x_{t''}; the student's x0-hat must be the x-tilde for which one
DDIM step t -> t'' lands exactly there:

    x-tilde = (x_{t''} - (sigma_t'' / sigma_t) x_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t),

and the loss is max(SNR_t, 1) ||x0-hat - x-tilde||^2, the paper's "truncated SNR"
weighting (Sec. 4). The chapter writes the loss on x_{t-2} directly; both have the same
minimiser at every (x_t, t) and differ only in how the timesteps are weighted (the
x_{t-2} form weights by (alpha_t'' - sigma_t'' alpha_t / sigma_t)^2); see docs/fewstep.md.

Grids. The N-step grid is the fractional 'trailing' grid t_k = T (N - k) / N - 1,
k = 0..N-1 (clamped at 0), followed by the clean endpoint (alpha = 1, sigma = 0) that
every sampler appends. It starts at t = T-1 and halving N keeps every other point, so
each round's grid nests in its teacher's.

Parameterisation. x0 = (x - sigma eps)/alpha blows up as alpha -> 0, which is where a
1- or 2-step sampler takes its biggest step, so students predict v (Salimans & Ho,
Sec. 4): x0 = alpha x - sigma v is bounded. The student keeps the teacher's network and
weights (a good feature initialisation) and reads its output as v.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..grids import pd_timesteps
from ..model import DiffusionModel
from ..samplers.steps import ddim_step, eps_from_x0
from ..schedules import VPSchedule
from ..training import DivergedError, train

__all__ = [
    "ProgressiveDistillationLoss",
    "as_data_fn",
    "check_teacher",
    "pd_timesteps",
    "progressive_distillation",
    "student_config",
]


def as_data_fn(data: Tensor | Callable[[int, torch.Generator], Tensor]):
    """Turn a tensor of samples (n, *D) into ``data(batch_size, generator)`` for ``train``."""
    if callable(data):
        return data
    if not isinstance(data, Tensor) or data.ndim < 2 or len(data) < 1:
        raise ValueError("data must be a tensor of samples (n, *D) or a function (batch, gen)")

    def draw(batch_size: int, gen: torch.Generator) -> Tensor:
        idx = torch.randint(0, len(data), (batch_size,), generator=gen)
        return data[idx]

    return draw


def check_teacher(
    teacher,
    allowed: tuple[str, ...] = ("diffusion", "pd-student", "oracle"),
    needs_net: bool = True,
) -> None:
    """A teacher must be a DiffusionModel of a diffusion kind, with a trainable network
    when the student starts from a copy of it (``needs_net``)."""
    if not isinstance(teacher, DiffusionModel):
        raise ValueError(f"the teacher must be a DiffusionModel, got {type(teacher).__name__}")
    kind = teacher.config.get("kind", "diffusion")
    if kind not in allowed:
        raise ValueError(
            f"the teacher must be a diffusion model ({' or '.join(allowed)}), not a {kind} model"
        )
    if needs_net and (
        not isinstance(teacher.net, nn.Module) or not any(True for _ in teacher.net.parameters())
    ):
        raise ValueError(
            "the teacher has no trainable network to initialise a student from "
            "(an analytic oracle?); use a trained model"
        )


class ProgressiveDistillationLoss:
    """Loss of one distillation round: an N-step student matches a 2N-step teacher.

    Args:
        teacher: the 2N-step teacher (any prediction type), frozen.
        student_steps: N, the student's number of DDIM steps.
        student_prediction: how the student's network output is read ('v' or 'x0').
        weighting: 'truncated-snr' (max(SNR, 1), the paper's) or 'snr' (plain x-space MSE
            times SNR, the eps-loss equivalent) or 'none'.
    """

    WEIGHTINGS = ("truncated-snr", "snr", "none")

    def __init__(
        self,
        teacher: DiffusionModel,
        student_steps: int,
        student_prediction: str = "v",
        weighting: str = "truncated-snr",
    ) -> None:
        if weighting not in self.WEIGHTINGS:
            raise ValueError(
                f"unknown weighting {weighting!r}; choose one of {', '.join(self.WEIGHTINGS)}"
            )
        if student_prediction not in ("v", "x0"):
            raise ValueError(f"student prediction must be 'v' or 'x0', got {student_prediction!r}")
        sch: VPSchedule = teacher.schedule
        self.teacher = teacher
        self.schedule = sch
        self.N = student_steps
        self.student_prediction = student_prediction
        self.weighting = weighting
        tau = pd_timesteps(sch.T, 2 * student_steps)  # teacher grid (2N,)
        # teacher grid plus the clean endpoint: index 2N is alpha = 1, sigma = 0
        self.tau = torch.cat([tau, tau.new_tensor([0.0])]).float()
        self.alpha = torch.cat([sch.alpha(tau), tau.new_tensor([1.0])]).float()
        self.sigma = torch.cat([sch.sigma(tau), tau.new_tensor([0.0])]).float()

    def _coef(self, idx: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        shape = (-1,) + (1,) * (x.ndim - 1)
        return (
            self.tau[idx].to(x),
            self.alpha[idx].to(x).reshape(shape),
            self.sigma[idx].to(x).reshape(shape),
        )

    @torch.no_grad()
    def target(self, x_t: Tensor, i: Tensor) -> Tensor:
        """x-tilde for x_t: (B, *D) at teacher-grid indices i: (B,) (even: student grid points).

        Two teacher DDIM steps tau_i -> tau_{i+1} -> tau_{i+2} give x''; x-tilde is the x0-hat
        whose single DDIM step tau_i -> tau_{i+2} lands on x'' (Alg. 2). tau_{i+1} always has
        sigma > 0; tau_{i+2} may be the clean endpoint, where x-tilde = x'' = teacher x0-hat.
        """
        t, a, s = self._coef(i, x_t)
        t1, a1, s1 = self._coef(i + 1, x_t)
        _, a2, s2 = self._coef(i + 2, x_t)
        x_1 = self._teacher_ddim_step(x_t, t, a, s, a1, s1)
        x_2 = self._teacher_ddim_step(x_1, t1, a1, s1, a2, s2)
        ratio = s2 / s
        return (x_2 - ratio * x_t) / (a2 - ratio * a)

    def _teacher_ddim_step(
        self, x: Tensor, t: Tensor, a: Tensor, s: Tensor, a_next: Tensor, s_next: Tensor
    ) -> Tensor:
        """One deterministic DDIM step of the teacher (``samplers.steps.ddim_step``), eps-hat
        taken from its x0-hat so that every prediction type steps the same way."""
        x0 = self.teacher.predict(x, t, a, s).x0
        return ddim_step(x0, eps_from_x0(x, x0, a, s), a_next, s_next)

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator | None) -> Tensor:
        b = x0.shape[0]
        i = 2 * torch.randint(0, self.N, (b,), generator=generator)  # student point on teacher grid
        eps = torch.randn(x0.shape, generator=generator).to(x0)
        t, a, s = self._coef(i, x0)
        x_t = a * x0 + s * eps
        target = self.target(x_t, i)
        out = net(x_t, t)
        x0_hat = a * x_t - s * out if self.student_prediction == "v" else out
        err = ((x0_hat - target) ** 2).reshape(b, -1).mean(1)
        snr = (a / s).reshape(b) ** 2
        if self.weighting == "truncated-snr":
            w = snr.clamp(min=1.0)
        elif self.weighting == "snr":
            w = snr
        else:
            w = torch.ones_like(snr)
        return (w * err).mean()


TEACHER_ONLY = ("quality", "training", "distill", "sampling")
"""Config blocks that describe one model's own making or measurement: a student built
from a teacher's config never inherits them."""


def student_config(base: dict | None, **blocks) -> dict:
    """A student's config: the teacher's (``base``) description of the data, network and
    schedule, without the blocks about how the teacher was made, sampled and measured
    (``TEACHER_ONLY``), plus the student's own ``blocks``."""
    cfg = {k: v for k, v in (base or {}).items() if k not in TEACHER_ONLY}
    cfg.update(blocks)
    return cfg


def _student_model(
    net: nn.Module, teacher: DiffusionModel, steps: int, prediction: str, training: dict
) -> DiffusionModel:
    cfg = student_config(
        teacher.config,
        kind="pd-student",
        prediction=prediction,
        sampling={
            "sampler": "ddim",
            "steps": steps,
            "timesteps": {str(steps): pd_timesteps(teacher.schedule.T, steps).tolist()},
        },
        training=training,
    )
    return DiffusionModel(
        net,
        teacher.schedule,
        prediction=prediction,
        name=f"pd-{steps}steps",
        sample_shape=teacher.sample_shape,
        config=cfg,
    )


def progressive_distillation(
    teacher: DiffusionModel,
    data: Tensor | Callable[[int, torch.Generator], Tensor],
    *,
    start_steps: int = 1024,
    rounds: int | None = None,
    steps_per_round: int = 800,
    first_round_steps: int | None = None,
    batch_size: int = 512,
    lr: float = 1e-3,
    first_round_lr: float | None = None,
    ema_decay: float = 0.0,
    student_prediction: str = "v",
    weighting: str = "truncated-snr",
    seed: int = 0,
    max_seconds_per_round: float | None = None,
    callback: Callable[[int, int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_round: Callable[[int, DiffusionModel], None] | None = None,
) -> list[tuple[int, DiffusionModel]]:
    """Distil ``teacher`` from ``start_steps`` DDIM steps down by halving, ``rounds`` times.

    Args:
        teacher: a trained DiffusionModel (eps, x0 or v); it is not modified.
        data: training samples (n, *D) or a function data(batch, generator).
        start_steps: the teacher's step count N (a power of two >= 2).
        rounds: number of halvings (default: down to one step, log2(start_steps)).
        steps_per_round: optimiser steps per round; ``first_round_steps`` for the first
            round, where the student also learns its new (v) parameterisation.
        lr: Adam's learning rate; ``first_round_lr`` for the first round (default: lr).
        callback(student_steps, step, loss): progress; should_stop(): ends training after
            the current round's step; on_round(student_steps, model): called as each round
            finishes (the CLI saves a checkpoint there, so a later failure keeps it).

    Returns [(N/2, student), (N/4, student), ...]: every round's student as a DiffusionModel
    (prediction 'v'), with ``config['sampling']['timesteps'][str(N)]`` holding its grid
    and ``config['training']`` its own round (never the teacher's training or quality).
    Raises ValueError for bad settings and DivergedError if a round's loss becomes NaN.
    """
    check_teacher(teacher)
    if (
        isinstance(start_steps, bool)
        or not isinstance(start_steps, int)
        or start_steps < 2
        or (start_steps & (start_steps - 1))
    ):
        raise ValueError(f"start_steps must be a power of two >= 2, got {start_steps!r}")
    max_rounds = int(math.log2(start_steps))
    if rounds is None:
        rounds = max_rounds
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= max_rounds:
        raise ValueError(
            f"rounds must be between 1 and {max_rounds} (log2 of start_steps {start_steps}), "
            f"got {rounds!r}"
        )
    if steps_per_round < 1:
        raise ValueError(f"steps_per_round must be at least 1, got {steps_per_round}")
    for name, value in (("lr", lr), ("first_round_lr", first_round_lr)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive, got {value}")
    draw = as_data_fn(data)
    net = copy.deepcopy(teacher.net).requires_grad_(True)  # loaded nets come frozen
    current = teacher
    students: list[tuple[int, DiffusionModel]] = []
    n_teacher = start_steps
    for r in range(rounds):
        n_student = n_teacher // 2
        loss = ProgressiveDistillationLoss(current, n_student, student_prediction, weighting)
        n_opt = first_round_steps if (r == 0 and first_round_steps) else steps_per_round
        round_lr = first_round_lr if (r == 0 and first_round_lr) else lr
        cb = (lambda step, v, n=n_student: callback(n, step, v)) if callback else None
        try:
            result = train(
                net,
                loss,
                draw,
                steps=n_opt,
                batch_size=batch_size,
                lr=round_lr,
                ema_decay=ema_decay,
                seed=seed + r,
                callback=cb,
                should_stop=should_stop,
                max_seconds=max_seconds_per_round,
            )
        except DivergedError as err:
            raise DivergedError(
                f"round {r + 1} ({n_teacher} -> {n_student} steps): {err}"
            ) from None
        student_net = copy.deepcopy(result.net).eval().requires_grad_(False)
        tail = result.losses[-100:]
        training = {
            "method": "progressive",
            "round": r + 1,
            "teacher_steps": n_teacher,
            "steps": result.steps,
            "seconds": round(result.seconds, 2),
            "final_loss": round(sum(tail) / max(1, len(tail)), 5),
            "lr": round_lr,
            "batch_size": batch_size,
            "ema_decay": ema_decay,
            "weighting": weighting,
            "seed": seed + r,
        }
        student = _student_model(student_net, teacher, n_student, student_prediction, training)
        students.append((n_student, student))
        if on_round is not None:
            on_round(n_student, student)
        current = student
        net = copy.deepcopy(result.net).requires_grad_(True)
        n_teacher = n_student
        if should_stop is not None and should_stop():
            break
    return students
