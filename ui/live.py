"""Models a user trains in the app: kept in this session's st.session_state only,
listed next to the shipped ones as ``session:<name>``, sampled without the shared
cache (another session never sees them)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import streamlit as st

from diffusion.model import DiffusionModel

from . import jobs, models

MAX_RESULTS = 64  # sampled results kept per session


def session_models() -> dict[str, DiffusionModel]:
    return st.session_state.setdefault("live.models", {})


def keep_ddpm(job: jobs.Job) -> None:
    """Lists a finished ``train_ddpm`` job's model in this session (its dataset from the
    job's name)."""
    if job.result is not None:
        ds = job.name.split("-", 1)[1]
        add(f"{ds}-ddpm", job.result, "diffusion", ds)


def keep_students(dataset: str) -> Callable[[jobs.Job], None]:
    """The callback that lists a finished ``train_pd`` job's students in this session,
    under ``pd.live[dataset][steps]``."""

    def keep(job: jobs.Job) -> None:
        if job.result:
            kept = st.session_state.setdefault("pd.live", {}).setdefault(dataset, {})
            for steps, model in job.result:
                kept[steps] = add(f"{dataset}-pd@{steps}steps", model, "pd-student", dataset)

    return keep


def keep_consistency(dataset: str) -> Callable[[jobs.Job], None]:
    """The callback that lists a finished ``train_consistency`` job's model in this session,
    under ``cm.live[(dataset, method)]``."""

    def keep(job: jobs.Job) -> None:
        if job.result is not None:
            meth = job.name.split("-")[0]
            spec = add(f"{dataset}-{meth}-live", job.result, "consistency", dataset)
            st.session_state.setdefault("cm.live", {})[(dataset, meth)] = spec

    return keep


def no_teacher(method: str) -> None:
    """The note shown instead of a live distillation when the dataset has no teacher."""
    st.info(
        f"{method} needs a trained teacher for this dataset. Train a 2-D DDPM on the "
        "Compare page, or install the shipped models."
    )


def add(name: str, model: DiffusionModel, kind: str, dataset: str) -> str:
    spec = f"session:{name}"
    model.config = {**model.config, "kind": kind, "dataset": dataset}
    session_models()[spec] = model
    st.session_state.pop("live.results", None)  # results of a replaced model are stale
    return spec


def choices(kind: str = "diffusion", dataset: str | None = None) -> list[str]:
    return [
        s
        for s, m in session_models().items()
        if m.config.get("kind") == kind and (dataset is None or m.config.get("dataset") == dataset)
    ]


def get(spec: str) -> DiffusionModel:
    if spec.startswith("session:"):
        if spec not in session_models():
            raise ValueError(f"{spec} is not trained in this session")
        return session_models()[spec]
    return models.load(spec)


def dataset_of(spec: str) -> str:
    if spec.startswith("session:"):
        return get(spec).config["dataset"]
    return models.dataset_of(spec)


def teacher_for(dataset: str) -> str | None:
    """The diffusion model a dataset's few-step models are compared with and distilled
    from: the shipped one, else one trained in this session; None if there is none."""
    return (models.diffusion_models(dataset) + choices("diffusion", dataset) + [None])[0]


def pd_rounds(dataset: str) -> dict[int, str]:
    """Progressive-distillation students of a dataset, {steps: spec}: the shipped
    rounds, with those distilled in this session in their place."""
    return {**models.pd_rounds(dataset), **st.session_state.get("pd.live", {}).get(dataset, {})}


def consistency_models(dataset: str) -> dict[str, str]:
    """Consistency models of a dataset, {method ('cd'/'ct'): spec}: shipped, with those
    trained in this session in their place."""
    session = {
        meth: spec
        for (ds, meth), spec in st.session_state.get("cm.live", {}).items()
        if ds == dataset
    }
    return {**models.consistency_models(dataset), **session}


def fewstep_datasets(family: str) -> list[str]:
    """The datasets with PD students (``family`` 'pd') or consistency models ('cm'),
    shipped or trained in this session; 8gaussians when there are none."""
    if family == "pd":
        shipped = {m["dataset"] for m in models.list_shipped2d() if m.get("method") == "pd"}
        session = set(st.session_state.get("pd.live", {}))
    else:
        shipped = {m["dataset"] for m in models.list_shipped2d() if m.get("kind") == "consistency"}
        session = {ds for ds, _ in st.session_state.get("cm.live", {})}
    return sorted(shipped | session) or ["8gaussians"]


