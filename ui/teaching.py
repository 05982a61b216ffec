"""The teaching furniture of every page, as data, and the functions that draw it.

One notation card (one symbol, one meaning across the app), a "predict, then move the
slider" prompt at the top of each page, check questions with answers at the end, the
papers each page teaches (arXiv ids), and short in-depth sections for the parts of the
chapter that need more than a caption. Pages call ``predict_prompt(page)``,
``notation_card()``, ``deep_dive(key)``, ``check_questions(page)`` and
``citations(page)``; the content below is plain data, so tests and docs can read it.
"""

from __future__ import annotations

import inspect

import streamlit as st

from .folds import folded

# ----- notation ------------------------------------------------------------------------

NOTATION: tuple[tuple[str, str], ...] = (
    (
        r"$t \in \{0, \dots, T-1\}$, $T = 1000$",
        "training time step; samplers may also use fractional t between grid points",
    ),
    (
        r"$\beta_t$, $1-\beta_t$",
        "DDPM's per-step noise variance and its complement (never written $\\alpha_t$ here)",
    ),
    (r"$\bar\alpha_t = \prod_{s \le t}(1-\beta_s)$", "cumulative signal fraction"),
    (
        r"$\alpha_t = \sqrt{\bar\alpha_t}$, $\sigma_t = \sqrt{1-\bar\alpha_t}$",
        "signal and noise scale: $x_t = \\alpha_t x_0 + \\sigma_t \\epsilon$",
    ),
    (
        r"$\bar\sigma_t = \sigma_t/\alpha_t$",
        "noise level of the scaled variable $\\bar x = x_t/\\alpha_t = x_0 + \\bar\\sigma_t"
        "\\epsilon$ (EDM's $\\sigma$); 0.01 at t = 0 and 157 at t = T-1 for the linear schedule",
    ),
    (r"$\mathrm{SNR}_t = \alpha_t^2/\sigma_t^2 = 1/\bar\sigma_t^2$", "signal-to-noise ratio"),
    (
        r"$\lambda_t = \log(\alpha_t/\sigma_t) = \tfrac12 \log \mathrm{SNR}_t$",
        "half the log-SNR (DPM-Solver's time variable); $h_i = \\lambda_{t_{i+1}} - "
        "\\lambda_{t_i}$ is one step in it",
    ),
    (
        r"$\epsilon \sim \mathcal N(0, I)$, $z$",
        "the noise in $x_t$; $z$ is fresh noise a stochastic step adds",
    ),
    (
        r"$\epsilon_\theta(x_t, t)$, $\hat x_0$",
        "the network's noise prediction and its clean-data estimate $\\hat x_0 = (x_t - "
        "\\sigma_t \\epsilon_\\theta)/\\alpha_t$; $\\theta$ are the diffusion model's parameters",
    ),
    (
        r"$\nu_i(\eta)$",
        "standard deviation of the noise a DDIM step adds (the DDIM paper's "
        "$\\sigma_{\\tau_i}$, renamed so that $\\sigma$ keeps one meaning)",
    ),
    (r"$\eta$", "DDIM's stochasticity only: 0 deterministic, 1 DDPM-like"),
    (r"$S$, $\tau_S > \dots > \tau_1$", "number of timesteps on the sampling grid, and the grid"),
    (r"NFE", "number of network evaluations of a run (Heun spends two per step)"),
    (r"$\phi$", "a distilled student's parameters (progressive distillation)"),
    (
        r"$f_\theta$, $\theta^-$, $t_\mathrm{min}$",
        "consistency function, its target network (an EMA of $\\theta$, or $\\theta$ without "
        "gradient in iCT), and the boundary time where "
        "$f_\\theta(\\bar x, t_\\mathrm{min}) = \\bar x$ (the CM paper's $\\epsilon$)",
    ),
)
NOTATION_TITLE = "Notation (the same on every page)"


def notation_card(*, expanded: bool = False) -> None:
    """The app's one notation card, in an expander."""
    box = folded(NOTATION_TITLE, "notation", expanded=expanded)
    if box:
        with box:
            st.markdown("\n".join(f"- {sym}: {meaning}" for sym, meaning in NOTATION))


