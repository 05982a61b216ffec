"""The diffusers teacher wrapper against diffusers' own loop, and the shipped
offline-track models: loadable, and the few-step students beat DDIM at equal NFE."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, UNet2DModel

from diffusion.grids import few_step_timesteps, make_timesteps
from diffusion.images.digits import digits_metrics, load_digits
from diffusion.images.hub import load_diffusers_model
from diffusion.images.store import load_image_model
from diffusion.samplers import get_sampler


def _tiny_diffusers(tmp_path):
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    )
    unet.save_pretrained(tmp_path / "unet", safe_serialization=True)
    DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear").save_pretrained(
        tmp_path / "scheduler"
    )
    return unet.eval()


def test_diffusers_unet_loads_as_teacher_and_matches_diffusers_ddim(tmp_path):
    unet = _tiny_diffusers(tmp_path)
    model = load_diffusers_model(tmp_path)
    assert model.sample_shape == (3, 8, 8)
    assert model.prediction == "eps"
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([10.0, 900.0])
    with torch.no_grad():
        torch.testing.assert_close(model.net(x, t), unet(x, t).sample)
        # our DDIM (eta = 0, trailing grid) against diffusers' DDIM loop, same network
        steps = 5
        ours = get_sampler("ddim")(model, x, make_timesteps(model.schedule, steps, "trailing")).x
        sched = DDIMScheduler(
            num_train_timesteps=1000,
            beta_schedule="linear",
            timestep_spacing="trailing",
            clip_sample=False,
            set_alpha_to_one=True,
        )
        sched.set_timesteps(steps)
        ref = x
        for step_t in sched.timesteps:
            ref = sched.step(unet(ref, step_t).sample, step_t, ref).prev_sample
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_shipped_digits_models_load_and_few_step_students_beat_ddim():
    teacher = load_image_model("digits")
    assert teacher.sample_shape == (1, 16, 16)
    n = 200
    real = digits_metrics(
        load_digits()[0][torch.randperm(1797, generator=torch.Generator().manual_seed(0))[:n]]
    )
    noise = digits_metrics(torch.randn(n, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    assert real["fd"] * 5 < noise["fd"]
    assert real["label"] == "FD-200"
    x_T = torch.randn(n, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    ddim = get_sampler("ddim")
    with torch.no_grad():
        ddim2 = digits_metrics(
            ddim(teacher, x_T, make_timesteps(teacher.schedule, 2, "trailing")).x
        )
        pd2 = load_image_model("digits-pd@2steps")
        pd = digits_metrics(ddim(pd2, x_T, few_step_timesteps(pd2, 2)).x)
        cd1 = load_image_model("digits-cd")
        cd = digits_metrics(get_sampler("consistency")(cd1, x_T, few_step_timesteps(cd1, 1)).x)
    # each few-step model, sampled on the grid it was made for, is far better than
    # the teacher's DDIM at the same (or twice the) NFE
    assert pd["fd"] < 0.5 * ddim2["fd"], (pd, ddim2)
    assert cd["fd"] < 0.5 * ddim2["fd"], (cd, ddim2)
