"""Image data: discovery of image sets, reading / writing, color conversion, tf.data pipelines.

The pipeline names (``patch_dataset``, ``element_seed``, ``degrade_for_eval``) are imported on
first use so that ``import kerasdenoise.data`` does not pull in TensorFlow.
"""
from __future__ import annotations

import importlib

from kerasdenoise.data.color import convert_color, rgb_to_gray, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from kerasdenoise.data.discovery import (
    IMAGE_EXTENSIONS,
    SHARED_SETS,
    SKIMAGE_SETS,
    ImageSet,
    find_images,
    image_set,
    shared_data_dir,
)
from kerasdenoise.data.io import read_image, write_image

_PIPELINE_NAMES = ("patch_dataset", "element_seed", "degrade_for_eval")

__all__ = [
    "IMAGE_EXTENSIONS",
    "SHARED_SETS",
    "SKIMAGE_SETS",
    "ImageSet",
    "convert_color",
    "find_images",
    "image_set",
    "read_image",
    "rgb_to_gray",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "shared_data_dir",
    "write_image",
    "ycbcr_to_rgb",
    *_PIPELINE_NAMES,
]


def __getattr__(name: str):
    if name in _PIPELINE_NAMES:
        return getattr(importlib.import_module("kerasdenoise.data.pipeline"), name)
    raise AttributeError(f"module 'kerasdenoise.data' has no attribute {name!r}")
