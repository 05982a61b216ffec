"""Settings known to break a sampler, as data, and the warnings they give.

``warnings_for(sampler, steps, spacing, ...)`` returns one sentence for every rule in
``BROKEN`` that a setting matches, saying what goes wrong and what to use instead. The
app shows them beside its figures and the command line can print them; the tests
measure on the exact Gaussian-mixture oracle that each warned setting really breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BROKEN", "Rule", "warnings_for"]

INTEGER_SPACINGS = ("leading", "uniform", "linspace", "trailing", "quadratic")
STARTS_BELOW_TOP = ("leading", "uniform", "quadratic")  # never evaluate t = T-1


@dataclass(frozen=True)
class Setting:
    """What a rule looks at: the sampler, its steps S, NFE, spacing, the number of
    training steps T, the network's prediction type ('eps', 'x0', 'v' or None when
    unknown or exact) and the distinct timesteps the grid really has."""

    sampler: str
    steps: int
    nfe: int
    spacing: str
    T: int
    prediction: str | None
    distinct: int


@dataclass(frozen=True)
class Rule:
    """A known-broken setting: ``applies(setting)`` and the message, formatted with the
    setting's fields."""

    name: str
    applies: Callable[[Setting], bool]
    message: str


BROKEN: tuple[Rule, ...] = (
    Rule(
        "one-step-grid-at-t0",
        lambda s: s.steps == 1 and s.spacing in ("leading", "uniform", "quadratic", "linspace"),
        "A 1-step {spacing} grid is t = 0: the model is asked to denoise pure noise as if it "
        "were almost clean, so the output is the input noise. Use trailing or logsnr spacing, "
        "which start at t = T-1.",
    ),
    Rule(
        "singlestep-solver-at-low-nfe",
        lambda s: (
            s.sampler in ("heun", "dpm-solver-2", "dpm-solver-3")
            and s.spacing in ("logsnr", "karras")
            and s.nfe < 10
        ),
        "{sampler} at NFE {nfe} on a {spacing} grid breaks down (far worse than DDIM at the "
        "same NFE; below 6 NFE it diverges): each step is so long that its "
        "second slope is taken at low noise on a point far from the data, where the "
        "noise prediction (x - alpha x0-hat)/sigma is huge, and the step multiplies it by its "
        "whole length. Use at least 10 NFE, or a multistep solver (DPM-Solver++(2M), UniPC).",
    ),
    Rule(
        "multistep-solver-on-leading-grid",
        lambda s: (
            s.sampler in ("dpm-solver++2m", "dpm-solver++3m", "unipc")
            and s.spacing in ("leading", "uniform")
            and s.steps <= 25
        ),
        "{sampler} on a {steps}-step leading grid starts at t = {top} instead of T-1 and ends "
        "with a long step in log-SNR; at this step count it scores worse than DDIM. Use logsnr "
        "or trailing spacing, where it beats DDIM.",
    ),
    Rule(
        "eps-prediction-one-step-from-top",
        lambda s: (
            s.prediction == "eps"
            and s.steps == 1
            and s.spacing not in (*STARTS_BELOW_TOP, "linspace")
        ),
        "One step from t = T-1 with a noise-predicting network: x0-hat = (x - sigma eps)/alpha "
        "multiplies the network's error in eps by sigma/alpha (about 157 for the linear "
        "schedule), so the sample is noise spread far beyond the data. Few-step models "
        "predict v or x0 for this reason.",
    ),
    Rule(
        "duplicated-timesteps",
        lambda s: s.spacing in INTEGER_SPACINGS and s.distinct < s.steps,
        "{spacing} spacing at S = {steps} repeats integer timesteps: after removing duplicates "
        "only {distinct} remain, so the run has fewer steps than asked.",
    ),
)


def warnings_for(
    sampler: str,
    steps: int,
    spacing: str | None = None,
    *,
    T: int = 1000,
    prediction: str | None = None,
) -> list[str]:
    """One message per rule of ``BROKEN`` that the setting matches (an empty list when it
    is not known to break). ``spacing`` None means the library's default spacing;
    ``prediction`` is the network's output type ('eps', 'x0', 'v'), None for an exact
    oracle or when unknown."""
    import warnings

    from .grids import DEFAULT_SPACING, SPACINGS, make_ddim_timesteps
    from .samplers import get_sampler

    spec = get_sampler(sampler)
    spacing = DEFAULT_SPACING if spacing is None else spacing
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer between 1 and T={T}, got {steps!r}")
    distinct = steps
    top = T - 1
    if spacing in INTEGER_SPACINGS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the duplicates are this module's own warning
            grid = make_ddim_timesteps(T, steps, spacing)
        distinct, top = len(grid), grid[0]
    setting = Setting(spec.name, steps, spec.nfe(distinct), spacing, T, prediction, distinct)
    fields = {**setting.__dict__, "top": top, "sampler": spec.label}
    return [rule.message.format(**fields) for rule in BROKEN if rule.applies(setting)]
