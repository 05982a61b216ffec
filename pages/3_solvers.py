"""Page 3: higher-order ODE solvers at equal NFE, and their measured order on the oracle."""

import numpy as np
import streamlit as st
import torch

from diffusion import figures
from diffusion.metrics import fit_order
from diffusion.schedules import SPACINGS, make_timesteps
from ui import models
from ui.layout import SOLVER_SOURCE, SOLVER_TABLE, page_header, published, show
from ui.state import PageState

SOLVERS = models.sampler_choices(["ddim", "euler", "heun", "dpm-solver-1", "dpm-solver-2",
                                  "dpm-solver-3", "dpm-solver++2m", "dpm-solver++3m",
                                  "dpm-solver++2s", "unipc"])
NFE_LADDER = [s for s in (3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50)]

lecture = page_header(
    "Higher-order ODE solvers",
    "Deterministic DDIM is Euler's method on the probability-flow ODE. Solvers that use "
    "more than one slope per step, or the slopes of previous steps, cut the error faster "
    "as the number of network evaluations (NFE) grows.",
)
ps = PageState("solvers")
with st.sidebar:
    st.header("Solver controls")
    spec = ps.select("model", "Model", models.model_choices(), models.default_model(),
                     format_func=models.model_label)
    nfe = ps.select("nfe", "NFE budget (equal for every solver)", NFE_LADDER, 10)
    chosen = ps.multiselect("solvers", "Solvers", SOLVERS,
                            [s for s in ("ddim", "heun", "dpm-solver-2", "dpm-solver++2m", "unipc")
                             if s in SOLVERS], max_selections=6,
                            format_func=models.sampler_label)
    spacing = ps.select("spacing", "Timestep spacing", list(SPACINGS), "logsnr")
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100)
ps.presets()

st.latex(r"\frac{d\bar x}{d\bar\sigma} = \epsilon_\theta(x_t, t),\quad "
         r"\bar x = x_t/\alpha_t,\ \bar\sigma = \sigma_t/\alpha_t \qquad"
         r"\text{(probability-flow ODE, VP form)}")

st.subheader(f"Samples at NFE ≈ {nfe}")
panels, subtitles = {}, {}
for name in chosen:
    sp = models.REGISTRY[name]
    steps = max([s for s in range(1, nfe + 1) if sp.nfe(s) <= nfe], default=1)
    out = models.sample(spec, name, steps, n, 0, spacing, ())
    label = models.sampler_label(name)
    panels[label] = out["x"]
    per_step = sp.nfe(2) - sp.nfe(1)  # evaluations per step after the first
    subtitles[label] = (f"{steps} steps × {per_step} NFE<br>= NFE {out['nfe']} · "
                        f"{out['seconds'] * 1e3:.0f} ms")
if panels:
    show(figures.samples_grid(panels, data=models.data(models.dataset_of(spec), n),
                              subtitles=subtitles, lecture=lecture), "solvers-samples")
else:
    st.info("Choose at least one solver in the sidebar.")
st.caption("Heun and the singlestep DPM-Solvers spend two or three evaluations per step (Heun's "
           "last step, to sigma = 0, is a single Euler evaluation), so at equal NFE they take "
           "fewer, more accurate steps. Multistep solvers (DPM-Solver++ 2M/3M, UniPC) reuse "
           "the previous steps' evaluations and spend one per step.")


B_ERR = 64  # particles for the error curves


def _x_T() -> torch.Tensor:
    return torch.randn((B_ERR, 2), generator=torch.Generator().manual_seed(7), dtype=torch.float64)


@st.cache_data(max_entries=16, show_spinner="Solving the exact ODE on the oracle…")
def exact_solution(oracle: str) -> np.ndarray:
    from diffusion.reference import reference_solve

    return reference_solve(models.load(oracle), _x_T(), rtol=1e-9, atol=1e-9).numpy()


