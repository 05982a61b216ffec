"""The 2-D world: seeded toy datasets, their exact Gaussian-mixture oracles, and
DDPM training of the small MLP denoiser on them."""

from .datasets import DATASETS, ORACLE_DATASETS, gaussian_mixture, sample_dataset

__all__ = ["DATASETS", "ORACLE_DATASETS", "gaussian_mixture", "sample_dataset"]
