#!/usr/bin/env python3
"""Makes the ONNX models the WASI-NN guests run, and their expected outputs.

Usage: make-models.py OUT_DIR

Writes, reproducibly (fixed seeds, fixed opset):
  OUT_DIR/mlp/model.onnx    a 4-8-3 MLP classifier: MatMul+Add+Relu, MatMul+Add, Softmax
  OUT_DIR/multi/model.onnx  two inputs of rank 2 and 3, two outputs: the MLP's
                            logits of `x`, and `2*sigmoid(y) - y` elementwise
  OUT_DIR/wide/model.onnx   a larger MLP, 8x256 -> 512 -> 512 -> 10 with Softmax: enough
                            work per compute that the benchmark measures inference,
                            not call overhead
  OUT_DIR/expected.json     fixed inputs and the outputs numpy computes from the
                            same weights: an independent check of the backends

Each model sits in a directory of its own so `--nn-graph onnx::DIR` can
preload it by the directory's name, as `wasmtime run -S nn-graph` does.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp_weights():
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((4, 8)).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((8, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32)
    return w1, b1, w2, b2


def mlp_nodes(x, logits):
    return [
        helper.make_node("MatMul", [x, "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], [logits]),
    ]


def initializers(weights):
    return [numpy_helper.from_array(a, n) for a, n in zip(weights, ["w1", "b1", "w2", "b2"])]


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="wasmhost make-models.py")
    # ir_version 8 is what tract 0.23 and onnxruntime 1.22 both read.
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def numpy_mlp(x, weights):
    w1, b1, w2, b2 = weights
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main(out):
    weights = mlp_weights()
    f32 = TensorProto.FLOAT

    mlp = helper.make_graph(
        mlp_nodes("x", "logits") + [helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)],
        "mlp",
        [helper.make_tensor_value_info("x", f32, [1, 4])],
        [helper.make_tensor_value_info("probs", f32, [1, 3])],
        initializers(weights))
    save(mlp, os.path.join(out, "mlp", "model.onnx"))

    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    multi = helper.make_graph(
        mlp_nodes("x", "logits") + [
            helper.make_node("Sigmoid", ["y"], ["s"]),
            helper.make_node("Mul", ["s", "two"], ["s2"]),
            helper.make_node("Sub", ["s2", "y"], ["z"]),
        ],
        "multi",
        [helper.make_tensor_value_info("x", f32, [1, 4]),
         helper.make_tensor_value_info("y", f32, [2, 2, 3])],
        [helper.make_tensor_value_info("logits", f32, [1, 3]),
         helper.make_tensor_value_info("z", f32, [2, 2, 3])],
        initializers(weights) + [two])
    save(multi, os.path.join(out, "multi", "model.onnx"))

    rng = np.random.default_rng(11)
    sizes = [256, 512, 512, 10]
    wide_weights = []
    nodes, h = [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)
        wide_weights.append((w, b))
        nodes += [helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        h = f"a{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [h], [f"r{i}"]))
            h = f"r{i}"
    nodes.append(helper.make_node("Softmax", [h], ["probs"], axis=-1))
    wide = helper.make_graph(
        nodes, "wide",
        [helper.make_tensor_value_info("x", f32, [8, 256])],
        [helper.make_tensor_value_info("probs", f32, [8, 10])],
        [numpy_helper.from_array(a, f"{k}{i}") for i, (w, b) in enumerate(wide_weights)
         for a, k in ((w, "w"), (b, "b"))])
    save(wide, os.path.join(out, "wide", "model.onnx"))

    cases = []
    for x in ([0.5, -1.0, 2.0, 0.25], [-0.3, 0.8, 0.1, -1.7], [3.0, 0.0, -2.5, 1.25]):
        xa = np.array([x], dtype=np.float32)
        cases.append({"model": "mlp", "inputs": [{"dims": [1, 4], "data": x}],
                      "outputs": [{"dims": [1, 3],
                                   "data": softmax(numpy_mlp(xa, weights)).ravel().tolist()}]})
    x = np.array([[1.0, -0.5, 0.75, 2.0]], dtype=np.float32)
    y = np.linspace(-3, 3, 12, dtype=np.float32).reshape(2, 2, 3)
    z = 2 / (1 + np.exp(-y.astype(np.float64))) - y
    cases.append({"model": "multi",
                  "inputs": [{"dims": [1, 4], "data": x.ravel().tolist()},
                             {"dims": [2, 2, 3], "data": y.ravel().tolist()}],
                  "outputs": [{"dims": [1, 3], "data": numpy_mlp(x, weights).ravel().tolist()},
                              {"dims": [2, 2, 3], "data": z.ravel().tolist()}]})
    # The guests' `ramp` input: value i is (i % 17) / 17 - 0.5, in float32.
    x = ((np.arange(8 * 256) % 17) / 17.0 - 0.5).astype(np.float32).reshape(8, 256)
    a = x.astype(np.float64)
    for i, (w, b) in enumerate(wide_weights):
        a = a @ w.astype(np.float64) + b
        if i < len(wide_weights) - 1:
            a = np.maximum(a, 0)
    cases.append({"model": "wide",
                  "inputs": [{"dims": [8, 256], "data": "ramp"}],
                  "outputs": [{"dims": [8, 10], "data": softmax(a).ravel().tolist()}]})
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make-models.py OUT_DIR")
    main(sys.argv[1])