# ----- per page: prompt, check questions, papers --------------------------------------

PAPERS: dict[str, tuple[str, str]] = {
    "DDPM": ("Ho, Jain & Abbeel 2020, Denoising Diffusion Probabilistic Models", "2006.11239"),
    "DDIM": ("Song, Meng & Ermon 2020, Denoising Diffusion Implicit Models", "2010.02502"),
    "DPM-Solver": ("Lu et al. 2022, DPM-Solver", "2206.00927"),
    "DPM-Solver++": ("Lu et al. 2022, DPM-Solver++", "2211.01095"),
    "UniPC": ("Zhao et al. 2023, UniPC", "2302.04867"),
    "EDM": (
        "Karras et al. 2022, Elucidating the Design Space of Diffusion-Based Generative Models",
        "2206.00364",
    ),
    "PD": (
        "Salimans & Ho 2022, Progressive Distillation for Fast Sampling of Diffusion Models",
        "2202.00512",
    ),
    "CM": ("Song, Dhariwal, Chen & Sutskever 2023, Consistency Models", "2303.01469"),
    "iCT": (
        "Song & Dhariwal 2023, Improved Techniques for Training Consistency Models",
        "2310.14189",
    ),
    "ECT": ("Geng et al. 2024, Consistency Models Made Easy", "2406.14548"),
    "Lin": (
        "Lin, Liu, Li & Yang 2023, Common Diffusion Noise Schedules and Sample Steps Are Flawed",
        "2305.08891",
    ),
}

PAGES = ("why", "ddim", "solvers", "progressive", "consistency", "compare", "img")

PREDICT: dict[str, str] = {
    "why": "Before you move the steps slider from 10 down to 1: will the 1-step DDIM sample "
    "look like the data, like a blurred average, or like the starting noise? Write "
    "down your guess, then try it here (a trailing grid: the one step starts at "
    "t = T-1) and on the DDIM page with leading spacing.",
    "ddim": "Predict: at S = 10, does eta = 1 give better or worse samples than eta = 0? "
    "And which spacing puts its first step at t = T-1? Guess, then move the eta "
    "slider and switch the spacing.",
    "solvers": "Predict: at 10 NFE, will Heun (second order) beat DDIM (first order)? And on "
    "the error plot, which line falls fastest? Guess, then change the NFE budget "
    "from 5 to 20.",
    "progressive": "Predict: the 1-step student against its 2-step parent: how much worse? "
    "And the 1-step student against DDIM with 1 step on the teacher? Guess, "
    "then show the rounds.",
    "consistency": "Predict: where does the diffusion model's one-step x0-hat land for a point "
    "at high noise, and where does the consistency model's? Guess, then move "
    "the particle.",
    "compare": "Predict the ranking at 4 NFE: DDIM, DPM-Solver++(2M), the PD student, the "
    "consistency model. Then at 20 NFE. Guess, then move the NFE budget.",
    "img": "Predict: on digits, does the ranking of samplers at 4 NFE match the 2-D pages? "
    "Guess, then switch samplers at 4 and at 20 steps.",
}

