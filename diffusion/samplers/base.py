"""What every sampler shares: the trajectory record, NFE counting, the grid's
coefficients, and the registry that maps names to sampler functions.

A sampler is a plain function (the k-diffusion shape, DESIGN.md):

    fn(model, x_T, timesteps, *, generator=None, record=True, callback=None, **options)
        -> Trajectory

``timesteps`` (S,) are the evaluation times, descending (schedules.make_timesteps);
the sampler appends the clean endpoint (alpha = 1, sigma = 0) itself, so its last
step outputs x0-hat. Samplers hold no state between calls.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..model import DiffusionModel, NonFiniteError, Prediction

__all__ = [
    "Trajectory",
    "SamplerSpec",
    "Counted",
    "Grid",
    "Recorder",
    "grid_for",
    "gaussian_like",
    "REGISTRY",
    "register",
    "get_sampler",
    "resolve_sampler",
    "finish",
]


@dataclass
class Trajectory:
    """The record of one sampling run.

    x: (B, *D) final clean samples; xs: (S+1, B, *D) x_T then x after each step
    (xs[-1] is x); x0_preds: (S, B, *D) the x0-hat each step computed from its first
    model evaluation; timesteps: (S,) float64 evaluation times; nfe: exact number of
    network evaluations. With record=False, xs holds only x_T and x, and x0_preds
    only the last x0-hat.
    """

    x: Tensor
    xs: Tensor
    x0_preds: Tensor
    timesteps: Tensor
    nfe: int
    sampler: str = ""
    info: dict = field(default_factory=dict)


class Counted:
    """Counts network evaluations for one sampling run (the NFE), so that a model
    shared between threads or sessions carries no counter of its own."""

    __slots__ = ("model", "nfe")

    def __init__(self, model: DiffusionModel) -> None:
        self.model = model
        self.nfe = 0

    def __call__(self, x: Tensor, t: float | Tensor, alpha: float, sigma: float) -> Prediction:
        self.nfe += 1
        return self.model.predict(x, t, alpha, sigma)

    def eps(self, x: Tensor, t: float | Tensor, alpha: float, sigma: float) -> Tensor:
        """eps-hat only: for an eps-prediction network the raw output, with no x0-hat
        arithmetic (noise-prediction samplers rebuild the x0-hats of the record in one
        batched operation at the end)."""
        self.nfe += 1
        model = self.model
        if model.prediction == "eps":
            return model.net(x, model._t_batch(x, t))
        return model.predict(x, t, alpha, sigma).eps


class Grid:
    """Schedule quantities along a grid, with the clean endpoint appended.

    For timesteps (S,) this holds lists of length S+1 of Python floats: t, alpha,
    sigma, lambda_ (=+inf at the end), sigma_bar (=0 at the end). Computed once per
    run so the sampling loop does no schedule look-ups.
    """

    def __init__(self, model: DiffusionModel, timesteps: Tensor) -> None:
        sch = model.schedule
        ts = torch.as_tensor(timesteps, dtype=torch.float64).reshape(-1)
        tl = ts.tolist()
        if not tl:
            raise ValueError("a sampler needs at least one timestep")
        if any(b >= a for a, b in zip(tl, tl[1:], strict=False)):
            raise ValueError("timesteps must be strictly decreasing")
        if min(tl) < 0 or max(tl) > sch.T - 1:
            raise ValueError(f"timesteps must lie in [0, {sch.T - 1}]")
        self.timesteps = ts
        self.S = ts.numel()
        # One interpolation for the whole grid; the rest follows from log(alpha).
        log_alpha = sch.log_alpha(ts)
        var = -torch.expm1(2.0 * log_alpha)  # sigma^2 = 1 - alpha^2
        lambda_ = log_alpha - 0.5 * torch.log(var)
        self.t = tl + [-1.0]
        self.alpha = torch.exp(log_alpha).tolist() + [1.0]
        self.sigma = torch.sqrt(var).tolist() + [0.0]
        self.lambda_ = lambda_.tolist() + [float("inf")]
        self.sigma_bar = torch.exp(-lambda_).tolist() + [0.0]
        self._t_batches: dict[tuple, list[Tensor]] = {}
        self._memo: dict[tuple, object] = {}

    def memo(self, key: tuple, build: Callable[[], object]) -> object:
        """``build()``, computed once per grid and key: a sampler's per-step coefficients
        (Python floats that depend only on the grid and its options) are then worked out
        on a grid's first run and reused by every later run on the memoised grid."""
        value = self._memo.get(key)
        if value is None:
            value = self._memo[key] = build()
        return value

    def t_batches(self, x: Tensor) -> list[Tensor]:
        """The S evaluation times as (B,) tensors of x's dtype and device, made once per
        (B, dtype, device) and kept with the (memoised) grid: the network then gets the
        same ready tensor a bare loop would pass, with no tensor creation per step."""
        key = (x.shape[0], x.dtype, x.device)
        tb = self._t_batches.get(key)
        if tb is None:
            if len(self._t_batches) >= 4:
                self._t_batches.clear()
            full = torch.tensor(self.t[:-1], dtype=x.dtype, device=x.device)
            tb = list(full[:, None].expand(-1, x.shape[0]).contiguous().unbind(0))
            self._t_batches[key] = tb
        return tb


