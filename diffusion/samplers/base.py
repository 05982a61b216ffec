"""What every sampler shares: the trajectory record, NFE counting, the grid's
coefficients, and the registry that maps names to sampler functions.

A sampler is a plain function (the k-diffusion shape, DESIGN.md):

    fn(model, x_T, timesteps, *, generator=None, record=True, callback=None, **options)
        -> Trajectory

``timesteps`` (S,) are the evaluation times, descending (diffusion.grids);
the sampler appends the clean endpoint (alpha = 1, sigma = 0) itself, so its last
step outputs x0-hat. Samplers hold no state between calls.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..model import DiffusionModel, NonFiniteError, Prediction

__all__ = [
    "REGISTRY",
    "Grid",
    "Run",
    "SamplerSpec",
    "Trajectory",
    "gaussian_like",
    "get_sampler",
    "grid_for",
    "register",
    "resolve_sampler",
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
        if any(b >= a for a, b in itertools.pairwise(tl)):
            raise ValueError("timesteps must be strictly decreasing")
        if min(tl) < 0 or max(tl) > sch.T - 1:
            raise ValueError(f"timesteps must lie in [0, {sch.T - 1}]")
        self.timesteps = ts
        self.S = ts.numel()
        # One interpolation for the whole grid; the rest follows from log(alpha).
        log_alpha = sch.log_alpha(ts)
        var = -torch.expm1(2.0 * log_alpha)  # sigma^2 = 1 - alpha^2
        lambda_ = log_alpha - 0.5 * torch.log(var)
        self.t = [*tl, -1.0]
        self.alpha = [*torch.exp(log_alpha).tolist(), 1.0]
        self.sigma = [*torch.sqrt(var).tolist(), 0.0]
        self.lambda_ = [*lambda_.tolist(), float("inf")]
        self.sigma_bar = [*torch.exp(-lambda_).tolist(), 0.0]
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


class Run:
    """What every sampler does around its steps: the grid, the NFE count, the record
    and the progress callback, so a sampler's body is only its steps.

        run = Run("ddim", model, x_T, timesteps, record, callback)
        g, x = run.grid, x_T
        for i in range(g.S - 1):
            pred = run.predict(x, i)             # eps-hat and x0-hat at grid point i
            x = <the step's equation>
            run.step(i, x, pred.x0)
        return run.denoise(x)                    # the last step: x0-hat

    ``predict``/``eps`` evaluate at grid point i (with the grid's precomputed alpha,
    sigma and time tensors); ``predict_at``/``eps_at`` at an intermediate time. Each
    counts one network evaluation, so ``Trajectory.nfe`` is exact and a model shared
    between threads carries no counter. With record=False only x_T, the final x and
    the last x0-hat are kept.
    """

    __slots__ = ("_t", "callback", "grid", "model", "name", "nfe", "record", "x0s", "xs")

    def __init__(
        self,
        name: str,
        model: DiffusionModel,
        x_T: Tensor,
        timesteps: Tensor,
        record: bool,
        callback: Callable | None,
    ) -> None:
        self.name = name
        self.model = model
        self.grid = grid_for(model, timesteps)
        self.nfe = 0
        self.record = record
        self.callback = callback
        self.xs: list[Tensor] = [x_T]
        self.x0s: list[Tensor] = []
        self._t = self.grid.t_batches(x_T)  # the evaluation times as ready (B,) tensors

    def predict(self, x: Tensor, i: int) -> Prediction:
        """eps-hat and x0-hat at grid point i."""
        self.nfe += 1
        g = self.grid
        return self.model.predict(x, self._t[i], g.alpha[i], g.sigma[i])

    def x0(self, x: Tensor, i: int) -> Tensor:
        """x0-hat alone at grid point i, for a step that needs no eps-hat. For an
        eps-prediction network x0-hat = (x - sigma eps-hat) / alpha is computed in the
        network output's own buffer: one tensor less per step (DDPM's step, whose
        noise draw is the other)."""
        self.nfe += 1
        g, model = self.grid, self.model
        if model.prediction != "eps":
            return model.predict(x, self._t[i], g.alpha[i], g.sigma[i]).x0
        out = model.net(x, self._t[i])
        # model.predict's expression, written into the output's buffer: the same x0-hat
        return torch.add(x, out, alpha=-g.sigma[i], out=out).div_(g.alpha[i])

    def eps(self, x: Tensor, i: int) -> Tensor:
        """eps-hat alone at grid point i (for an eps-prediction network the raw output:
        a corrector's evaluation needs no x0-hat)."""
        return self.eps_at(x, self._t[i], self.grid.alpha[i], self.grid.sigma[i])

    def predict_at(self, x: Tensor, t: float, alpha: float, sigma: float) -> Prediction:
        """eps-hat and x0-hat at an intermediate time t with its alpha and sigma."""
        self.nfe += 1
        return self.model.predict(x, t, alpha, sigma)

    def eps_at(self, x: Tensor, t: float | Tensor, alpha: float, sigma: float) -> Tensor:
        """eps-hat alone at an intermediate time t."""
        self.nfe += 1
        model = self.model
        if model.prediction == "eps":
            return model.net(x, model._t_batch(x, t))
        return model.predict(x, t, alpha, sigma).eps

    def step(self, i: int, x: Tensor, x0: Tensor) -> None:
        """Record step i: the new x and the x0-hat of the step's first evaluation."""
        if self.record:
            self.xs.append(x)
            self.x0s.append(x0)
        if self.callback is not None:
            self.callback(i, x, x0)

    def denoise(self, x: Tensor, **info) -> Trajectory:
        """The last step, from the last grid time to alpha = 1, sigma = 0: for every
        solver family the first-order step, which is the x0-hat of one evaluation."""
        i = self.grid.S - 1
        x0 = self.predict(x, i).x0
        self.step(i, x0, x0)
        return self.finish(x0, **info)

    def finish(self, x: Tensor, **info) -> Trajectory:
        """The Trajectory of the run, after checking that it stayed finite."""
        if not bool(torch.isfinite(x).all()):
            raise NonFiniteError(
                f"{self.name}: the model returned NaN or infinite values; check the checkpoint"
            )
        if self.record:
            xs, x0s = torch.stack(self.xs), torch.stack(self.x0s)
        else:
            xs, x0s = torch.stack([self.xs[0], x]), x[None]
        return Trajectory(
            x=x,
            xs=xs,
            x0_preds=x0s,
            timesteps=self.grid.timesteps.clone(),  # the grid may be shared by later runs
            nfe=self.nfe,
            sampler=self.name,
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
    stochastic samplers); citation: paper and algorithm/equation; options: keyword
    arguments bound by the registry, which a caller cannot change (a fixed order:
    ``dpm-solver-2`` is ``dpm_solver`` with ``options={"order": 2}``); family:
    'training-free' or 'few-step'.
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
        return self.fn(model, x_T, timesteps, **kwargs, **self.options)

    def option_names(self) -> list[str]:
        """The options a caller may set (eta, variance, order, ...): fn's keyword
        options less those the registry binds."""
        return [n for n in _option_names(self.fn) if n not in self.options]

    def check_options(self, options: dict) -> None:
        """ValueError naming the valid options when an option does not apply."""
        valid = self.option_names()
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
    takes_order = "order" in spec.option_names()  # e.g. unipc: order is an option
    if order is not None and spec.order and order != spec.order and not takes_order:
        raise ValueError(f"sampler {name} has fixed order {spec.order}, not {order}")
    return name


def get_sampler(name: str, order: int | None = None) -> SamplerSpec:
    return REGISTRY[resolve_sampler(name, order)]
