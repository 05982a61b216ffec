"""Launch overhead removed: compiled kernels replayed from CUDA graphs, for training
and for sampling.

A 9 M-parameter UNet at 32x32 issues several hundred small kernels per step; on a
large GPU the host cannot launch them as fast as the GPU runs them. Two remedies,
used together:

* ``torch.compile`` (TorchInductor) fuses the element-wise work (GroupNorm + SiLU,
  the residual adds, the loss) into fewer, larger kernels;
* a CUDA graph records one whole step (forward, backward, gradient clipping, the
  fused Adam update and the EMA) once and replays it with a single launch. Shapes
  are static (one batch size), so one capture serves every step.

Training: ``TrainStep`` holds the captured step of ``train.train_images``. The batch
(indices, t, eps) is still drawn outside the graph from the run's generator, into
fixed input buffers, so the random stream, checkpoints and resume are those of the
eager loop. The warm-up (compilation, cuDNN's algorithm search, the capture) runs
on copies of the inputs and the weights and optimiser state are put back exactly
afterwards, so it is paid once and changes nothing.

Sampling: ``GraphedDenoiser`` wraps the network a ``DiffusionModel`` calls; each
fixed-shape batch is captured once and every later call with that shape is one
replay. Samplers are unchanged (they only see ``model.net``).

Modes (``MODES``): ``torch.compile`` modes whose kernels are then captured by us
("default", "max-autotune-no-cudagraphs"); modes where ``torch.compile`` captures
its own graphs around the network only ("reduce-overhead", "max-autotune"); and
"graph", a CUDA graph of the eager kernels with no compilation.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "GraphedDenoiser",
    "TrainStep",
    "compile_available",
    "compile_denoiser",
    "compile_net",
    "resolve_compile",
    "use_cache_dir",
]

# Ours: we capture the whole step, so torch.compile must not capture its own graphs.
CAPTURED_MODES = ("default", "max-autotune-no-cudagraphs", "graph")
# torch.compile's own CUDA graphs (cudagraph trees) around the network's forward/backward.
SELF_GRAPHED_MODES = ("reduce-overhead", "max-autotune")
MODES = CAPTURED_MODES + SELF_GRAPHED_MODES
# "default": Inductor's fusion without GEMM/convolution autotuning, whose benchmarking
# took minutes for this UNet on an H200 (5-10 s per candidate set) and did not finish
# inside the benchmark's budget.
DEFAULT_MODE = "default"


def compile_available(device: torch.device | str) -> bool:
    """Compilation is used on CUDA devices only; on a CPU the eager loop runs."""
    return torch.device(device).type == "cuda"


def resolve_compile(flag: bool | None, device: torch.device | str) -> bool:
    """The ``--compile`` flag: None (not given) means on for CUDA, off for CPU; an
    explicit True on a CPU is an error, since nothing there would be compiled."""
    if flag is None:
        return compile_available(device)
    if flag and not compile_available(device):
        raise ValueError(
            f"--compile needs a CUDA device and this run is on {torch.device(device).type}; "
            "drop --compile (or pass --no-compile)"
        )
    return bool(flag)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown compile mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def use_cache_dir(path: Path | str) -> str:
    """Point TorchInductor's on-disk cache (compiled kernels, autotuning results) at
    ``path`` unless the environment already chose one; a resumed run in the same
    folder then compiles from the cache. Returns the folder in use."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(path))
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


def compile_net(net: nn.Module, mode: str) -> Callable:
    """The network as called inside the step: compiled for every mode but "graph"."""
    check_mode(mode)
    if mode == "graph":
        return net
    return torch.compile(net, mode=mode, dynamic=False)


# ----- training ------------------------------------------------------------------------


def _snapshot(net: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer) -> dict:
    return {
        "net": [v.detach().clone() for v in net.state_dict().values()],
        "ema": [v.detach().clone() for v in ema.state_dict().values()],
        "opt": {
            p: {k: v.detach().clone() for k, v in st.items() if isinstance(v, Tensor)}
            for p, st in opt.state.items()
        },
        "rng": torch.cuda.get_rng_state(),
    }


@torch.no_grad()
def _restore(snap: dict, net: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer) -> None:
    """Copy the snapshot back in place (the captured graph keeps these addresses);
    optimiser state created by the warm-up is zeroed, which is Adam's fresh state."""
    for dst, src in zip(net.state_dict().values(), snap["net"], strict=True):
        dst.copy_(src)
    for dst, src in zip(ema.state_dict().values(), snap["ema"], strict=True):
        dst.copy_(src)
    for p, st in opt.state.items():
        before = snap["opt"].get(p, {})
        for k, v in st.items():
            if isinstance(v, Tensor) and k in before:
                v.copy_(before[k])
            elif isinstance(v, Tensor):
                v.zero_()
    torch.cuda.set_rng_state(snap["rng"])


