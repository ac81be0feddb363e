"""kerasdenoise: image denoisers from four papers in TensorFlow / Keras 3.

Subpackages: ``degrade`` (degradations), ``data`` (images, tf.data pipelines), ``models``
(network builders and their registry), ``losses``, ``metrics``, ``training``, ``inference``,
``evaluation``, ``export``.  See docs/ARCHITECTURE.md.
"""
__version__ = "0.1.0"
