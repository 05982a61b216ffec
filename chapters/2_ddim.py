"""Page 2: DDIM step skipping: steps, eta and the timestep spacing."""

import streamlit as st

from diffusion.grids import SPACINGS
from ui import budget, figures, models, precomputed, teaching
from ui.layout import DDIM_SOURCE, DDIM_TABLE, animation_export, page_header, published, show
from ui.state import PageState

ANIMATED = 150  # particles that move in the animation: enough to see the flow, light to redraw

SPACING_LABELS = {
    "leading": "leading (= uniform, DDIM's code)",
    "uniform": "uniform (= leading)",
    "linspace": "linspace",
    "trailing": "trailing",
    "quadratic": "quadratic (DDIM's code)",
    "logsnr": "uniform in log-SNR",
    "karras": "Karras (EDM, rho = 7)",
}

lecture = page_header(
    "DDIM step skipping",
    "The DDPM loss only constrains the marginals $q(x_t \\mid x_0)$. DDIM builds a "
    "non-Markovian **inference** (forward) process with those marginals on a "
    "**subsequence** $\\tau_S > \\dots > \\tau_1$ of timesteps; its generative process is a "
    "Markov chain on that subsequence, and it uses the same trained network. No retraining.",
    page="ddim",
)
ps = PageState("ddim")
with st.sidebar:
    st.header("DDIM controls")
    spec = models.select_model(
        ps,
        help="A trained 2-D model, or an exact oracle (no network error).",
    )
    steps = ps.steps(
        "steps",
        "Steps S (log scale)",
        20,
        help="Timesteps on the sampling grid; DDIM spends one NFE per timestep.",
    )
    eta = ps.slider(
        "eta",
        "eta (0 = deterministic DDIM, 1 = DDPM-like)",
        0.0,
        1.0,
        0.0,
        0.1,
        help="Scales the noise each step adds, nu_i(eta); 0 follows the probability-flow ODE.",
    )
    spacing = ps.select(
        "spacing",
        "Timestep spacing",
        list(SPACINGS),
        "trailing",
        format_func=SPACING_LABELS.get,
        help="Where the S timesteps sit in [0, T-1]; the figure below draws "
        "them. Trailing and linspace start at T-1, leading and "
        "quadratic below it.",
    )
    n = ps.slider(
        "n",
        "Points",
        200,
        models.MAX_POINTS,
        2000,
        100,
        help="Samples drawn; more points show the shape better.",
    )
    seed = ps.number(
        "seed", "Seed", 0, 10_000, 0, help="Seeds x_T and, for eta > 0, the noise added on the way."
    )
ps.presets()

run = models.sample(spec, "ddim", steps, n, seed, spacing, (("eta", float(eta)),))
curves = models.schedule_curves(spec)
ts = run["timesteps"]
T = int(curves["T"])

st.latex(
    r"x_{\tau_{i-1}} = \sqrt{\bar\alpha_{\tau_{i-1}}}\,\hat x_0 + "
    r"\sqrt{1-\bar\alpha_{\tau_{i-1}}-\nu_i^2}\;\epsilon_\theta(x_{\tau_i},\tau_i)"
    r" + \nu_i z"
)
st.latex(
    r"\hat x_0 = \frac{x_{\tau_i} - \sqrt{1-\bar\alpha_{\tau_i}}"
    r"\,\epsilon_\theta(x_{\tau_i},\tau_i)}{\sqrt{\bar\alpha_{\tau_i}}}"
)
st.latex(
    r"\nu_i(\eta) = \eta\sqrt{\frac{1-\bar\alpha_{\tau_{i-1}}}"
    r"{1-\bar\alpha_{\tau_i}}}"
    r"\sqrt{1-\frac{\bar\alpha_{\tau_i}}{\bar\alpha_{\tau_{i-1}}}}"
)

st.subheader("Samples")
data = models.data(models.dataset_of(spec), n)
head = f"DDIM, S = {steps}, eta = {eta:g}"
show(
    figures.samples_grid(
        {head: run["x"]},
        data=data,
        subtitles={head: f"NFE {run['nfe']} · {run['seconds']:.3f} s"},
        lecture=lecture,
    ),
    "ddim-samples",
)
teaching.advice(
    "ddim", steps, spacing, None if spec.startswith("oracle:") else models.load(spec).prediction
)


