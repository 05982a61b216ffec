"""Page 1: why accelerate. The same model at 1000 steps and at 10 steps."""

import streamlit as st

from ui import figures, models, teaching
from ui.layout import page_header, show
from ui.state import PageState

lecture = page_header(
    "Why accelerate?",
    "A diffusion model draws a sample by integrating the reverse process from pure noise "
    "$x_T$ to data $x_0$. DDPM takes all $T = 1000$ small steps, one network evaluation "
    "(NFE) each. The same trained network can be sampled in far fewer steps.",
    page="why",
)
ps = PageState("why")
c1, c2, c3 = st.columns(3)
spec = models.select_model(
    ps,
    container=c1,
    help="A trained 2-D model, or an exact oracle (a Gaussian mixture whose "
    "denoiser is known in closed form: no network error).",
)
n = ps.slider(
    "n",
    "Points",
    200,
    3000,
    1000,
    100,
    container=c2,
    help="Samples drawn per panel; more points show the shape better.",
)
fast = ps.steps(
    "steps",
    "Steps of the fast sampler",
    10,
    lo=1,
    hi=100,
    container=c3,
    help="Grid points S of deterministic DDIM on a trailing grid (first step at t = T-1); NFE = S.",
)
ps.presets()

slow = models.sample(spec, "ddpm", 1000, n, 0, "leading", ())
quick = models.sample(spec, "ddim", fast, n, 0, "trailing", (("eta", 0.0),))
dataset = models.dataset_of(spec)

left, right = st.columns([3, 2])
with left:
    fig = figures.samples_grid(
        {"DDPM, 1000 steps": slow["x"], f"DDIM, {fast} steps": quick["x"]},
        data=models.data(dataset, n),
        subtitles={
            "DDPM, 1000 steps": f"NFE {slow['nfe']} · {slow['seconds']:.2f} s",
            f"DDIM, {fast} steps": f"NFE {quick['nfe']} · {quick['seconds']:.3f} s",
        },
        lecture=lecture,
    )
    show(fig, "why-1000-vs-few")
    teaching.advice(
        "ddim",
        fast,
        "trailing",
        None if spec.startswith("oracle:") else models.load(spec).prediction,
    )
with right:
    speedup = slow["seconds"] / max(quick["seconds"], 1e-9)
    st.metric(
        "Wall-time speed-up",
        f"{speedup:.0f}×",
        help="Measured on this server when the result was first computed.",
    )
    st.latex(
        r"\begin{aligned}x_{t-1} = {}&\tfrac{1}{\sqrt{1-\beta_t}}\Big(x_t - "
        r"\tfrac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t,t)\Big)\\"
        r"&+ \sqrt{\tilde\beta_t}\,z\end{aligned}"
    )
    st.markdown(
        "DDPM's ancestral step (above) is only accurate for small $\\beta_t$, so it needs all "
        "1000 steps. DDIM defines an inference process that keeps the marginals "
        "$q(x_t\\mid x_0)$ on **any** subsequence of timesteps, so the same network applies "
        "with no retraining. Its sampler still makes a discretisation error on a coarse grid "
        "(pages 2 and 3 measure it); the reward is a hundred times fewer evaluations. "
        "($\\tilde\\beta_t = \\beta_t (1-\\bar\\alpha_{t-1})/(1-\\bar\\alpha_t)$ is the "
        "posterior variance the DDPM panel uses; $z$ is fresh noise.)"
    )

st.subheader("Map of the acceleration methods")
rows = [
    ("DDIM", "10–100", "No", "Good", "Fast", "chapters/2_ddim.py"),
    ("DPM-Solver++", "10–20", "No", "Very good", "Fast", "chapters/3_solvers.py"),
    (
        "Progressive distillation",
        "4–8",
        "Yes (iterative)",
        "Very good",
        "Very fast",
        "chapters/4_progressive.py",
    ),
    ("Consistency models", "1–4", "Yes", "Good–very good", "Fastest", "chapters/5_consistency.py"),
    ("Original DDPM", "1000", "—", "Baseline", "Slow", None),
]
head = st.columns([3, 1.3, 1.6, 1.6, 1.3])
for col, h in zip(head, ["Method", "Steps", "Retraining?", "Quality", "Speed"], strict=True):
    col.markdown(f"**{h}**")
for method, steps, retrain, quality, speed, target in rows:
    cols = st.columns([3, 1.3, 1.6, 1.6, 1.3])
    if target:
        cols[0].page_link(target, label=method, icon="➡️")
    else:
        cols[0].markdown(method)
    for col, v in zip(cols[1:], (steps, retrain, quality, speed), strict=True):
        col.markdown(v)
st.caption(
    "The chapter's comparison table; page 6 fills it with measurements on this server's 2-D models."
)
teaching.check_questions("why")
teaching.citations("why")
ps.finish()