CHECKS: dict[str, tuple[tuple[str, str], ...]] = {
    "why": (
        (
            "Why can DDIM reuse a network trained with T = 1000 steps on 10 steps?",
            "The DDPM loss only involves the marginals $q(x_t \\mid x_0)$. DDIM builds a "
            "different inference process with the same marginals on any subsequence, so the "
            "same noise predictor is optimal for it. The sampler still makes a discretisation "
            "error on a coarse grid; no retraining does not mean no error.",
        ),
        (
            "What does a 1-step sampler on a leading grid return, and why?",
            "Its only timestep is t = 0, where $\\sigma_0 \\approx 0.01$: the model treats the "
            "input as almost clean and returns it, so the output is the input noise.",
        ),
        (
            "What does NFE count, and why is it the fair cost measure?",
            "Network evaluations. The network dominates the cost of every step, so samplers "
            "that spend two evaluations per step must be compared at equal NFE, not equal steps.",
        ),
    ),
    "ddim": (
        (
            "In DDIM, which process is non-Markovian?",
            "The inference (forward) process $q_\\sigma(x_{1:T} \\mid x_0)$: each $x_{t-1}$ "
            "depends on $x_t$ and $x_0$. The generative process is a Markov chain on the "
            "subsequence.",
        ),
        (
            "Why is trailing spacing better than leading at few steps?",
            "Leading starts at $t = T - T/S$ (900 at S = 10) and feeds pure noise in as if it "
            "were $x_{900}$; trailing starts at $t = T-1$, where $x_T$ really is nearly pure "
            "noise. Both are uniform in t; trailing is not denser at high t.",
        ),
        (
            "Published DDIM Table 1: DDPM's sigma-hat is best at 1000 steps (3.17) and worst at "
            "10 (367). Why?",
            "Fresh noise can correct accumulated errors when steps are small, but each step adds "
            "noise that the remaining steps must remove. With 10 steps there are too few "
            "steps left to remove it, so the larger the injected variance, the worse.",
        ),
    ),
    "solvers": (
        (
            "Why are DDIM, Euler and DPM-Solver-1 the same panel?",
            "DPM-Solver-1 integrates the linear part exactly and holds $\\epsilon_\\theta$ "
            "constant over the step in $\\lambda$; that is DDIM's update. Euler in "
            "$\\bar\\sigma$ on $\\bar x$ gives the same formula.",
        ),
        (
            "Heun at 3 NFE has an error in the hundreds. Why, if it is second order?",
            "Order describes how the error shrinks as steps get small. With one step from "
            "$\\bar\\sigma = 157$ to 0.01, the corrector's slope is evaluated at almost no noise, "
            "on a point far from the data, where the noise prediction is huge; the step "
            "multiplies it by its whole length.",
        ),
        (
            "Why fit the order only at large NFE?",
            "The error behaves like $C\\,\\mathrm{NFE}^{-p}$ only once the leading term "
            "dominates. At small NFE the warm-up steps of multistep solvers and the final "
            "first-order step to $\\sigma = 0$ dominate, and the slope misranks the methods.",
        ),
    ),
    "progressive": (
        (
            "What does one round of progressive distillation cost?",
            "A training run of its own: every update runs two teacher DDIM steps and one "
            "student step. Halving N to 1 takes $\\log_2 N$ rounds.",
        ),
        (
            "Why do the students predict v instead of eps?",
            "At $t = T-1$, $\\hat x_0 = (x - \\sigma\\epsilon)/\\alpha$ multiplies the "
            "network's error in $\\epsilon$ by $\\sigma/\\alpha \\approx 157$; with "
            "$v = \\alpha\\epsilon - \\sigma x_0$, $\\hat x_0 = \\alpha x - \\sigma v$ "
            "stays bounded.",
        ),
        (
            "Why does quality drop from round to round?",
            "Each student learns its teacher's 2-step map, errors included, and then teaches "
            "the next round: the errors accumulate.",
        ),
    ),
    "consistency": (
        (
            "What does the target network $\\theta^-$ do, and what changed in iCT?",
            "It gives the target $f_{\\theta^-}$ at the less noisy point, without gradient; the "
            "original CM keeps it as an EMA of $\\theta$. iCT drops the EMA ($\\theta^- = "
            "\\theta$ without gradient), which removes a bias.",
        ),
        (
            "CD and CT differ in one thing. Which?",
            "How the less noisy point of a pair is made: CD takes one ODE step of a teacher; CT "
            "adds the same noise $z$ to the same $x_0$ at the lower level, with no teacher.",
        ),
        (
            "Why does a diffusion model's 1-step sample differ from a consistency model's?",
            "The diffusion model's $\\hat x_0$ at high noise is the average of all the data "
            "that could have produced $x_t$ (a blurry mean, or, for an eps-network, that mean "
            "plus its error times $\\sigma/\\alpha$); a consistency model maps $x_t$ to the end "
            "of its own trajectory.",
        ),
    ),
    "compare": (
        (
            "Which methods need retraining, and what does each buy?",
            "DDIM and the ODE solvers need none; progressive distillation (a chain of rounds) "
            "and consistency models (one training run) do, and reach 1-4 steps.",
        ),
        (
            "Why start every method from the same $x_T$?",
            "Deterministic samplers then map the same noise to comparable samples, so "
            "differences between panels are the methods', not the noise's.",
        ),
    ),
    "img": (
        (
            "Why is FD-200 only comparable with other FD-200 values?",
            "A Frechet distance from few samples is biased upward, by an amount that depends "
            "on the model; KID is unbiased, so show it beside.",
        ),
        (
            "Why do the published CIFAR-10 tables never share axes with our curves?",
            "They use 50k samples, Inception features and a different model and data set; "
            "our numbers are small-sample distances on digits.",
        ),
    ),
}

