"""How a trained model is run, whatever format it is in.

- :mod:`~kerasdenoise.runtime.load`: model SPEC -> :class:`Denoiser` (:func:`load_denoiser`)
- :mod:`~kerasdenoise.runtime.denoisers`: the :class:`Denoiser` interface (image in, restored
  image out, clipped) and its kinds: network, BM3D, identity, by-channels (shipped)
- :mod:`~kerasdenoise.runtime.backends`: Keras, SavedModel and TFLite runners, and the names
  exported files and runners agree on
- :mod:`~kerasdenoise.runtime.tiling`: tiles, reflection padding, the size-multiple probe
"""
from kerasdenoise.runtime.backends import (
    TFLiteRunner, denoiser_from_keras, load_keras_model, load_tflite, run_tflite,
)
from kerasdenoise.runtime.denoisers import (
    BM3DDenoiser, ByChannelsDenoiser, ChannelMismatchError, Denoiser, IdentityDenoiser,
    NetworkDenoiser, equal_channels,
)
from kerasdenoise.runtime.load import SHIPPED_DIR, SPEC_FORMS, load_denoiser
from kerasdenoise.runtime.tiling import reflect_pad, size_multiple, tiled_apply

__all__ = [
    "BM3DDenoiser", "ByChannelsDenoiser", "ChannelMismatchError", "Denoiser", "IdentityDenoiser",
    "NetworkDenoiser", "SHIPPED_DIR", "SPEC_FORMS", "TFLiteRunner", "denoiser_from_keras",
    "equal_channels", "load_denoiser", "load_keras_model", "load_tflite", "reflect_pad",
    "run_tflite", "size_multiple", "tiled_apply",
]