class TrainStep:
    """One training step, compiled and (for the captured modes) replayed from a CUDA graph.

    ``body(x0, t, eps) -> loss`` is the eager step of ``train_images`` (forward,
    backward, clipping, optimiser, EMA); it must use the optimiser's tensor learning
    rate ``lr`` (``set_lr`` writes it before each replay). ``__call__(x0, t, eps)``
    copies the batch into the graph's input buffers, replays, and returns the loss as
    a fresh 0-d tensor on the device.
    """

    def __init__(
        self,
        body: Callable[[Tensor, Tensor, Tensor], Tensor],
        *,
        example: tuple[Tensor, Tensor, Tensor],
        net: nn.Module,
        ema: nn.Module,
        opt: torch.optim.Optimizer,
        lr: Tensor,
        mode: str,
        capture: bool = True,
        warmup_steps: int = 3,
    ) -> None:
        self.body, self.lr, self.mode = body, lr, check_mode(mode)
        self.capture = capture and mode in CAPTURED_MODES
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in = tuple(e.clone() for e in example)
        self.capture_error: str | None = None
        t0 = time.perf_counter()
        snap = _snapshot(net, ema, opt)
        try:
            # A side stream for the warm-up before a capture (as CUDA graphs require);
            # torch.compile's own graphs warm up on the current stream.
            side = torch.cuda.Stream() if self.capture else torch.cuda.current_stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(warmup_steps):  # compiles, autotunes, creates Adam's state
                    self._mark()
                    body(*self.static_in)
            torch.cuda.current_stream().wait_stream(side)
            torch.cuda.synchronize()
            if self.capture:
                try:
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph):
                        self.static_loss = body(*self.static_in)
                    self.graph = graph
                except RuntimeError as e:  # run compiled but uncaptured
                    self.capture_error = f"{type(e).__name__}: {e}".splitlines()[0]
                    self.graph = None
                    torch.cuda.synchronize()
        finally:
            _restore(snap, net, ema, opt)
            torch.cuda.synchronize()
        self.compile_seconds = time.perf_counter() - t0

    def _mark(self) -> None:
        if self.mode in SELF_GRAPHED_MODES:
            torch.compiler.cudagraph_mark_step_begin()

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def set_lr(self, value: float) -> None:
        self.lr.fill_(value)

    def __call__(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        if self.graph is None:
            self._mark()
            return self.body(x0, t, eps).detach().clone()
        for dst, src in zip(self.static_in, (x0, t, eps), strict=True):
            dst.copy_(src)
        self.graph.replay()
        return self.static_loss.detach().clone()


# ----- sampling ------------------------------------------------------------------------


class GraphedDenoiser(nn.Module):
    """``net(x, t)`` compiled and replayed from one CUDA graph per input shape.

    On CUDA it behaves as ``net`` run under bf16 autocast (``bf16=True``) with the
    output cast back to x's dtype: the results equal the eager network's within bf16
    rounding. Calls with gradients enabled run the eager network the same way; on a
    CPU it is ``net`` itself, unchanged. The output is a fresh tensor, so a sampler may keep it
    across later calls (multistep solvers do).
    """

    def __init__(self, net: nn.Module, mode: str = DEFAULT_MODE, bf16: bool = True) -> None:
        super().__init__()
        self.net = net
        self.mode = check_mode(mode)
        self.bf16 = bf16
        self._fwd = compile_net(net, mode)
        self._graphs: dict[tuple, tuple] = {}
        self.compile_seconds = 0.0

    def __getattr__(self, name: str):
        """Attributes of the wrapped network (a consistency model's sigma_bar_min, say)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "net":
                raise
            return getattr(self.net, name)

    def _eager(self, x: Tensor, t: Tensor) -> Tensor:
        if x.device.type != "cuda":
            return self.net(x, t)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            return self.net(x, t).to(x.dtype)

    def _run(self, x: Tensor, t: Tensor) -> Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16):
            return self._fwd(x, t).to(x.dtype)

    def _build(self, x: Tensor, t: Tensor) -> tuple:
        t0 = time.perf_counter()
        sx, st = x.clone(), t.detach().to(torch.float32).clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                if self.mode in SELF_GRAPHED_MODES:
                    torch.compiler.cudagraph_mark_step_begin()
                self._run(sx, st)
        torch.cuda.current_stream().wait_stream(side)
        if self.mode in SELF_GRAPHED_MODES:  # torch.compile replays its own graphs
            entry = (None, sx, st, None)
        else:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = self._run(sx, st)
            entry = (graph, sx, st, out)
        torch.cuda.synchronize()
        self.compile_seconds += time.perf_counter() - t0
        return entry

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if x.device.type != "cuda" or torch.is_grad_enabled():
            return self._eager(x, t)
        key = (tuple(x.shape), x.dtype, x.device)
        entry = self._graphs.get(key)
        if entry is None:
            with torch.no_grad():
                entry = self._graphs[key] = self._build(x, t)
        graph, sx, st, out = entry
        if graph is None:
            torch.compiler.cudagraph_mark_step_begin()
            return self._run(x, t.float()).clone()
        sx.copy_(x)
        st.copy_(t)
        graph.replay()
        return out.clone()


def compile_denoiser(model, mode: str = DEFAULT_MODE, bf16: bool = True):
    """A copy of the DiffusionModel ``model`` whose network is a ``GraphedDenoiser``;
    every sampler of the registry runs on it unchanged."""
    graphed = copy.copy(model)
    graphed.net = GraphedDenoiser(model.net, mode=mode, bf16=bf16)
    return graphed
