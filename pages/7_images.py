"""Page 7: the same trade-offs on images (offline digits track; CIFAR-10 via the CLI)."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from diffusion.images.cli import load_any, sample_images, to_grid
from diffusion.images.digits import digits_metrics
from diffusion.images.store import MANIFEST

SAMPLERS = ["ddim", "euler", "heun", "dpm-solver++2m", "dpm-solver++3m", "unipc", "ddpm"]
RESULTS_GLOB = os.environ.get("DIFFUSION_IMAGE_RESULTS", "runs/images/*.json")
EVAL_N = 200  # labelled on every figure: "FD-200"


@st.cache_data(show_spinner=False)
def shipped() -> list[dict]:
    return json.loads(MANIFEST.read_text())["models"] if MANIFEST.exists() else []


@st.cache_resource(show_spinner=False)
def model(spec: str):
    return load_any(spec)


@st.cache_data(show_spinner=False, max_entries=64)
def run(spec: str, sampler: str, steps: int, n: int, seed: int) -> dict:
    x, nfe, traj = sample_images(model(spec), sampler, steps, n=n, seed=seed, record=True)
    strip = traj.x0_preds[:, :8].clamp(-1, 1).float().cpu()  # (S, 8, C, H, W)
    return {"x": x.numpy(), "nfe": nfe, "strip": strip.numpy(), "t": traj.timesteps.tolist()}


@st.cache_data(show_spinner=False, max_entries=64)
def fd_point(spec: str, sampler: str, steps: int, seed: int) -> dict:
    x, nfe = sample_images(model(spec), sampler, steps, n=EVAL_N, seed=seed)
    m = digits_metrics(x)
    return {"nfe": nfe, "fd": m["fd"], "kid": m["kid"], "label": m["label"]}


def upscale(img: np.ndarray, k: int = 4) -> np.ndarray:
    return np.kron(img, np.ones((k, k)) if img.ndim == 2 else np.ones((k, k, 1)))


st.title("Images: the same trade-offs on pictures")
st.markdown(
    "The chapter's numbers are CIFAR-10 FIDs. Here the **offline track** shows the same "
    "trade-offs live: a 0.65 M-parameter UNet trained on 16x16 handwritten digits, its "
    "progressive-distillation students and a consistency-distilled model, sampled with "
    "the package's samplers. Quality is a Frechet distance in the features of a small "
    f"digit classifier (**FD-{EVAL_N}**: {EVAL_N} samples, so biased upward; compare "
    "values only with each other)."
)

models_by_name = {m["name"]: m for m in shipped() if m.get("dataset") == "digits"}
if not models_by_name:
    st.error(f"No shipped image models found in {MANIFEST}.")
    st.stop()

with st.sidebar:
    st.header("Images controls")
    names = sorted(models_by_name, key=lambda s: (s != "digits", s))
    spec = st.selectbox(
        "Model",
        names,
        index=0,
        key="img.model",
        format_func=lambda s: f"{s} ({models_by_name[s]['kind']})",
    )
    kind = models_by_name[spec]["kind"]
    if kind == "consistency":
        sampler_choices = ["consistency"]
    elif kind == "pd-student":
        sampler_choices = ["ddim"]
    else:
        sampler_choices = SAMPLERS
    sampler = st.selectbox("Sampler", sampler_choices, key="img.sampler")
    if kind == "pd-student":
        steps = int(spec.split("@")[1].replace("steps", ""))
        st.caption(f"A PD student samples with the {steps} DDIM steps it was distilled for.")
    else:
        steps = st.select_slider(
            "Steps",
            [1, 2, 3, 4, 5, 8, 10, 15, 20, 25, 50, 100],
            value=1 if kind == "consistency" else 10,
            key="img.steps",
        )
    n = st.select_slider("Images in the grid", [16, 32, 64], value=32, key="img.n")
    seed = int(st.number_input("Seed", 0, 10_000, 0, key="img.seed"))

try:
    res = run(spec, sampler, int(steps), int(n), seed)
except ValueError as err:
    st.warning(str(err))
    st.stop()

col_grid, col_strip = st.columns([1, 1])
with col_grid:
    st.subheader(f"Samples: {spec}, {sampler}, NFE {res['nfe']}")
    st.image(upscale(to_grid(torch.from_numpy(res["x"]), ncol=8)), clamp=True, width="stretch")
with col_strip:
    st.subheader("Denoising strip: x0-hat after each step")
    strip = torch.from_numpy(res["strip"])  # (S, 8, C, H, W)
    steps_shown = strip.shape[0]
    rows = strip.permute(1, 0, 2, 3, 4).reshape(-1, *strip.shape[2:])
    st.image(upscale(to_grid(rows, ncol=steps_shown)), clamp=True, width="stretch")
    st.caption(
        "Each row is one image; columns are the model's clean-image estimate at each "
        "evaluation time t = "
        + ", ".join(f"{t:.0f}" for t in res["t"][:12])
        + (" ..." if len(res["t"]) > 12 else "")
    )
st.latex(r"\hat x_0 = \frac{x_t - \sigma_t\,\hat\epsilon_\theta(x_t, t)}{\alpha_t}")

st.subheader(f"Quality vs NFE on digits (live, FD-{EVAL_N})")
st.caption("Computed on demand: a few seconds per point on a laptop CPU, then cached.")
curve_samplers = st.multiselect(
    "Training-free samplers on the teacher",
    SAMPLERS[:-1],
    default=["ddim", "dpm-solver++2m"],
    key="img.curve",
)
if st.button("Compute the curves", key="img.go"):
    fig = go.Figure()
    from diffusion.samplers import get_sampler

    for s in curve_samplers:
        pts = []
        for nfe in (2, 4, 8, 16):
            k = get_sampler(s).steps_for_nfe(nfe)
            if k is not None:
                pts.append(fd_point("digits", s, k, 0))
        fig.add_trace(
            go.Scatter(
                x=[p["nfe"] for p in pts],
                y=[p["fd"] for p in pts],
                mode="lines+markers",
                name=f"teacher + {s}",
            )
        )
    pd = [
        fd_point(name, "ddim", int(name.split("@")[1][:-5]), 0)
        for name in names
        if models_by_name[name]["kind"] == "pd-student"
    ]
    pd = sorted(pd, key=lambda p: p["nfe"])
    fig.add_trace(
        go.Scatter(
            x=[p["nfe"] for p in pd],
            y=[p["fd"] for p in pd],
            mode="lines+markers",
            name="PD students",
        )
    )
    cds = [name for name in names if models_by_name[name]["kind"] == "consistency"]
    for name in cds:
        pts = [fd_point(name, "consistency", k, 0) for k in (1, 2, 4)]
        fig.add_trace(
            go.Scatter(
                x=[p["nfe"] for p in pts],
                y=[p["fd"] for p in pts],
                mode="lines+markers",
                name=f"{name} (consistency)",
            )
        )
    fig.update_layout(
        xaxis_title="NFE",
        yaxis_title=f"FD-{EVAL_N} (digit-classifier features)",
        xaxis_type="log",
        yaxis_type="log",
        height=420,
    )
    st.plotly_chart(fig, width="stretch")

st.subheader("CIFAR-10: your own tables")
files = sorted(glob.glob(RESULTS_GLOB))
if files:
    for path in files:
        data = json.loads(open(path).read())
        st.markdown(
            f"**{os.path.basename(path)}**: model `{data.get('model')}`, "
            f"{data.get('dataset')}, {data.get('n')} samples per point"
        )
        st.dataframe(
            [
                {k: r[k] for k in ("sampler", "nfe", "label", "fid", "kid") if k in r}
                | ({"fd": r["fd"]} if "fd" in r else {})
                for r in data["rows"]
            ]
        )
else:
    st.info(
        "No CIFAR-10 results yet. With a GPU and a network: "
        "`python -m diffusion images sweep --model diffusers:google/ddpm-cifar10-32 "
        "--dataset cifar10 --samplers ddim,dpm-solver++2m --nfe 10,20,50 --n 5000 "
        "--device cuda --out runs/images/cifar-ddim.json` and the table appears here."
    )

st.subheader("Published CIFAR-10 FIDs (50k samples), for reference")
st.caption("Never on the same axis as the small-sample figures above.")
st.markdown("**DDIM** (Song, Meng & Ermon 2020, Table 1; quadratic spacing)")
st.dataframe(
    [
        {
            "eta": "0.0 (DDIM)",
            "S=10": 13.36,
            "S=20": 6.84,
            "S=50": 4.67,
            "S=100": 4.16,
            "S=1000": 4.04,
        },
        {"eta": "0.2", "S=10": 14.04, "S=20": 7.11, "S=50": 4.77, "S=100": 4.25, "S=1000": 4.09},
        {"eta": "0.5", "S=10": 16.66, "S=20": 8.35, "S=50": 5.25, "S=100": 4.46, "S=1000": 4.29},
        {"eta": "1.0", "S=10": 41.07, "S=20": 18.36, "S=50": 8.01, "S=100": 5.78, "S=1000": 4.73},
        {
            "eta": "sigma-hat",
            "S=10": 367.43,
            "S=20": 133.37,
            "S=50": 32.72,
            "S=100": 9.99,
            "S=1000": 3.17,
        },
    ],
    hide_index=True,
)
st.markdown("**Few-step models**")
st.dataframe(
    [
        {
            "method": "Progressive distillation",
            "1 step": 9.12,
            "2 steps": 4.51,
            "4 steps": 3.00,
            "source": "Salimans & Ho 2022",
        },
        {
            "method": "Consistency distillation (LPIPS)",
            "1 step": 3.55,
            "2 steps": 2.93,
            "source": "Song et al. 2023",
        },
        {
            "method": "Consistency training",
            "1 step": 8.70,
            "2 steps": 5.83,
            "source": "Song et al. 2023",
        },
    ],
    hide_index=True,
)
