"""Presets of the foundation: the demo and the DnCNN baseline (Zhang et al., 2017)."""
from dataclasses import replace

from kerasdenoise.training.configs import TrainConfig

DEMO = TrainConfig(
    name="demo",
    description="Small DnCNN (8 layers x 32 filters) on the scikit-image sample photos, gray, "
                "Gaussian sigma 25: a one-minute CPU demo of the whole pipeline.",
    model="dncnn", model_kwargs={"depth": 8, "filters": 32, "channels": 1},
    train_data="skimage-train", val_data="skimage-test", color="gray",
    noise="gaussian:sigma=25", patch_size=40, batch_size=32,
    steps=600, steps_per_epoch=100, learning_rate=1e-3, lr_decay_steps=(450,),
)
DNCNN_GRAY_S25 = TrainConfig(
    name="dncnn-gray-s25",
    description="DnCNN-S, sigma 25, as in Zhang et al. 2017: 17 layers, 40x40 patches from "
                "Train400 with the paper's 8 flips / rotations, batch 128, Adam 1e-3 then 1e-4 "
                "(paper: 50 epochs of ~1.9k steps).",
    model="dncnn", model_kwargs={"depth": 17, "filters": 64, "channels": 1},
    train_data="Train400", val_data="Set12", color="gray",
    noise="gaussian:sigma=25", patch_size=40, augment=True, batch_size=128,
    steps=100_000, steps_per_epoch=1000, learning_rate=1e-3, lr_decay_steps=(60_000,),
)
PRESETS = (
    DEMO,
    DNCNN_GRAY_S25,
    replace(
        DNCNN_GRAY_S25,
        name="dncnn-gray-s25-cpu",
        description="dncnn-gray-s25 at a budget for the 2-core CPU machine (2k steps of batch 64; "
                    "about 40 minutes; flips / rotations as the paper). A reduced-budget "
                    "reproduction: expect well below 29.23 dB.",
        batch_size=64, steps=2000, steps_per_epoch=100, lr_decay_steps=(1500,),
    ),
)
