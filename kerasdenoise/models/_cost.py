"""Multiply-accumulate count of a Keras model, from its traced TensorFlow graph."""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def _shape(tensor):
    return [int(d) for d in tensor.shape]


def kernel_macs(model, input_hw) -> int:
    """MACs of every convolution, transposed convolution and matmul for one image.

    The model is traced once at batch 1 and ``input_hw``; each op's MACs follow from its
    static output and filter shapes, so the count matches what actually runs.
    """
    channels = int(model.inputs[0].shape[-1]) if getattr(model, "inputs", None) else 1
    h, w = input_hw
    spec = tf.TensorSpec([1, h, w, channels], tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            kh, kw, cin, _ = _shape(op.inputs[1])
            total += int(np.prod(_shape(op.outputs[0]))) * kh * kw * cin
        elif op.type == "DepthwiseConv2dNative":
            kh, kw, _, _ = _shape(op.inputs[1])
            total += int(np.prod(_shape(op.outputs[0]))) * kh * kw
        elif op.type == "Conv2DBackpropInput":  # transposed convolution
            kh, kw, cout, _ = _shape(op.inputs[1])
            total += int(np.prod(_shape(op.inputs[2]))) * kh * kw * cout
        elif op.type in ("MatMul", "BatchMatMulV2"):
            a = _shape(op.inputs[0])
            k = a[-2] if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x") else a[-1]
            total += int(np.prod(_shape(op.outputs[0]))) * k
    return total