CITES: dict[str, tuple[str, ...]] = {
    "why": ("DDPM", "DDIM"),
    "ddim": ("DDIM", "Lin", "EDM"),
    "solvers": ("DDIM", "DPM-Solver", "DPM-Solver++", "UniPC", "EDM"),
    "progressive": ("PD", "DDIM"),
    "consistency": ("CM", "iCT", "ECT", "EDM"),
    "compare": ("DDIM", "DPM-Solver++", "PD", "CM"),
    "img": ("DDIM", "DPM-Solver++", "UniPC", "EDM", "PD", "CM"),
}


def _page(page: str) -> str:
    if page not in PAGES:
        raise ValueError(f"unknown page {page!r}; choose one of {', '.join(PAGES)}")
    return page


def predict_prompt(page: str) -> None:
    """The page's "predict, then move the slider" prompt."""
    st.info(
        f"**Predict, then move the slider.** {PREDICT[_page(page)]}", icon=":material/lightbulb:"
    )


def check_questions(page: str) -> None:
    """Two or three check questions, each answer in its own expander."""
    st.subheader("Check your understanding")
    for i, (question, answer) in enumerate(CHECKS[_page(page)], 1):
        st.markdown(f"**{i}.** {question}")
        box = folded("Answer", f"answer.{page}.{i}")
        if box:
            with box:
                st.markdown(answer)


def citation_lines(page: str) -> list[str]:
    """The papers a page teaches, one Markdown line each, with arXiv links."""
    out = []
    for key in CITES[_page(page)]:
        title, arxiv = PAPERS[key]
        out.append(f"- {title}, [arXiv:{arxiv}](https://arxiv.org/abs/{arxiv})")
    return out


def citations(page: str) -> None:
    """The papers this page teaches."""
    st.markdown("**Papers this page teaches**\n\n" + "\n".join(citation_lines(page)))


# ----- in-depth sections ---------------------------------------------------------------

