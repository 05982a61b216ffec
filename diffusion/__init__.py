"""Accelerated sampling of diffusion models: schedules, samplers, few-step methods,
metrics and the 2-D and image worlds that the teaching app is built on."""
