"""Page 5: consistency models: the consistency property, one step vs multistep, CD vs CT."""

import numpy as np
import streamlit as st
import torch

from diffusion import figures
from ui import jobs, live, models
from ui.layout import FEWSTEP_TABLE, page_header, published, show
from ui.state import PageState

lecture = page_header(
    "Consistency models",
    "A consistency model $f_\\theta(x_t, t)$ maps **every** point of a probability-flow "
    "trajectory to the trajectory's clean end $x_0$, so one evaluation from $x_T$ is a "
    "sample (Song et al. 2023).",
)


def shipped(kind_method: str) -> dict[str, str]:
    """dataset -> shipped consistency model name ending in -cd or -ct."""
    out = {}
    for m in models.list_shipped2d():
        if m.get("kind") == "consistency" and m["name"].endswith(f"-{kind_method}"):
            out[str(m.get("dataset"))] = m["name"]
    return out


def teacher_for(dataset: str) -> str | None:
    names = [m for m in models.model_choices() if not m.startswith("oracle:")
             and models.dataset_of(m) == dataset]
    return (names + live.choices("diffusion", dataset) + [None])[0]


def property_along_path(base: str, cms: tuple, teacher: str | None, particle: int, seed: int):
    """Times ts (M,), the exact ODE path x_t (M, 2) of one particle under ``base``, and
    what each model maps the path's points to: label -> (M, 2)."""
    from diffusion.reference import reference_trajectory

    ref_model = live.get(base)
    T = ref_model.schedule.T
    ts = np.unique(np.concatenate([np.geomspace(1, T - 1, 24), [0.0]]))[::-1].copy()
    x_T = models.initial_noise(100, seed)[particle:particle + 1].double()
    path = reference_trajectory(ref_model, x_T, ts.tolist())[:, 0]
    outs = {}
    named = [(f"{label}: f(x_t, t)", spec) for label, spec in cms]
    if teacher:
        named.append(("diffusion model: x0-hat", teacher))
    with torch.no_grad():
        for label, spec in named:
            m = live.get(spec)
            outs[label] = np.stack([m.predict(p[None].float(), float(t)).x0[0].double().numpy()
                                    for p, t in zip(path, ts, strict=True)])
    return ts, path.numpy(), outs


property_cached = st.cache_data(max_entries=128, show_spinner=False)(property_along_path)

cd_models, ct_models = shipped("cd"), shipped("ct")
live_cm = st.session_state.get("cm.live", {})  # (dataset, method) -> session spec
for (ds, method), spec in live_cm.items():
    (cd_models if method == "cd" else ct_models)[ds] = spec
datasets = sorted(set(cd_models) | set(ct_models)) or ["8gaussians"]

ps = PageState("consistency")
with st.sidebar:
    st.header("Consistency controls")
    dataset = ps.select("dataset", "Dataset", datasets, datasets[0])
    steps = ps.select("steps", "Multistep: number of steps", [1, 2, 3, 4, 8], 2)
    n = ps.slider("n", "Points", 200, models.MAX_POINTS, 1500, 100)
    seed = ps.number("seed", "Seed", 0, 10_000, 0)
ps.presets()

st.latex(r"f_\theta(x_t, t) = c_\mathrm{skip}(t)\,x_t + c_\mathrm{out}(t)\,F_\theta(x_t, t),"
         r"\qquad f_\theta(x_\epsilon, \epsilon) = x_\epsilon")
st.latex(r"\mathcal{L}_\mathrm{CD} = d\big(f_\theta(x_{t_{n+1}}, t_{n+1}),\ "
         r"f_{\theta^-}(\hat x_{t_n}, t_n)\big),\quad \hat x_{t_n} = "
         r"\text{one ODE step of the teacher from } x_{t_{n+1}}")

teacher = teacher_for(dataset)
cms = {k: v for k, v in (("CD", cd_models.get(dataset)), ("CT", ct_models.get(dataset))) if v}

