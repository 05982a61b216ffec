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
    "style",
    "export_config",
    "samples_grid",
    "points_raster",
    "coverage_png",
    "trajectory_animation",
    "quality_curves",
    "error_vs_nfe",
    "schedule_timesteps",
    "heun_step",
    "heun_points",
    "two_steps_vs_one",
    "ddim_step",
    "consistency_property",
    "trajectory_gif",
    "trajectory_mp4",
    "ffmpeg_available",
]
