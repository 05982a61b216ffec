"""Page 2: DDIM step skipping: steps, eta and the timestep spacing."""

import numpy as np
import streamlit as st

from diffusion import figures
from diffusion.schedules import SPACINGS
from ui import models
from ui.layout import DDIM_SOURCE, DDIM_TABLE, animation_export, page_header, published, show
from ui.state import PageState

SPACING_LABELS = {
    "leading": "leading (= uniform, DDIM's code)", "uniform": "uniform (= leading)",
    "linspace": "linspace", "trailing": "trailing", "quadratic": "quadratic (DDIM's code)",
    "logsnr": "uniform in log-SNR", "karras": "Karras (EDM, rho = 7)",
}

lecture = page_header(
    "DDIM step skipping",
    "The DDPM loss only constrains the marginals $q(x_t \\mid x_0)$, so a non-Markovian "
    "reverse process on a **subsequence** $\\tau_S > \\dots > \\tau_1$ of timesteps uses the "
    "same trained network. No retraining.",
)
ps = PageState("ddim")
with st.sidebar:
    st.header("DDIM controls")
    spec = ps.select("model", "Model", models.model_choices(), models.default_model(),
                     format_func=models.model_label)
    steps = ps.steps("steps", "Steps S (log scale)", 20)
    eta = ps.slider("eta", "eta (0 = deterministic DDIM, 1 = DDPM-like)", 0.0, 1.0, 0.0, 0.1)
    spacing = ps.select("spacing", "Timestep spacing", list(SPACINGS), "leading",
                        format_func=SPACING_LABELS.get)
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 2000, 100)
    seed = ps.number("seed", "Seed", 0, 10_000, 0)
ps.presets()

run = models.sample(spec, "ddim", steps, n, seed, spacing, (("eta", float(eta)),))
curves = models.schedule_curves(spec)
ts = run["timesteps"]
T = int(curves["T"])

st.latex(r"x_{\tau_{i-1}} = \sqrt{\bar\alpha_{\tau_{i-1}}}\,\hat x_0 + "
         r"\sqrt{1-\bar\alpha_{\tau_{i-1}}-\sigma_{\tau_i}^2}\;\epsilon_\theta(x_{\tau_i},\tau_i)"
         r" + \sigma_{\tau_i} z")
st.latex(r"\hat x_0 = \frac{x_{\tau_i} - \sqrt{1-\bar\alpha_{\tau_i}}"
         r"\,\epsilon_\theta(x_{\tau_i},\tau_i)}{\sqrt{\bar\alpha_{\tau_i}}}")
st.latex(r"\sigma_{\tau_i}(\eta) = \eta\sqrt{\frac{1-\bar\alpha_{\tau_{i-1}}}"
         r"{1-\bar\alpha_{\tau_i}}}"
         r"\sqrt{1-\frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}}}")

st.subheader("Where the model is evaluated")
col_fig, col_txt = st.columns([3, 1])
with col_fig:
    show_all = st.toggle("Show every spacing", value=False, key="ddim.allspacings")
    grids = {spacing: ts}
    if show_all:
        grids = {s: models.grid(spec, steps, s) for s in SPACINGS if s != "uniform"}
    show(figures.schedule_timesteps(curves["t"], curves["alpha_bar"], curves["lambda_"], grids,
                                    lecture=lecture), "ddim-timesteps")
with col_txt:
    st.markdown(f"**{len(ts)} distinct timesteps**, first {ts[0]:.1f}, last {ts[-1]:.1f}.")
    if len(ts) < steps:
        st.warning(f"{spacing} spacing repeats integer timesteps at S = {steps}; after "
                   f"removing duplicates only {len(ts)} remain.")
    if ts[0] < T - 1:
        st.info(f"This grid never evaluates the model at t = T-1 = {T - 1}: it starts from "
                f"$x_T$ as if it were $x_{{{ts[0]:.0f}}}$. Leading and quadratic spacing "
                "share this flaw (Lin et al. 2023); trailing and linspace start at T-1.")
    if spacing == "trailing":
        st.markdown("Trailing is uniform spacing that **starts at T-1**; it is not denser at "
                    "high t, whatever some course notes say (Lin et al. 2023, Table 2).")
    st.markdown("Uniform-in-log-SNR and Karras grids put more steps where the signal-to-noise "
                "ratio changes fastest, near the data end.")

st.subheader("Samples and trajectories")
c1, c2 = st.columns(2)
with c1:
    data = models.data(models.dataset_of(spec), n)
    show(figures.samples_grid({f"DDIM, S = {steps}, eta = {eta:g}": run["x"]}, data=data,
                              subtitles={f"DDIM, S = {steps}, eta = {eta:g}":
                                         f"NFE {run['nfe']} · {run['seconds']:.3f} s"},
                              lecture=lecture), "ddim-samples")
with c2:
    what = st.radio("Animate", ["x_t", "x0-hat"], horizontal=True, key="ddim.animate",
                    help="x0-hat is the network's current guess of the clean sample.")
    xs = run["xs"] if what == "x_t" else np.concatenate([run["xs"][:1], run["x0_preds"]])
    runs = {f"{what}, S = {steps}": xs}
    show(figures.trajectory_animation(runs, lecture=lecture), "ddim-trajectories")
    animation_export(runs, "ddim-trajectories")

st.subheader("Quality against steps")
st.markdown("Deterministic DDIM ($\\eta = 0$) follows the probability-flow ODE, so coarser "
            "steps only add discretisation error. With $\\eta > 0$ every step also injects "
            "fresh noise that the few remaining steps cannot remove.")
if st.toggle("Compute quality vs steps for eta = 0, 0.5, 1 and DDPM (a few seconds the first "
             "time, then cached)", value=False, key="ddim.quality"):
    ladder = [5, 10, 20, 50, 100]
    metric = "sliced_w2"
    series, floor = {}, None
    runs_q = [(f"DDIM eta = {e:g}", "ddim", (("eta", e),)) for e in (0.0, 0.5, 1.0)]
    if "ddpm" in models.REGISTRY:
        runs_q.append(("DDPM (beta)", "ddpm", (("variance", "beta"),)))
    bar = st.progress(0.0, text="sampling and scoring…")
    for i, (label, name, opts) in enumerate(runs_q):
        vals = []
        for s in ladder:
            q = models.quality(spec, name, s, 2000, seed, spacing, opts)
            vals.append(q[metric])
            floor = q["floor_sliced_w2"]
        series[label] = (ladder, vals)
        bar.progress((i + 1) / len(runs_q))
    bar.empty()
    show(figures.quality_curves(series, metric="sliced Wasserstein-2 (2,000 points)", floor=floor,
                                x_label="steps S", lecture=lecture,
                                title=f"{models.model_label(spec)}, {spacing} spacing"),
         "ddim-quality")
published(DDIM_TABLE, DDIM_SOURCE, "Published: DDIM on CIFAR-10 (FID, lower is better)")
ps.finish()
