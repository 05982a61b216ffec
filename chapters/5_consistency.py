"""Page 5: consistency models: the consistency property, one step vs multistep, CD vs CT."""

import streamlit as st

from ui import fewstep, figures, jobs, live, models, precomputed, teaching
from ui.layout import FEWSTEP_TABLE, page_header, published, show, show_table
from ui.state import PageState

lecture = page_header(
    "Consistency models",
    "A consistency model $f_\\theta(x_t, t)$ maps **every** point of a probability-flow "
    "trajectory to the trajectory's clean end $x_0$, so one evaluation from $x_T$ is a "
    "sample (Song et al. 2023).",
    page="consistency",
)
datasets = live.fewstep_datasets("cm")
ps = PageState("consistency")
with st.sidebar:
    st.header("Consistency controls")
    dataset = ps.select(
        "dataset",
        "Dataset",
        datasets,
        datasets[0],
        help="The 2-D data set whose consistency models are shown.",
    )
    steps = ps.select(
        "steps",
        "Multistep: number of steps",
        [1, 2, 3, 4, 8],
        2,
        help="Steps of the multistep consistency sampler (Algorithm 1), drawn "
        "beside the 1-step sample.",
    )
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100, help="Samples drawn per panel.")
    seed = ps.number(
        "seed", "Seed", 0, 10_000, 0, help="Seeds x_T and the noise the multistep sampler adds."
    )
ps.presets()

st.latex(
    r"f_\theta(\bar x, t) = c_\mathrm{skip}(t)\,\bar x + c_\mathrm{out}(t)\,"
    r"F_\theta(\bar x, t),\quad \bar x = x_t/\alpha_t,"
    r"\qquad f_\theta(\bar x, t_\mathrm{min}) = \bar x"
)
st.caption(
    "The code works in the scaled variable $\\bar x = x_t/\\alpha_t$ (EDM's "
    "parameterisation): $c_\\mathrm{skip}(t_\\mathrm{min}) = 1$ and "
    "$c_\\mathrm{out}(t_\\mathrm{min}) = 0$ make the boundary condition exact at "
    "$t_\\mathrm{min} = 0$, where $\\bar\\sigma = 0.01$ (the CM paper's $\\epsilon$)."
)
st.latex(
    r"\mathcal{L}_\mathrm{CD} = d\big(f_\theta(x_{t_{n+1}}, t_{n+1}),\ "
    r"f_{\theta^-}(\hat x_{t_n}, t_n)\big),\quad \hat x_{t_n} = "
    r"\text{one ODE step of the teacher from } x_{t_{n+1}}"
)

teacher = live.teacher_for(dataset)
cms = {
    teaching.cm_label(method, spec): spec
    for method, spec in sorted(live.consistency_models(dataset).items())
}

if not cms:
    st.info(
        "No consistency model is available for this dataset yet: train one live below, "
        "or use the shipped ones when they are installed."
    )
