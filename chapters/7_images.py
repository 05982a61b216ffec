"""Page 7: the same trade-offs on images (offline digits track; CIFAR-10 via the CLI)."""

from __future__ import annotations

import streamlit as st

from ui import figures, images, precomputed, teaching
from ui.layout import DDIM_SOURCE, DDIM_TABLE, FEWSTEP_TABLE, page_header, show, show_table
from ui.snippets import show_code
from ui.state import PageState, shown

SAMPLERS = ["ddim", "euler", "heun", "dpm-solver++2m", "dpm-solver++3m", "unipc", "ddpm"]
EVAL_N = images.EVAL_N
CURVES = {"PD students": "pd", "consistency (CD)": "cd"}  # the live figure's few-step curves

lecture = page_header(
    "Images: the same trade-offs on pictures",
    "The chapter's numbers are CIFAR-10 FIDs. Here the **offline track** shows the same "
    "trade-offs live: a 0.65 M-parameter UNet trained on 16x16 handwritten digits, its "
    "progressive-distillation students and a consistency-distilled model, sampled with "
    "the package's samplers. Quality is a Frechet distance in the features of a small "
    f"digit classifier (**FD-{EVAL_N}**: {EVAL_N} samples, so biased upward; compare "
    "values only with each other).",
    page="img",
)

models_by_name = images.shipped("digits")
if not models_by_name:
    st.error("No shipped image models found (assets/images/manifest.json).")
    st.stop()

ps = PageState("img")
with st.sidebar:
    st.header("Images controls")
    names = list(models_by_name)
    spec = ps.select(
        "model",
        "Model",
        names,
        names[0],
        format_func=lambda s: f"{s} ({models_by_name[s]['kind']})",
        help="The digits diffusion model, its PD students or its CD model.",
    )
    entry = models_by_name[spec]
    sampler_choices = images.sampler_choices(entry, SAMPLERS)
    sampler = ps.select(
        "sampler",
        "Sampler",
        sampler_choices,
        sampler_choices[0],
        help="The samplers this model can use (a few-step model has its own).",
    )
    if entry.get("method") == "pd":
        steps = int(entry["steps"])
        st.caption(f"A PD student samples with the {steps} DDIM steps it was distilled for.")
    else:
        steps = ps.steps(
            "steps",
            "Steps",
            10,
            hi=100,
            help="Timesteps of the sampling grid; NFE depends on the sampler.",
        )
    n = ps.select(
        "n",
        "Images in the grid",
        [16, 32, 64],
        32,
        help="Images drawn for the grid (the strip shows the first 8).",
    )
    seed = ps.number("seed", "Seed", 0, 10_000, 0, help="Seeds x_T and any sampler noise.")
ps.presets()

try:
    res = images.run(spec, sampler, int(steps), int(n), seed)
except ValueError as err:
    st.warning(str(err))
    st.stop()

col_grid, col_strip = st.columns([1, 1])
with col_grid:
    st.subheader(f"Samples: {spec}, {sampler}, NFE {res['nfe']}")
    st.image(res["grid"], clamp=True, width="stretch")
    show_code("images-samples")
with col_strip:
    st.subheader("Denoising strip: x0-hat after each step")
    st.image(res["strip"], clamp=True, width="stretch")
    st.caption(
        "Each row is one image; columns are the model's clean-image estimate at each "
        "evaluation time t = "
        + ", ".join(f"{t:.0f}" for t in res["t"][:12])
        + (" ..." if len(res["t"]) > 12 else "")
    )
st.latex(r"\hat x_0 = \frac{x_t - \sigma_t\,\hat\epsilon_\theta(x_t, t)}{\alpha_t}")

st.subheader(f"Quality vs NFE on digits (live, FD-{EVAL_N})")
col_live, col_pub = st.columns([3, 2])
with col_live:
    curves = ps.multiselect(
        "curve",
        "Curves",
        SAMPLERS[:-1] + list(CURVES),
        ["ddim", "dpm-solver++2m", *CURVES],
        help="Samplers on the teacher, and the few-step models, each scored at several NFE.",
    )
    st.caption(
        f"Each point: {EVAL_N} images from seed 0, scored against held-out digits. "
        "The curves shipped with the app are drawn at once; any other is sampled "
        "on its first request (up to about 20 s on a laptop CPU), then cached."
    )
    if curves:
        with st.spinner(f"sampling {EVAL_N} images per point…"):
            series = {
                (c if c in CURVES else f"teacher + {c}"): (
                    names[0] == "digits" and precomputed.digits_curve(CURVES.get(c, c))
                )
                or images.curve_points(CURVES.get(c, c), names[0], models_by_name)
                for c in curves
            }
        show(
            figures.quality_curves(
                {k: v for k, v in series.items() if v[0]},
                metric=f"FD-{EVAL_N} (digit-classifier features)",
                lecture=lecture,
                title=f"digits, {EVAL_N} samples per point",
            ),
            "images-quality",
        )
    if ps.toggle(
        "kid",
        f"Score the setting in the sidebar (FD-{EVAL_N} and KID)",
        False,
        help="Samples this model, sampler and steps and scores them; KID is "
        "unbiased at small sample sizes, FD is not.",
    ):
        point = images.fd_point(spec, sampler, int(steps), seed)
        k1, k2 = st.columns(2)
        k1.metric(
            point["label"],
            f"{point['fd']:.2f}",
            help="Frechet distance in the digit "
            "classifier's features, biased upward at this sample size.",
        )
        k2.metric(
            "KID",
            f"{point['kid']:.4f}",
            help="Kernel inception-style distance in the "
            "same features: unbiased, so it can be compared across sample sizes.",
        )
with col_pub:
    st.markdown(
        "**Published: CIFAR-10 FID (50k samples)**, for reference; never on the "
        "axes of the small-sample curve beside it."
    )
    st.markdown("DDIM against steps S and eta")
    show_table(DDIM_TABLE)
    st.caption(DDIM_SOURCE)
    st.markdown("Few-step models")
    show_table(FEWSTEP_TABLE)
    st.caption("Sources in the last column (REFERENCES.md).")

st.subheader("CIFAR-10: your own tables")
tables = images.result_tables()
if tables:
    for table in tables:
        if "error" in table:  # a malformed results file: one line naming it
            st.warning(f"Skipped {shown(table['file'])}: {shown(table['error'], 200)}")
            continue
        st.markdown(
            f"**{table['file']}**: model {shown(table['model'])}, "
            f"{table['dataset']}, {table['n']} samples per point"
        )
        show_table(table["rows"])
else:
    st.info(
        "No CIFAR-10 results yet. With a GPU and a network: "
        "`python -m diffusion images sweep --model diffusers:google/ddpm-cifar10-32 "
        "--dataset cifar10 --samplers ddim,dpm-solver++2m --nfe 10,20,50,100 --spacing "
        "quadratic --n 50000 --device cuda --out runs/images/cifar-ddim.json` and the table "
        "appears here. Quadratic spacing and 50k samples are DDIM Table 1's protocol, so the "
        "DDIM row is comparable with the published eta = 0 row; with fewer samples FID is "
        "biased upward (label it FID-5k and read KID beside it)."
    )
teaching.check_questions("img")
teaching.citations("img")
ps.finish()