def sample(
    spec: str,
    sampler: str,
    steps: int,
    n: int,
    seed: int,
    spacing: str | None = None,
    options: tuple[tuple[str, Any], ...] = (),
) -> dict[str, Any]:
    """Cached sampling for shipped models; a per-session memo for trained ones."""
    if not spec.startswith("session:"):
        return models.sample(spec, sampler, steps, n, seed, spacing, options)
    memo: dict = st.session_state.setdefault("live.results", {})
    key = (spec, sampler, steps, n, seed, spacing, options)
    if key not in memo:
        if len(memo) >= MAX_RESULTS:
            memo.pop(next(iter(memo)))
        memo[key] = models.run_model(
            get(spec), sampler, steps, n=n, seed=seed, spacing=spacing, options=dict(options)
        )
    return memo[key]


# ----- training jobs -----------------------------------------------------------------------


def train_ddpm(dataset: str, seconds: float, steps: int, seed: int) -> jobs.Job:
    """A 2-D DDPM (eps-prediction MLP) trained from scratch (diffusion.toy.train2d)."""
    from diffusion.toy.train2d import train_toy

    def target(progress, should_stop):
        model, _result = train_toy(
            dataset,
            steps=steps,
            seed=seed,
            max_seconds=seconds,
            should_stop=should_stop,
            callback=lambda i, loss: progress(
                (i + 1) / steps, f"step {i + 1}/{steps}, loss {loss:.4f}"
            ),
        )
        return model

    return jobs.Job(f"ddpm-{dataset}", target)


def train_pd(
    teacher_spec: str,
    start_steps: int,
    rounds: int,
    steps_per_round: int,
    seconds_per_round: float,
    seed: int,
) -> jobs.Job:
    """Progressive distillation rounds start_steps -> start_steps / 2**rounds."""
    from diffusion.distill import progressive_distillation
    from diffusion.toy.datasets import draw

    teacher = get(teacher_spec)
    dataset = dataset_of(teacher_spec)

    def target(progress, should_stop):
        total = rounds * steps_per_round
        done_rounds = []

        def cb(n_student, step, loss):
            r = len(done_rounds)
            progress(
                (r * steps_per_round + step + 1) / total,
                f"round {r + 1}/{rounds} (student {n_student} steps), step {step + 1}, "
                f"loss {loss:.4f}",
            )

        return progressive_distillation(
            teacher,
            lambda n, g: draw(dataset, n, g),
            start_steps=start_steps,
            rounds=rounds,
            steps_per_round=steps_per_round,
            max_seconds_per_round=seconds_per_round,
            seed=seed,
            callback=cb,
            should_stop=should_stop,
            on_round=lambda n, m: done_rounds.append(n),
        )

    return jobs.Job(f"pd-{dataset}", target)


def train_consistency(
    method: str, teacher_spec: str, steps: int, seconds: float, seed: int
) -> jobs.Job:
    """Consistency distillation from the teacher ('cd') or training from data ('ct')."""
    from diffusion.distill import consistency_distillation, consistency_training
    from diffusion.nets import build_net
    from diffusion.toy.datasets import draw

    teacher = get(teacher_spec)
    dataset = dataset_of(teacher_spec)

    def data(n, g):
        return draw(dataset, n, g)

    def target(progress, should_stop):
        def cb(i, loss):
            progress((i + 1) / steps, f"step {i + 1}/{steps}, loss {loss:.5f}")

        if method == "cd":
            return consistency_distillation(
                teacher,
                data,
                steps=steps,
                seed=seed,
                callback=cb,
                should_stop=should_stop,
                max_seconds=seconds,
            )
        cfg = copy.deepcopy(teacher.config)
        net = build_net(cfg["net"]) if "net" in cfg else copy.deepcopy(teacher.net)
        return consistency_training(
            net,
            teacher.schedule,
            data,
            steps=steps,
            seed=seed,
            base_config=cfg,
            callback=cb,
            should_stop=should_stop,
            max_seconds=seconds,
        )

    return jobs.Job(f"{method}-{dataset}", target)
