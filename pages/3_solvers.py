"""Page 3: higher-order ODE solvers at equal NFE, and their measured order on the oracle."""

import streamlit as st

from diffusion import figures
from diffusion.grids import SPACINGS
from ui import models, solvers
from ui.layout import SOLVER_SOURCE, SOLVER_TABLE, page_header, published, show
from ui.state import PageState

SOLVERS = ["ddim", "euler", "heun", "dpm-solver-1", "dpm-solver-2", "dpm-solver-3",
           "dpm-solver++2m", "dpm-solver++3m", "dpm-solver++2s", "unipc"]
NFE_LADDER = [3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50]

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
                            ["ddim", "heun", "dpm-solver-2", "dpm-solver++2m", "unipc"],
                            max_selections=6,
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
    steps = max(models.steps_within(name, nfe), 1)
    out = models.sample(spec, name, steps, n, 0, spacing, ())
    label = models.sampler_label(name)
    panels[label] = out["x"]
    subtitles[label] = (f"{steps} steps × {models.nfe_per_step(name)} NFE<br>= NFE {out['nfe']} · "
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


st.subheader("Error against NFE on the exact oracle")
c1, c2 = st.columns([3, 1])
with c2:
    oracle = solvers.oracle_for(spec)
    st.markdown(f"Mixture **{models.dataset_of(oracle)}**: its exact denoiser has no network "
                "error, so what remains is each solver's own discretisation error against a "
                "float64 adaptive solve of the same ODE (64 particles, RMS).")
    st.markdown("A solver of order $k$ has global error $\\propto \\mathrm{NFE}^{-k}$: a "
                "straight line of slope $-k$ on log-log axes. The measured order is the "
                "slope over the four largest NFEs above round-off.")
series, orders = solvers.error_curves(oracle, chosen, spacing)
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


with c1:
    show(figures.heun_step(*solvers.heun_picture(oracle, spacing, h_steps, h_i, int(particle)),
                           lecture=lecture), "solvers-heun-step")
published(SOLVER_TABLE, SOLVER_SOURCE, "Published: solvers on CIFAR-10 (FID vs NFE)")
ps.finish()