if not cms:
    st.info("No consistency model is available for this dataset yet: train one live below, "
            "or use the shipped ones when they are installed.")
else:
    st.subheader("The consistency property along one exact trajectory")
    c1, c2 = st.columns([3, 1])
    with c2:
        particle = ps.number("particle", "Particle", 0, 99, 0)
        st.markdown("Points of the exact ODE path $x_t$ (grey line) go into each model. A "
                    "consistency model sends them all to (nearly) the same point; the "
                    "diffusion model's one-step $\\hat x_0$ only reaches it as $t \\to 0$.")
    with c1:
        base = teacher or next(iter(cms.values()))
        args = (base, tuple(cms.items()), teacher, int(particle), int(seed))
        shared = not any(str(a).startswith("session:") for a in (base, teacher, *cms.values()))
        # results of session-trained models stay in this session (no shared cache)
        ts, path, outs = (property_cached if shared else property_along_path)(*args)
        show(figures.consistency_property(ts, path, outs, lecture=lecture), "cm-property")

    st.subheader("One step against multistep")
    st.latex(r"x_{\tau_n} = \alpha_{\tau_n}\big(\hat x_0 + \sqrt{\bar\sigma_{\tau_n}^2 - "
             r"\bar\sigma_\epsilon^2}\, z\big),\quad \hat x_0 \leftarrow f_\theta(x_{\tau_n}, "
             r"\tau_n)\qquad\text{(Algorithm 1)}")
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
            subs["diffusion model, DDIM 1 step"] = "NFE 1: the blurry mean"
        show(figures.samples_grid(panels, data=models.data(dataset, n), subtitles=subs,
                                  lecture=lecture), f"cm-steps-{label}", key=f"cm.steps.{label}")

    if len(cms) == 2:
        st.subheader("Consistency distillation against consistency training")
        rows = []
        for label, spec in cms.items():
            for s in sorted({1, 2, steps}):
                q = models.quality_of(live.sample(spec, "consistency", s, 2000, seed)["x"],
                                      dataset)
                rows.append({"model": label, "steps": s, "sliced W2": round(q["sliced_w2"], 4),
                             "data-vs-data floor": round(q["floor_sliced_w2"], 4),
                             "MMD": f"{q['mmd']:.2e}"})
        st.dataframe(rows, hide_index=True)
        st.caption("CD learns from a teacher's ODE steps; CT only from pairs of noisy data that "
                   "share the same noise, so it is usually a little worse at equal budget.")

st.subheader("Train live")
if teacher is None:
    st.info("Consistency distillation needs a trained teacher for this dataset; train a 2-D "
            "DDPM on the Compare page, or install the shipped models.")
else:
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Method", ["cd", "ct"], horizontal=True, key="cm.method",
                      format_func={"cd": "distillation (CD)", "ct": "training (CT)"}.get)
    secs = c2.slider("Time limit (s)", 5, int(jobs.MAX_SECONDS), 20, key="cm.seconds")
    n_opt = c3.select_slider("Optimiser steps", [200, 500, 1000, 2000, 4000], 1000,
                             key="cm.steps")
    if st.button(f"Train {method.upper()} on {dataset}", type="primary", key="cm.train"):
        jobs.launch("cm", live.train_consistency(method, teacher, n_opt, float(secs), seed))

    def _store(job: jobs.Job) -> None:
        if job.result is not None:
            meth = job.name.split("-")[0]
            spec = live.add(f"{dataset}-{meth}-live", job.result, "consistency", dataset)
            st.session_state.setdefault("cm.live", {})[(dataset, meth)] = spec

    jobs.panel("cm", on_done=_store)
published(FEWSTEP_TABLE, "CIFAR-10 FID. Sources in the last column (REFERENCES.md).",
          "Published: few-step models on CIFAR-10 (FID)")
ps.finish()
