"""kerasdenoise: image denoisers from four papers in TensorFlow / Keras 3.

Subpackages: ``degrade`` (degradations), ``data`` (images, tf.data pipelines), ``models``
(network builders and their registry), ``losses``, ``metrics``, ``training``, ``runtime``,
``evaluation``, ``export``.  See docs/ARCHITECTURE.md.
"""
import os

# TensorFlow leaves its oneDNN kernels off on CPUs it does not list (AMD EPYC here); on: 1.5x
# (DS-DN-ResNet-13) to 1.85x (DN-ResNet-13) faster training steps, measured on a 2-core EPYC.
# Takes effect when kerasdenoise is imported before TensorFlow (the CLIs do); set the variable
# to 0 to keep TensorFlow's default.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