DEEP: dict[str, tuple[str, str]] = {
    "ddim-code": (
        "The timestep subsequence in code",
        "The project builds every integer grid in `diffusion.grids.make_ddim_timesteps` "
        "(below). The version printed in the chapter has three flaws, each fixed here:\n\n"
        "1. **Truncation never reaches T-1.** `range(0, T, T // S)` starts at 0 and stops "
        "at $T - T/S$: the first model evaluation is at t = 900 for S = 10, and $x_T$ is fed "
        "in as if it were $x_{900}$. Lin et al. (2023) name this flaw of leading spacing; "
        "quadratic spacing shares it (they do not discuss quadratic). Our 'leading' keeps "
        "it for comparison; 'trailing' and 'linspace' start at T-1.\n"
        "2. **Quadratic's 0.8 factor.** `linspace(0, sqrt(0.8 T), S)**2` tops out at "
        "0.8 T = 800, so the first step starts even further from pure noise. The chapter's "
        "example for S = 50, '0, 0.4, 1.6, ..., 980', is not what its code gives: the code "
        "truncates to integers (0, 0, 1, 2, 5, 8, ..., 767, 800), repeats 0, and ends at "
        "800, not 980.\n"
        "3. **Silent de-duplication.** `sorted(set(...))` drops repeated integers, so a "
        "caller asking for S steps can get fewer without knowing. Ours de-duplicates too, "
        "but warns, and the DDIM page says how many remain.",
    ),
    "last-step": (
        "The last step, to sigma = 0",
        "Data lives at $\\sigma = 0$, but no grid evaluates the network there (its input "
        "would be the answer). Every sampler here therefore ends with one more use of the "
        "last evaluation: the output is $\\hat x_0$ at the final grid time, a first-order "
        "step to $\\sigma = 0$. How far that last jump is depends on the grid: a leading "
        "grid ends at t = 0 ($\\sigma_0 \\approx 0.01$, a tiny jump, but one NFE spent "
        "almost for nothing), a trailing grid at S = 10 ends at t = 99 ($\\sigma \\approx "
        "0.3$, a long first-order jump). diffusers exposes the same choice: DDIM's "
        "`set_alpha_to_one` (step to $\\bar\\alpha = 1$ after the last timestep or stop at "
        "$\\bar\\alpha_0$) and DPM-Solver's `final_sigmas_type` ('zero' or 'sigma_min').",
    ),
    "ddim-table": (
        "Reading the published DDIM table: where stochasticity helps",
        "Down the S = 1000 column the stochastic sampler with DDPM's larger variance "
        "($\\hat\\sigma$) is best (3.17 against 4.04 for deterministic DDIM); at S = 10 it is "
        "catastrophic (367.43 against 13.36). Injected noise lets a fine chain forget "
        "earlier errors, but every step adds noise that the steps after it must remove, "
        "and with 10 steps there are not enough left. Deterministic DDIM degrades most "
        "gracefully as S falls. (Song, Meng & Ermon 2020, Table 1; CIFAR-10, quadratic "
        "spacing, 50k samples.)",
    ),
    "dpm-solver": (
        "DPM-Solver in depth: why it is exact where it can be",
        "The probability-flow ODE of a VP model is **semi-linear**: "
        "$\\frac{dx}{dt} = f(t)\\,x + \\frac{g^2(t)}{2\\sigma_t}\\,\\epsilon_\\theta(x_t, t)$. "
        "The linear part can be integrated exactly. Changing the time variable to "
        "$\\lambda = \\log(\\alpha/\\sigma)$ and using variation of constants gives, from "
        "$t_i$ to $t_{i+1}$ with $h = \\lambda_{t_{i+1}} - \\lambda_{t_i}$:\n\n"
        "$$x_{t_{i+1}} = \\frac{\\alpha_{t_{i+1}}}{\\alpha_{t_i}} x_{t_i} - \\alpha_{t_{i+1}}"
        "\\int_{\\lambda_{t_i}}^{\\lambda_{t_{i+1}}} e^{-\\lambda}\\,"
        "\\hat\\epsilon_\\theta(\\hat x_\\lambda, \\lambda)\\,d\\lambda.$$\n\n"
        "Only the integral of the network's output is approximated: DPM-Solver-k expands "
        "$\\hat\\epsilon_\\theta$ in a Taylor series in $\\lambda$ to order k-1 and "
        "integrates each term exactly. With k = 1 ($\\epsilon_\\theta$ constant over the "
        "step) the update is $x_{t_{i+1}} = \\frac{\\alpha_{t_{i+1}}}{\\alpha_{t_i}}x_{t_i} - "
        "\\sigma_{t_{i+1}}(e^{h}-1)\\,\\epsilon_\\theta$: exactly deterministic DDIM.\n\n"
        "**DPM-Solver++** writes the same integral in the data prediction $\\hat x_0$ "
        "instead of $\\epsilon$. $\\hat x_0$ stays in the range of the data, while "
        "$\\epsilon$-terms are multiplied by $\\sigma/\\alpha$, which is large at high noise "
        "and with classifier-free guidance; high-order differences of $\\hat x_0$ are "
        "therefore better behaved. Its **multistep** forms (2M, 3M) estimate the derivatives "
        "from the previous steps' evaluations, so each step costs one NFE, instead of "
        "evaluating extra intermediate points as the singlestep DPM-Solver-2/3 and "
        "DPM-Solver++(2S) do.\n\n"
        "**UniPC** adds a corrector to such a multistep predictor: after each step it "
        "re-uses the evaluation at the new point, which the next step needs anyway, to "
        "raise the order by one at no extra NFE (UniP-2 + UniC is third order).",
    ),
    "orders": (
        "Measured orders, and the pre-asymptotic regime",
        "A method of order p has global error about $C\\,\\mathrm{NFE}^{-p}$ once the steps "
        "are small: a line of slope $-p$ on log-log axes. The legend's orders are fitted "
        "only over the **asymptotic range** (NFE between the two values in the plot's "
        "title). At small NFE the curves are pre-asymptotic: multistep solvers start with "
        "lower-order warm-up steps, every sampler ends with a first-order jump to "
        "$\\sigma = 0$, and higher-order error terms are not yet small, so slopes fitted "
        "there can rank the methods wrongly (UniPC then looks worse than DPM-Solver++(2M), "
        "although it is third order). Heun and the singlestep DPM-Solvers blow up below "
        "about 10 NFE on log-SNR and Karras grids: one huge step evaluates its second slope "
        "at low noise on a point far from the data. The orders are measured on the exact "
        "oracle and smooth grids (log-SNR, Karras); integer grids (leading, trailing) end "
        "with a long step in log-SNR, and their slopes stay below the order.",
    ),
    "karras": (
        "The Karras grid here against EDM's",
        "EDM spaces its noise levels as $\\sigma_i = (\\sigma_{\\max}^{1/\\rho} + "
        "\\tfrac{i}{N-1}(\\sigma_{\\min}^{1/\\rho} - \\sigma_{\\max}^{1/\\rho}))^\\rho$ with "
        "$\\rho = 7$ between 80 and 0.002. Here the same formula runs between the schedule's "
        "own ends, $\\bar\\sigma$ from 157 (t = T-1) down to 0.01 (t = 0), since the network "
        "was trained on the linear VP schedule and knows no other noise levels.",
    ),
    "metrics": (
        "The quality measures: sliced W2 and MMD",
        "**Sliced Wasserstein-2** projects both point clouds on many random directions and "
        "averages the 1-D Wasserstein-2 distances (sorted points against sorted points); "
        "it sees the whole shape, is in the data's units, and even two draws of the true "
        "data score above 0 (the 'floor'). **MMD** here is the unbiased estimate of the "
        "squared maximum mean discrepancy with a Gaussian kernel: it compares average "
        "kernel similarities within and between the sets. Being unbiased, it can come out "
        "slightly negative when the two sets are indistinguishable.",
    ),
    "pd": (
        "Progressive distillation in depth: v-prediction, cost, accumulation",
        "**Why v.** A student that takes 1-4 steps must predict clean data from almost "
        "pure noise. With eps-prediction, $\\hat x_0 = (x - \\sigma\\epsilon_\\phi)/\\alpha$ "
        "multiplies any error in $\\epsilon_\\phi$ by $\\sigma/\\alpha \\approx 157$ at "
        "t = T-1; with $v = \\alpha\\epsilon - \\sigma x_0$ the estimate "
        "$\\hat x_0 = \\alpha x - \\sigma v$ stays bounded. The loss weight "
        "$\\max(\\mathrm{SNR}_t, 1)$ keeps high-noise times from being ignored.\n\n"
        "**Cost.** Each round is a training run: every update runs two deterministic "
        "teacher steps and one student step. Reaching 1 step from N takes "
        "$\\log_2 N$ rounds, each starting from its teacher's weights.\n\n"
        "**Error accumulation.** A student learns its teacher's 2-step map, errors "
        "included, and becomes the next teacher; errors compound over rounds, which is why "
        "the published FID rises from 2.57 at 8 steps to 9.12 at 1 step (Salimans & Ho "
        "2022).",
    ),
    "cm": (
        "Consistency models in depth: CT loss, target network, curriculum, metric",
        "**CT loss.** Draw $x_0$, one noise $z$ and an index n; make the pair "
        "$x_{n+1} = x_0 + \\bar\\sigma_{n+1} z$ and $x_n = x_0 + \\bar\\sigma_n z$ (scaled "
        "variable) and minimise $d\\big(f_\\theta(x_{n+1}), f_{\\theta^-}(x_n)\\big)$, "
        "weighted per level. Sharing $z$ makes $x_n$ an estimate of the ODE step from "
        "$x_{n+1}$ without a teacher; CD uses a teacher's actual ODE step instead.\n\n"
        "**Target network $\\theta^-$.** The target side gets no gradient. The original "
        "paper keeps $\\theta^-$ as an EMA of $\\theta$ with a decay $\\mu(k)$; iCT sets "
        "$\\theta^- = \\theta$ (no EMA), which removes a bias in CT.\n\n"
        "**N(k) curriculum.** The number of discretisation levels N grows during training: "
        "coarse levels early (a low-variance, biased target), fine levels late (close to "
        "the ODE). iCT doubles N on a fixed schedule.\n\n"
        "**Distance d.** On images the paper uses LPIPS, a learned perceptual distance; "
        "points in 2-D have no perception to match, so this app uses squared L2 (CD) and "
        "iCT's pseudo-Huber loss (CT).\n\n"
        "**What iCT and ECT change.** iCT (Song & Dhariwal 2023): no EMA target, "
        "pseudo-Huber instead of LPIPS, lognormal sampling of noise levels, the doubling "
        "curriculum, weights $1/(\\bar\\sigma_{n+1}-\\bar\\sigma_n)$. ECT (Geng et al. 2024) "
        "starts consistency training from a pretrained diffusion model's weights, which "
        "makes it far cheaper. The shipped `*-ct` models are iCT started from the "
        "diffusion weights (ECT); the live 'Train CT' button trains plain CT from scratch.",
    ),
}


