"""Page 2: DDIM step skipping: steps, eta and the timestep spacing."""

import streamlit as st

from diffusion import figures
from diffusion.grids import SPACINGS
from ui import models
from ui.layout import DDIM_SOURCE, DDIM_TABLE, animation_export, page_header, published, show
from ui.state import PageState

ANIMATED = 150  # particles that move in the animation: enough to see the flow, light to redraw

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

st.subheader("Samples")
data = models.data(models.dataset_of(spec), n)
head = f"DDIM, S = {steps}, eta = {eta:g}"
show(figures.samples_grid({head: run["x"]}, data=data,
                          subtitles={head: f"NFE {run['nfe']} · {run['seconds']:.3f} s"},
                          lecture=lecture), "ddim-samples")


@st.fragment
def where_evaluated(spec: str, steps: int, spacing: str, ts) -> None:
    """The grid on the schedule curves; its toggle reruns only this part."""
    col_fig, col_txt = st.columns([3, 1])
    with col_fig:
        show_all = ps.toggle("allspacings", "Show every spacing", False)
        grids = {spacing: ts}
        if show_all:
            grids = {s: models.grid(spec, steps, s) for s in SPACINGS if s != "uniform"}
        show(figures.schedule_timesteps(curves["t"], curves["alpha_bar"], curves["lambda_"],
                                        grids, lecture=lecture), "ddim-timesteps")
        ps.write_url(prune=False)
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
            st.markdown("Trailing is uniform spacing that **starts at T-1**; it is not denser "
                        "at high t, whatever some course notes say (Lin et al. 2023, Table 2).")
        st.markdown("Uniform-in-log-SNR and Karras grids put more steps where the "
                    "signal-to-noise ratio changes fastest, near the data end.")


@st.fragment
def trajectories(run: dict, steps: int) -> None:
    """The animated trajectories, drawn when asked for: an animation redrawn on every
    change of steps, eta or spacing would double the time a slider change takes to
    show the new samples. Its own controls rerun only this part."""
    on = ps.toggle("trajectories", f"Show the animated trajectories of {ANIMATED} particles", False,
                   help="Press Play, or drag the step slider under the animation.")
    what = ps.select("animate", "Animate", ["x_t", "x0-hat"], "x_t", radio=True,
                     horizontal=True, disabled=not on,
                     help="x0-hat is the network's current guess of the clean sample.")
    ps.write_url(prune=False)
    if not on:
        return
    runs = {f"{what}, S = {steps}": models.frames(run, x0_hat=what == "x0-hat")}
    show(figures.trajectory_animation(runs, n_show=ANIMATED, lecture=lecture),
         "ddim-trajectories")
    animation_export(runs, "ddim-trajectories")


@st.fragment
def quality_vs_steps(spec: str, seed: int, spacing: str) -> None:
    """Quality against steps for eta 0 / 0.5 / 1 and DDPM. It depends on the model,
    seed and spacing only, so moving steps, eta or points never recomputes it."""
    on = ps.toggle("quality", "Compute quality vs steps for eta = 0, 0.5, 1 and DDPM (a few "
                   "seconds the first time, then cached)", False)
    ps.write_url(prune=False)
    if not on:
        return
    with st.spinner("sampling and scoring…"):
        series, floor = models.ddim_quality_sweep(spec, seed, spacing)
    show(figures.quality_curves(series, metric=f"sliced Wasserstein-2 "
                                f"({models.SWEEP_POINTS:,} points)", floor=floor,
                                x_label="steps S", lecture=lecture,
                                title=f"{models.model_label(spec)}, {spacing} spacing"),
         "ddim-quality")


st.subheader("Where the model is evaluated")
where_evaluated(spec, steps, spacing, ts)
st.subheader("Trajectories")
trajectories(run, steps)

st.subheader("Quality against steps")
st.markdown("Deterministic DDIM ($\\eta = 0$) follows the probability-flow ODE, so coarser "
            "steps only add discretisation error. With $\\eta > 0$ every step also injects "
            "fresh noise that the few remaining steps cannot remove.")
quality_vs_steps(spec, seed, spacing)
published(DDIM_TABLE, DDIM_SOURCE, "Published: DDIM on CIFAR-10 (FID, lower is better)")
ps.finish()