@st.fragment
def where_evaluated(spec: str, steps: int, spacing: str, ts) -> None:
    """The grid on the schedule curves; its toggle reruns only this part."""
    col_fig, col_txt = st.columns([3, 1])
    with col_fig:
        show_all = ps.toggle(
            "allspacings",
            "Show every spacing",
            False,
            help="Draw the grids of all spacings at this S, one row each.",
        )
        grids = {spacing: ts}
        if show_all:
            grids = {s: models.grid(spec, steps, s) for s in SPACINGS if s != "uniform"}
        show(
            figures.schedule_timesteps(
                curves["t"], curves["alpha_bar"], curves["lambda_"], grids, lecture=lecture
            ),
            "ddim-timesteps",
        )
        ps.write_url(prune=False)
    with col_txt:
        st.markdown(f"**{len(ts)} distinct timesteps**, first {ts[0]:.1f}, last {ts[-1]:.1f}.")
        if len(ts) < steps:
            st.warning(
                f"{spacing} spacing repeats integer timesteps at S = {steps}; after "
                f"removing duplicates only {len(ts)} remain."
            )
        if ts[0] < T - 1:
            st.info(
                f"This grid never evaluates the model at t = T-1 = {T - 1}: it starts from "
                f"$x_T$ as if it were $x_{{{ts[0]:.0f}}}$. Lin et al. (2023) point this "
                "out for leading spacing; quadratic spacing (0.8 T at most) shares it. "
                "Trailing and linspace start at T-1."
            )
        if spacing == "trailing":
            st.markdown(
                "Trailing is uniform spacing that **starts at T-1**; it is not denser "
                "at high t, whatever some course notes say (Lin et al. 2023, Table 2)."
            )
        st.markdown(
            "Uniform-in-log-SNR and Karras grids put more steps where the "
            "signal-to-noise ratio changes fastest, near the data end."
        )
        if spacing == "karras":
            teaching.deep_dive("karras")


@st.fragment
def trajectories(run: dict, steps: int) -> None:
    """The animated trajectories, drawn when asked for: an animation redrawn on every
    change of steps, eta or spacing would double the time a slider change takes to
    show the new samples. Its own controls rerun only this part."""
    on = ps.toggle(
        "trajectories",
        f"Show the animated trajectories of {ANIMATED} particles",
        False,
        help="Press Play, or drag the step slider under the animation.",
    )
    what = ps.select(
        "animate",
        "Animate",
        ["x_t", "x0-hat"],
        "x_t",
        radio=True,
        horizontal=True,
        disabled=not on,
        help="x0-hat is the network's current guess of the clean sample.",
    )
    ps.write_url(prune=False)
    if not on:
        return
    runs = {f"{what}, S = {steps}": models.frames(run, x0_hat=what == "x0-hat")}
    show(figures.trajectory_animation(runs, n_show=ANIMATED, lecture=lecture), "ddim-trajectories")
    animation_export(runs, "ddim-trajectories")


@st.fragment
def quality_vs_steps(spec: str, seed: int, spacing: str) -> None:
    """Quality against steps for eta 0 / 0.5 / 1 and DDPM. It depends on the model,
    seed and spacing only, so moving steps, eta or points never recomputes it."""
    shipped = precomputed.ddim_sweep(spec, seed, spacing)
    on = ps.toggle(
        "quality",
        "Recompute live for these settings (a few seconds the first time, then cached)",
        False,
        help="Samples and scores every S of the curve for this model, seed and "
        "spacing instead of the shipped curve.",
    )
    ps.write_url(prune=False)
    result = shipped
    if on or shipped is None:
        if not on:
            st.info("No shipped curve for this model, seed and spacing: recompute it live.")
            return
        with st.spinner("sampling and scoring…"):
            result = (
                budget.run("Quality vs steps", models.ddim_quality_sweep, spec, seed, spacing)
                or shipped
            )
        if result is None:
            return
    series, floor = result
    show(
        figures.quality_curves(
            series,
            metric=f"sliced Wasserstein-2 ({models.SWEEP_POINTS:,} points)",
            floor=floor,
            x_label="steps S",
            lecture=lecture,
            title=f"{models.model_label(spec)}, {spacing} spacing",
        ),
        "ddim-quality",
    )
    if result is shipped:
        st.caption(precomputed.caption("ddim_quality"))


st.subheader("Where the model is evaluated")
where_evaluated(spec, steps, spacing, ts)
teaching.subsequence_code(ts)
teaching.deep_dive("last-step")
st.subheader("Trajectories")
trajectories(run, steps)

st.subheader("Quality against steps")
st.markdown(
    "Deterministic DDIM ($\\eta = 0$) follows the probability-flow ODE, so coarser "
    "steps only add discretisation error. With $\\eta > 0$ every step also injects "
    "fresh noise that the few remaining steps cannot remove."
)
quality_vs_steps(spec, seed, spacing)
teaching.deep_dive("metrics")
published(DDIM_TABLE, DDIM_SOURCE, "Published: DDIM on CIFAR-10 (FID, lower is better)")
teaching.deep_dive("ddim-table")
teaching.check_questions("ddim")
teaching.citations("ddim")
ps.finish()
