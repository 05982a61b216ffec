"""Page 7: the same trade-offs on images (offline digits track; CIFAR-10 via the CLI)."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import streamlit as st
import torch

from diffusion import figures
from diffusion.images.digits import digits_metrics
from diffusion.images.sampling import load_any, sample_images, to_grid
from diffusion.images.store import MANIFEST
from diffusion.samplers import get_sampler
from ui.layout import DDIM_SOURCE, DDIM_TABLE, FEWSTEP_TABLE, page_header, show
from ui.state import PageState

SAMPLERS = ["ddim", "euler", "heun", "dpm-solver++2m", "dpm-solver++3m", "unipc", "ddpm"]
RESULTS_GLOB = os.environ.get("DIFFUSION_IMAGE_RESULTS", "runs/images/*.json")
EVAL_N = 200  # labelled on every figure: "FD-200"
# The live curve's NFE ladder: all of it costs about 20 s of sampling on a laptop CPU
# the first time on a server, then every visit reads the shared cache.
CURVE_NFE = (2, 4, 8)
PD, CM = "PD students", "consistency (CD)"


@st.cache_data(ttl=600, max_entries=1, show_spinner=False)
def shipped() -> list[dict]:
    return json.loads(MANIFEST.read_text())["models"] if MANIFEST.exists() else []


@st.cache_resource(max_entries=16, show_spinner=False)
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


lecture = page_header(
    "Images: the same trade-offs on pictures",
    "The chapter's numbers are CIFAR-10 FIDs. Here the **offline track** shows the same "
    "trade-offs live: a 0.65 M-parameter UNet trained on 16x16 handwritten digits, its "
    "progressive-distillation students and a consistency-distilled model, sampled with "
    "the package's samplers. Quality is a Frechet distance in the features of a small "
    f"digit classifier (**FD-{EVAL_N}**: {EVAL_N} samples, so biased upward; compare "
    "values only with each other).",
)

models_by_name = {m["name"]: m for m in shipped() if m.get("dataset") == "digits"}
if not models_by_name:
    st.error(f"No shipped image models found in {MANIFEST}.")
    st.stop()


def student_steps(name: str) -> int:
    """The DDIM steps a PD student was distilled for (manifest, else its name)."""
    entry = models_by_name[name]
    return int(entry.get("steps") or name.split("@")[1].replace("steps", ""))


ps = PageState("img")
with st.sidebar:
    st.header("Images controls")
    names = sorted(models_by_name, key=lambda s: (s != "digits", s))
    spec = ps.select("model", "Model", names, names[0],
                     format_func=lambda s: f"{s} ({models_by_name[s]['kind']})")
    kind = models_by_name[spec]["kind"]
    if kind == "consistency":
        sampler_choices = ["consistency"]
    elif kind == "pd-student":
        sampler_choices = ["ddim"]
    else:
        sampler_choices = SAMPLERS
    sampler = ps.select("sampler", "Sampler", sampler_choices, sampler_choices[0])
    if kind == "pd-student":
        steps = student_steps(spec)
        st.caption(f"A PD student samples with the {steps} DDIM steps it was distilled for.")
    else:
        steps = ps.steps("steps", "Steps", 10, hi=100)
    n = ps.select("n", "Images in the grid", [16, 32, 64], 32)
    seed = ps.number("seed", "Seed", 0, 10_000, 0)
ps.presets()

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


def curve_points(curve: str) -> tuple[list[int], list[float]]:
    """(NFE, FD) of one curve: a training-free sampler on the teacher over CURVE_NFE,
    the PD students up to 8 steps, or the CD model at 1, 2 and 4 steps."""
    if curve == PD:
        pts = [fd_point(m, "ddim", student_steps(m), 0) for m in names
               if models_by_name[m]["kind"] == "pd-student" and student_steps(m) <= max(CURVE_NFE)]
    elif curve == CM:
        cds = [m for m in names if models_by_name[m]["kind"] == "consistency"]
        pts = [fd_point(cds[0], "consistency", k, 0) for k in (1, 2, 4)] if cds else []
    else:
        fits = [get_sampler(curve).steps_for_nfe(nfe) for nfe in CURVE_NFE]
        pts = [fd_point("digits", curve, k, 0) for k in fits if k is not None]
    pts = sorted(pts, key=lambda p: p["nfe"])
    return [p["nfe"] for p in pts], [p["fd"] for p in pts]


st.subheader(f"Quality vs NFE on digits (live, FD-{EVAL_N})")
col_live, col_pub = st.columns([3, 2])
with col_live:
    curves = ps.multiselect("curve", "Curves", SAMPLERS[:-1] + [PD, CM],
                            ["ddim", "dpm-solver++2m", PD, CM])
    st.caption(f"Each point: {EVAL_N} images from seed 0, scored against held-out digits. "
               "The first visit on this server samples them (up to about 20 s on a laptop "
               "CPU); later visits, from any session, read the cache.")
    if curves:
        with st.spinner(f"sampling {EVAL_N} images per point…"):
            series = {(f"teacher + {c}" if c in SAMPLERS else c): curve_points(c)
                      for c in curves}
        show(figures.quality_curves({k: v for k, v in series.items() if v[0]},
                                    metric=f"FD-{EVAL_N} (digit-classifier features)",
                                    lecture=lecture, title=f"digits, {EVAL_N} samples per point"),
             "images-quality")
with col_pub:
    st.markdown("**Published: CIFAR-10 FID (50k samples)**, for reference; never on the "
                "axes of the small-sample curve beside it.")
    st.markdown("DDIM against steps S and eta")
    st.dataframe(DDIM_TABLE, hide_index=True)
    st.caption(DDIM_SOURCE)
    st.markdown("Few-step models")
    st.dataframe(FEWSTEP_TABLE, hide_index=True)
    st.caption("Sources in the last column (REFERENCES.md).")

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
ps.finish()