def deep_dive(key: str, *, expanded: bool = False) -> None:
    """One in-depth section, in an expander."""
    if key not in DEEP:
        raise ValueError(f"unknown section {key!r}; choose one of {', '.join(DEEP)}")
    title, body = DEEP[key]
    box = folded(title, f"deep.{key}", expanded=expanded)
    if box:
        with box:
            st.markdown(body)


def source_of(obj) -> str:
    """The source code of a library function or class, as the package runs it."""
    return inspect.getsource(obj)


def show_source(obj, caption: str = "") -> None:
    """The project's own source of ``obj`` in a code block."""
    st.code(source_of(obj), language="python", wrap_lines=True)
    if caption:
        st.caption(caption)


def subsequence_code(grid) -> None:
    """The DDIM page's 'subsequence in code' expander: the chapter version's flaws, the
    project's own make_ddim_timesteps source, and the grid the page is using."""
    from diffusion.grids import make_ddim_timesteps

    title, body = DEEP["ddim-code"]
    box = folded(title, "deep.ddim-code")
    if box:
        with box:
            st.markdown(body)
            st.code(source_of(make_ddim_timesteps), language="python", wrap_lines=True)
            st.caption("This page's grid: " + ", ".join(f"{float(t):g}" for t in grid))


# ----- small shared texts ----------------------------------------------------------------