def gaussian_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """z ~ N(0, I) shaped like x, from ``generator``; drawn on the generator's device
    and moved, so a CPU generator gives the same noise for a model on any device."""
    if generator is None or generator.device == x.device:
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device)
    return z.to(x.device)


_GRID_CACHE: dict[tuple, Grid] = {}
_GRID_CACHE_SIZE = 64


def grid_for(model: DiffusionModel, timesteps: Tensor) -> Grid:
    """``Grid(model, timesteps)``, memoised per (schedule, times): repeated runs on one
    grid (sweeps, benchmarks, the app) skip the schedule look-ups. Grids are read-only."""
    ts = torch.as_tensor(timesteps, dtype=torch.float64).reshape(-1)
    key = (model.schedule, tuple(ts.tolist()))
    grid = _GRID_CACHE.get(key)
    if grid is None:
        grid = Grid(model, ts)
        if len(_GRID_CACHE) >= _GRID_CACHE_SIZE:
            _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
        _GRID_CACHE[key] = grid
    return grid


class Recorder:
    """Collects the per-step record of a run and calls the progress callback.

    ``step(i, x, x0)`` after step i with the new x and the x0-hat of the step's first
    evaluation. Noise-prediction samplers call ``step_eps(i, x, x_in, eps)`` instead,
    with the step's input and eps-hat: the x0-hats (x_in - sigma eps) / alpha are then
    formed for all steps at once in ``finish`` (two fewer tensor operations per step).
    The record is written into buffers allocated once, (S+1, B, ...) for x and
    (S, B, ...) for x0-hat, so the loop copies into place and the network's own
    outputs are freed as in a bare loop. With record=False only x_T, the final x and
    the last x0-hat are kept.
    """

    __slots__ = ("xs", "x0s", "n_eps", "record", "callback", "last", "grid", "x_T", "final",
                 "x_slots", "x0_slots")

    def __init__(self, x_T: Tensor, grid: Grid, record: bool, callback) -> None:
        self.record = record
        self.callback = callback
        self.last = grid.S - 1
        self.grid = grid
        self.x_T = x_T
        self.n_eps = 0  # leading steps whose x0s slot holds eps-hat until finish
        self.final: tuple[Tensor, Tensor] | None = None
        self.x_slots: list[Tensor | None] = [None] * grid.S
        if record:
            self.xs = x_T.new_empty((grid.S + 1, *x_T.shape))
            self.xs[0].copy_(x_T)
            self.x0s = x_T.new_empty((grid.S, *x_T.shape))
            # views made once: a step writes its x straight into its slot (``slot``)
            self.x_slots = list(self.xs[1:].unbind(0))
            self.x0_slots = list(self.x0s.unbind(0))

    def slot(self, i: int) -> Tensor | None:
        """Where step i's new x is recorded, for ``out=`` (None with record=False): a
        step that computes its x there saves the copy into the record."""
        return self.x_slots[i]

    def step(self, i: int, x: Tensor, x0: Tensor) -> None:
        if self.record:
            if x is not self.x_slots[i]:
                self.x_slots[i].copy_(x)
            self.x0_slots[i].copy_(x0)
        elif i == self.last:
            self.final = (x, x0)
        if self.callback is not None:
            self.callback(i, x, x0)

    def step_eps(self, i: int, x: Tensor, x_in: Tensor, eps: Tensor) -> None:
        """Step i < S-1 of a noise-prediction sampler; the last step uses ``step``.
        Steps 0..i must all come through here (eps-hat waits in the x0-hat slot)."""
        if self.record:
            if x is not self.x_slots[i]:
                self.x_slots[i].copy_(x)
            self.x0_slots[i].copy_(eps)
            self.n_eps = i + 1
        if self.callback is not None:
            g = self.grid
            self.callback(i, x, torch.add(x_in, eps, alpha=-g.sigma[i]).div_(g.alpha[i]))

    def finish(self, name: str, x: Tensor, counted: Counted, **info) -> Trajectory:
        if not self.record:
            if self.final is None:
                raise RuntimeError(f"{name}: the last step was not recorded")
            x_last, x0_last = self.final
            return finish(
                name, x, torch.stack([self.x_T, x_last]), x0_last[None], self.grid, counted, **info
            )
        n = self.n_eps
        if n:
            # x0-hat_i = (x_i - sigma_i eps_i) / alpha_i for the steps before the last
            shape = (n,) + (1,) * (x.ndim)
            a = torch.tensor(self.grid.alpha[:n], dtype=x.dtype, device=x.device).reshape(shape)
            s = torch.tensor(self.grid.sigma[:n], dtype=x.dtype, device=x.device).reshape(shape)
            early = self.x0s[:n]
            early.mul_(-s).add_(self.xs[:n]).div_(a)
        return finish(name, x, self.xs, self.x0s, self.grid, counted, **info)


