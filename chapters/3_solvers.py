"""Page 3: higher-order ODE solvers at equal NFE, and their measured order on the oracle."""

import streamlit as st

from diffusion.grids import SPACINGS
from diffusion.metrics import ASYMPTOTIC_NFE
from diffusion.precomputed import SOLVERS
from ui import figures, models, solvers, teaching
from ui.layout import SOLVER_SOURCE, SOLVER_TABLE, page_header, published, show
from ui.state import PageState

NFE_LADDER = [3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50]

lecture = page_header(
    "Higher-order ODE solvers",
    "Deterministic DDIM is Euler's method on the probability-flow ODE. Solvers that use "
    "more than one slope per step, or the slopes of previous steps, cut the error faster "
    "as the number of network evaluations (NFE) grows.",
    page="solvers",
)
ps = PageState("solvers")
with st.sidebar:
    st.header("Solver controls")
    spec = models.select_model(
        ps,
        help="The model of the sample panels. The error curves always use an "
        "exact oracle (this one, or the first oracle for a trained model).",
    )
    nfe = ps.select(
        "nfe",
        "NFE budget (equal for every solver)",
        NFE_LADDER,
        10,
        help="Network evaluations each solver may spend; each takes as many "
        "timesteps as fit in it.",
    )
    chosen = ps.multiselect(
        "solvers",
        "Solvers",
        SOLVERS,
        ["ddim", "heun", "dpm-solver-2", "dpm-solver++2m", "unipc"],
        max_selections=6,
        format_func=models.sampler_label,
        help="Up to six solvers, compared at the same NFE. DDIM, Euler "
        "and DPM-Solver-1 are the same method.",
    )
    spacing = ps.select(
        "spacing",
        "Timestep spacing",
        list(SPACINGS),
        "logsnr",
        help="The grid of every solver here; log-SNR and Karras are where "
        "higher-order solvers show their order.",
    )
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100, help="Samples drawn per panel.")
ps.presets()

st.latex(
    r"\frac{d\bar x}{d\bar\sigma} = \epsilon_\theta(x_t, t),\quad "
    r"\bar x = x_t/\alpha_t,\ \bar\sigma = \sigma_t/\alpha_t \qquad"
    r"\text{(probability-flow ODE, VP form)}"
)

st.subheader(f"Samples at NFE ≈ {nfe}")
panels, subtitles, timing = {}, {}, []
for name in chosen:
    steps = max(models.steps_within(name, nfe), 1)
    out = models.sample(spec, name, steps, n, 0, spacing, ())
    label = models.sampler_label(name)
    panels[label] = out["x"]
    subtitles[label] = teaching.nfe_breakdown(name, steps, compact=True)
    timing.append(f"{label} {teaching.nfe_breakdown(name, steps)}, {out['seconds'] * 1e3:.0f} ms")
if panels:
    show(
        figures.samples_grid(
            panels,
            data=models.data(models.dataset_of(spec), n),
            subtitles=subtitles,
            lecture=lecture,
        ),
        "solvers-samples",
    )
else:
    st.info("Choose at least one solver in the sidebar.")
if timing:
    st.caption("; ".join(timing) + " (wall time on this server).")
st.caption(
    "Subtitles: a grid of S timesteps gives S-1 solver steps, each spending k "
    "evaluations, plus the evaluation at the last grid time whose $\\hat x_0$ is the "
    "output (the step to $\\sigma = 0$). Heun and the singlestep DPM-Solvers spend two or "
    "three evaluations per step, so at equal NFE they take fewer, more accurate steps. "
    "Multistep solvers (DPM-Solver++ 2M/3M, UniPC) reuse the previous steps' "
    "evaluations and spend one per step. DDIM, Euler and DPM-Solver-1 are one method "
    "written three ways, so their panels are identical."
)
for name in chosen:
    teaching.advice(name, max(models.steps_within(name, nfe), 1), spacing)
teaching.deep_dive("dpm-solver")
if spacing == "karras":
    teaching.deep_dive("karras")


st.subheader("Error against NFE on the exact oracle")
c1, c2 = st.columns([3, 1])
with c2:
    oracle = solvers.oracle_for(spec)
    st.markdown(
        f"Mixture **{models.dataset_of(oracle)}**: its exact denoiser has no network "
        "error, so what remains is each solver's own discretisation error against a "
        "float64 adaptive solve of the same ODE (64 particles, RMS)."
    )
    st.markdown(
        "A solver of order $k$ has global error $\\propto \\mathrm{NFE}^{-k}$: a "
        "straight line of slope $-k$ on log-log axes. The measured order in the legend "
        f"is the slope over NFE {ASYMPTOTIC_NFE[0]}-{ASYMPTOTIC_NFE[1]}, the asymptotic "
        "range; to the left the curves are pre-asymptotic and their slopes mislead."
    )
series, orders = solvers.error_curves(oracle, chosen, spacing)
with c1:
    if series:
        show(figures.error_vs_nfe(series, orders=orders, lecture=lecture), "solvers-error-vs-nfe")
teaching.deep_dive("orders")

st.subheader("Heun's predictor and corrector, one particle")
c1, c2 = st.columns([3, 2])
with c2:
    st.latex(
        r"d_i = \epsilon_\theta(\alpha_{t_i}\bar x_i,\ t_i),\quad "
        r"\Delta\bar\sigma_i = \bar\sigma_{i+1}-\bar\sigma_i"
    )
    st.latex(r"\tilde{\bar x} = \bar x_i + \Delta\bar\sigma_i\,d_i")
    st.latex(r"\tilde d = \epsilon_\theta(\alpha_{t_{i+1}}\tilde{\bar x},\ t_{i+1})")
    st.latex(r"\bar x_{i+1} = \bar x_i + \Delta\bar\sigma_i\,\tfrac12\big(d_i + \tilde d\big)")
    st.caption(
        "In the scaled variable $\\bar x = x_t/\\alpha_t$, where the ODE reads "
        "$d\\bar x/d\\bar\\sigma = \\epsilon_\\theta$; the network sees "
        "$x_t = \\alpha_t \\bar x$. The figure shows $x_t$."
    )
    h_steps = ps.slider(
        "heun_steps",
        "Heun steps on the grid",
        3,
        10,
        4,
        1,
        help="Timesteps of the grid the Heun step is taken on (same spacing as above).",
    )
    h_i = ps.slider(
        "heun_i",
        "Which step",
        0,
        h_steps - 2,
        0,
        1,
        help="Which step of that grid to draw, 0 = the first, from t = T-1.",
    )
    particle = ps.number(
        "particle",
        "Particle",
        0,
        63,
        3,
        help="Which of the 64 particles of the error curves to follow.",
    )


with c1:
    show(
        figures.heun_step(
            *solvers.heun_picture(oracle, spacing, h_steps, h_i, int(particle)), lecture=lecture
        ),
        "solvers-heun-step",
    )
published(SOLVER_TABLE, SOLVER_SOURCE, "Published: solvers on CIFAR-10 (FID vs NFE)")
teaching.check_questions("solvers")
teaching.citations("solvers")
ps.finish()