@st.cache_data(max_entries=256, show_spinner="Running the solver on the oracle…")
def error_curve(oracle: str, name: str, spacing: str) -> list[tuple[int, float]]:
    """(NFE, RMS error against the exact solution) for grids of 2 ... 32 steps."""
    model = models.load(oracle)
    exact = torch.as_tensor(exact_solution(oracle))
    sp = models.REGISTRY[name]
    pts = []
    for steps in (2, 3, 4, 6, 8, 12, 16, 24, 32):
        cost = sp.nfe(steps)
        if cost > 64:
            break
        ts = make_timesteps(model.schedule, steps, spacing)
        x = sp(model, _x_T(), ts, record=False).x
        pts.append((cost, float(((x - exact) ** 2).sum(-1).mean().sqrt())))
    return pts


st.subheader("Error against NFE on the exact oracle")
oracles = [m for m in models.model_choices() if m.startswith("oracle:")]
c1, c2 = st.columns([3, 1])
with c2:
    oracle = spec if spec.startswith("oracle:") else oracles[0]
    st.markdown(f"Mixture **{oracle[7:]}**: its exact denoiser has no network error, so "
                "what remains is each solver's own discretisation error against a float64 "
                "adaptive solve of the same ODE (64 particles, RMS).")
    st.markdown("A solver of order $k$ has global error $\\propto \\mathrm{NFE}^{-k}$: a "
                "straight line of slope $-k$ on log-log axes. The measured order is the "
                "slope over the four largest NFEs above round-off.")
curves = {name: error_curve(oracle, name, spacing) for name in chosen}
series, orders = {}, {}
for name, pts in curves.items():
    label = models.sampler_label(name)
    series[label] = ([p[0] for p in pts], [p[1] for p in pts])
    good = [p for p in pts if p[1] > 1e-9][-4:]
    if len(good) >= 2:
        orders[label] = fit_order([p[0] for p in good], [p[1] for p in good])
with c1:
    if series:
        show(figures.error_vs_nfe(series, orders=orders, lecture=lecture), "solvers-error-vs-nfe")

st.subheader("Heun's predictor and corrector, one particle")
c1, c2 = st.columns([3, 2])
with c2:
    st.latex(r"\tilde x = x_{t_i} + (\bar\sigma_{i+1}-\bar\sigma_i)\,d_i,\quad "
             r"d_i = \epsilon_\theta(x_{t_i}, t_i)")
    st.latex(r"x_{t_{i+1}} = x_{t_i} + (\bar\sigma_{i+1}-\bar\sigma_i)\,"
             r"\tfrac12\big(d_i + \epsilon_\theta(\tilde x, t_{i+1})\big)")
    st.caption("Written in the scaled variable $\\bar x = x/\\alpha$; the figure shows $x$.")
    h_steps = ps.slider("heun_steps", "Heun steps on the grid", 3, 10, 4, 1)
    h_i = ps.slider("heun_i", "Which step", 0, h_steps - 2, 0, 1)
    particle = ps.number("particle", "Particle", 0, 63, 3)


@st.cache_data(max_entries=256, show_spinner=False)
def heun_picture(oracle: str, spacing: str, h_steps: int, h_i: int, particle: int):
    """One particle's state at the chosen grid time, its Euler predictor and Heun
    corrector, and the exact ODE path over the step; all (2,) or (40, 2) arrays."""
    from diffusion.reference import reference_trajectory

    model = models.load(oracle)
    ts = make_timesteps(model.schedule, h_steps, spacing).tolist()
    x_T = _x_T()[particle:particle + 1]
    x_i = reference_trajectory(model, x_T, [ts[h_i]])[0] if h_i else x_T
    x_eu, x_he = figures.heun_points(model, x_i, ts[h_i], ts[h_i + 1])
    path = reference_trajectory(model, x_i, np.linspace(ts[h_i], ts[h_i + 1], 40),
                                t_start=ts[h_i])[:, 0]
    return x_i[0].numpy(), x_eu[0].numpy(), x_he[0].numpy(), path.numpy()


with c1:
    show(figures.heun_step(*heun_picture(oracle, spacing, h_steps, h_i, int(particle)),
                           lecture=lecture), "solvers-heun-step")
published(SOLVER_TABLE, SOLVER_SOURCE, "Published: solvers on CIFAR-10 (FID vs NFE)")
ps.finish()
