"""Few-step generation by retraining: progressive distillation and consistency models.

Loss objects plus small outer loops over ``diffusion.training.train``; they work for any
denoiser network x: (B, *D). See docs/fewstep.md.
"""

from ..samplers import consistency as _sampler  # noqa: F401  (registers "consistency")
from .consistency import (
    ConsistencyDistillationLoss,
    ConsistencyFunction,
    ConsistencyTrainingLoss,
    consistency_distillation,
    consistency_model,
    consistency_training,
    karras_timesteps,
)
from .progressive import ProgressiveDistillationLoss, pd_timesteps, progressive_distillation

__all__ = [
    "ConsistencyDistillationLoss",
    "ConsistencyFunction",
    "ConsistencyTrainingLoss",
    "ProgressiveDistillationLoss",
    "consistency_distillation",
    "consistency_model",
    "consistency_training",
    "karras_timesteps",
    "pd_timesteps",
    "progressive_distillation",
]