def nfe_breakdown(sampler: str, steps: int, *, compact: bool = False) -> str:
    """How a run on an S-point grid spends its NFE: S-1 solver steps of k evaluations each,
    plus the evaluations at the last grid time (whose x0-hat is the output), e.g.
    'S = 5: 4 steps × 2 + 1 = NFE 9' ('4×2 + 1 = NFE 9' compact, for a panel title).
    Uses the registry's exact NFE formula."""
    from diffusion import get_sampler

    spec = get_sampler(sampler)
    nfe = spec.nfe(steps)
    per = spec.nfe(steps + 1) - nfe
    last = nfe - per * (steps - 1)
    if compact:
        return f"{steps - 1}×{per} + {last} = NFE {nfe}"
    return f"S = {steps}: {steps - 1} steps × {per} + {last} = NFE {nfe}"


def cm_label(method: str, spec: str) -> str:
    """A consistency model's name for what it is: CD, the shipped CT models (iCT started
    from the diffusion model's weights, as ECT does) or a session's plain CT."""
    if method.lower() == "cd":
        return "CD"
    if spec.startswith("session:"):
        return "CT (scratch)"
    return "iCT/ECT"


def advice(
    sampler: str, steps: int, spacing: str | None, prediction: str | None = None, *, where=st
) -> None:
    """A warning for every known-broken setting (``diffusion.advice``) this run matches."""
    from diffusion.advice import warnings_for

    for msg in warnings_for(sampler, int(steps), spacing, prediction=prediction):
        where.warning(msg, icon=":material/warning:")
