"""Training: configs and presets, the fit runner (checkpoints, resume), trainers, drivers."""