else:
    st.subheader("The consistency property along one exact trajectory")
    c1, c2 = st.columns([3, 1])
    with c2:
        particle = ps.number(
            "particle",
            "Particle",
            0,
            99,
            0,
            help="Which of 100 noise draws to follow along its exact ODE path.",
        )
        st.markdown(
            "Points of the exact ODE path $x_t$ (grey line) go into each model. A "
            "consistency model sends them all to (nearly) the same point; the "
            "diffusion model's one-step $\\hat x_0$ only reaches it as $t \\to 0$."
        )
    with c1:
        ts, path, outs = fewstep.consistency_property(cms, teacher, int(particle), int(seed))
        show(figures.consistency_property(ts, path, outs, lecture=lecture), "cm-property")

    st.subheader("One step against multistep")
    st.latex(
        r"\bar x_{\tau_n} = \hat x_0 + \sqrt{\bar\sigma_{\tau_n}^2 - "
        r"\bar\sigma_{t_\mathrm{min}}^2}\, z,\quad \hat x_0 \leftarrow "
        r"f_\theta(\bar x_{\tau_n}, \tau_n)\qquad\text{(Algorithm 1)}"
    )
    for label, spec in cms.items():
        panels, subs = {}, {}
        for s in sorted({1, steps}):
            out = live.sample(spec, "consistency", s, n, seed)
            key = f"{label}, {s} step{'s' if s > 1 else ''}"
            panels[key], subs[key] = out["x"], f"NFE {out['nfe']} · {out['seconds'] * 1e3:.0f} ms"
        if teacher:
            # trailing: the one step starts at t = T-1 (leading would evaluate t = 0 on noise)
            out = live.sample(teacher, "ddim", 1, n, seed, "trailing")
            panels["diffusion model, DDIM 1 step"] = out["x"]
            subs["diffusion model, DDIM 1 step"] = "NFE 1 from t = T-1: eps error × σ/α"
        show(
            figures.samples_grid(
                panels, data=models.data(dataset, n), subtitles=subs, lecture=lecture
            ),
            f"cm-steps-{label}",
            key=f"cm.steps.{label}",
        )
    if teacher:
        st.caption(
            "The diffusion model's one step from t = T-1 computes "
            "$\\hat x_0 = (x - \\sigma\\epsilon_\\theta)/\\alpha$ with $\\sigma/\\alpha "
            "\\approx 157$: with an exact denoiser it would be the blurry mean of the "
            "data (a point near the centre); with a trained noise predictor its small "
            "error is multiplied by 157 and the samples scatter far beyond the data. "
            "A consistency model is trained to map $x_T$ to the end of its trajectory."
        )

    if len(cms) == 2:
        st.subheader("Consistency distillation against consistency training")
        shipped = precomputed.fewstep(dataset, seed)
        if (
            shipped
            and sorted({1, 2, steps}) == [1, 2]
            and not any(v.startswith("session:") for v in cms.values())
        ):
            show_table(shipped["cm_table"])
            st.caption(precomputed.caption("fewstep"))
        else:
            show_table(
                fewstep.consistency_table(cms, sorted({1, 2, steps}), dataset, seed),
            )
        st.caption(
            "**CD** (consistency distillation) learns from a teacher's ODE steps. The "
            "shipped CT models are **iCT started from the diffusion model's weights** "
            "(ECT's initialisation): pairs of noisy data that share one noise, no "
            "teacher; expect them close to CD. The live 'Train CT' button below trains "
            "**plain CT from scratch** (the original paper's), which in a few seconds "
            "is clearly worse, as the published table says too: CT 8.70 against CD "
            "3.55 at one step, iCT 2.83 (CIFAR-10 FID). MMD is the unbiased estimate, "
            "so values near 0 can be negative."
        )
        teaching.deep_dive("metrics")

st.subheader("Train live")
if teacher is None:
    live.no_teacher("Consistency distillation")
else:
    c1, c2, c3 = st.columns(3)
    method = c1.radio(
        "Method",
        ["cd", "ct"],
        horizontal=True,
        key="cm.method",
        format_func={"cd": "distillation (CD)", "ct": "plain training from scratch (CT)"}.get,
        help="CD distils the teacher; CT here is the original consistency "
        "training from a fresh network (not the shipped iCT/ECT models).",
    )
    secs = jobs.time_limit(c2, "cm.seconds")
    n_opt = jobs.optimiser_steps(c3, [200, 500, 1000, 2000, 4000], 1000, "cm.steps")
    if jobs.train_button(f"Train {method.upper()} on {dataset}", "cm.train"):
        jobs.launch("cm", live.train_consistency(method, teacher, n_opt, float(secs), seed))
    jobs.panel("cm", on_done=live.keep_consistency(dataset))
published(
    FEWSTEP_TABLE,
    "CIFAR-10 FID. Sources in the last column (REFERENCES.md).",
    "Published: few-step models on CIFAR-10 (FID)",
)
teaching.deep_dive("cm")
teaching.check_questions("consistency")
teaching.citations("consistency")
ps.finish()