def finish(
    name: str,
    x: Tensor,
    xs: list[Tensor] | Tensor,
    x0_preds: list[Tensor] | Tensor,
    grid: Grid,
    counted: Counted,
    **info,
) -> Trajectory:
    """Stack the record and check that the run stayed finite."""
    if not bool(torch.isfinite(x).all()):
        raise NonFiniteError(
            f"{name}: the model returned NaN or infinite values; check the checkpoint"
        )
    return Trajectory(
        x=x,
        xs=xs if isinstance(xs, Tensor) else torch.stack(xs),
        x0_preds=x0_preds if isinstance(x0_preds, Tensor) else torch.stack(x0_preds),
        timesteps=grid.timesteps.clone(),  # the grid may be shared by later runs
        nfe=counted.nfe,
        sampler=name,
        info=info,
    )


_COMMON_OPTIONS = ("generator", "record", "callback")


@functools.cache
def _option_names(fn: Callable) -> tuple[str, ...]:
    params = inspect.signature(fn).parameters.values()
    return tuple(
        p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON_OPTIONS
    )


@dataclass(frozen=True)
class SamplerSpec:
    """A registered sampler.

    name: registry key; label: display name; fn: the sampler function;
    nfe: steps -> exact NFE of a run with that many timesteps; stochastic: whether
    it draws fresh noise (needs a generator); order: the ODE solver's order (0 for
    stochastic samplers); citation: paper and algorithm/equation; options: the
    default keyword options the registry passes to fn.
    """

    name: str
    label: str
    fn: Callable[..., Trajectory]
    nfe: Callable[[int], int]
    stochastic: bool
    order: int
    citation: str
    options: dict = field(default_factory=dict)
    family: str = "training-free"

    def __call__(self, model, x_T, timesteps, **kwargs) -> Trajectory:
        self.check_options(kwargs)
        return self.fn(model, x_T, timesteps, **{**self.options, **kwargs})

    def option_names(self) -> list[str]:
        """The sampler-specific keyword options of fn (eta, variance, order, ...)."""
        return list(_option_names(self.fn))

    def check_options(self, options: dict) -> None:
        """ValueError naming the valid options when an option does not apply."""
        valid = _option_names(self.fn)
        for key in options:
            if key not in valid and key not in _COMMON_OPTIONS:
                names = ", ".join(self.option_names()) or "none"
                raise ValueError(f"sampler {self.name} has no option {key!r}; its options: {names}")

    def steps_for_nfe(self, nfe: int) -> int | None:
        """The number of timesteps whose run costs exactly ``nfe`` evaluations, or None."""
        for s in range(1, nfe + 1):
            if self.nfe(s) == nfe:
                return s
            if self.nfe(s) > nfe:
                return None
        return None


REGISTRY: dict[str, SamplerSpec] = {}

# "--sampler dpm-solver --order 3" and friends map to registry names.
_ORDER_ALIASES = {
    "dpm-solver": {1: "dpm-solver-1", 2: "dpm-solver-2", 3: "dpm-solver-3"},
    "dpm-solver++": {2: "dpm-solver++2m", 3: "dpm-solver++3m"},
}


def register(spec: SamplerSpec) -> SamplerSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"sampler {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def resolve_sampler(name: str, order: int | None = None) -> str:
    """Registry name for a sampler name and optional order, or a ValueError naming
    the valid choices."""
    if name in _ORDER_ALIASES:
        orders = _ORDER_ALIASES[name]
        k = order if order is not None else max(orders)
        if k not in orders:
            raise ValueError(
                f"{name} has no order {k}; choose --order from {', '.join(map(str, orders))}"
            )
        return orders[k]
    if name not in REGISTRY:
        choices = sorted(REGISTRY) + sorted(_ORDER_ALIASES)
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(choices)}")
    spec = REGISTRY[name]
    takes_order = "order" in _option_names(spec.fn)  # e.g. unipc: order is an option
    if order is not None and spec.order and order != spec.order and not takes_order:
        raise ValueError(f"sampler {name} has fixed order {spec.order}, not {order}")
    return name


def get_sampler(name: str, order: int | None = None) -> SamplerSpec:
    return REGISTRY[resolve_sampler(name, order)]
