"""Pure figure builders for the teaching app: NumPy arrays in, plotly figures out.

Nothing here touches streamlit or holds state, so every figure can be built in a
test, a notebook or a script. Arrays follow the package's shapes: samples
x: (B, 2), trajectories xs: (S+1, B, 2) (x_T first, clean samples last).
``lecture=True`` gives the projector style: large fonts, thick lines, black on white.

One module per job: ``style`` (the look, the export button), ``panels`` (sample
rasters, the trajectory animation), ``curves`` (quality and error against cost),
``diagrams`` (the teaching pictures and the sampler steps they draw), ``export``
(GIF and MP4 for slides).
"""

from .curves import error_vs_nfe, quality_curves
from .diagrams import (
    consistency_property,
    ddim_step,
    heun_points,
    heun_step,
    schedule_timesteps,
    two_steps_vs_one,
)
from .export import ffmpeg_available, trajectory_gif, trajectory_mp4
from .panels import coverage_png, points_raster, samples_grid, trajectory_animation
from .style import PALETTE, export_config, style

__all__ = [
    "PALETTE",
    "consistency_property",
    "coverage_png",
    "ddim_step",
    "error_vs_nfe",
    "export_config",
    "ffmpeg_available",
    "heun_points",
    "heun_step",
    "points_raster",
    "quality_curves",
    "samples_grid",
    "schedule_timesteps",
    "style",
    "trajectory_animation",
    "trajectory_gif",
    "trajectory_mp4",
    "two_steps_vs_one",
]
