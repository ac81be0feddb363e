"""The command-line tools, installed as console scripts.

  kerasdenoise-train      train a preset (:mod:`kerasdenoise.cli.train`)
  kerasdenoise-evaluate   PSNR / SSIM of a denoiser on a test set (:mod:`kerasdenoise.cli.evaluate`)
  kerasdenoise-denoise    denoise your own images (:mod:`kerasdenoise.cli.denoise`)
  kerasdenoise-export     SavedModel / TFLite export (:mod:`kerasdenoise.cli.export`)

Each module has ``main(argv=None) -> int`` (the exit status) and also runs as
``python -m kerasdenoise.cli.<name>``; ``tools/<name>.py`` in a checkout are wrappers of them.
The modules import TensorFlow only once their arguments are checked.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the CLI output
