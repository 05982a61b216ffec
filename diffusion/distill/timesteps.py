"""The few-step models' own grids now live in ``diffusion.grids``; this name stays for
old imports."""

from ..grids import consistency_timesteps, few_step_timesteps

recommended_timesteps = few_step_timesteps

__all__ = ["consistency_timesteps", "recommended_timesteps"]
