"""The wide checkpoint of the benchmarks: a 4-layer MultiRNNCell of TF 1 GRUCells, I = H = 2048.

    python benchmarks/wide_checkpoint.py        # writes benchmarks/data/wide/model.ckpt once

384 MiB of GRU weights, 96 MiB per cell, written by TensorFlow itself (`SaveV2`, the op every
TF 1 `Saver` runs) under the names a `MultiRNNCell([GRUCell(2048)] * 4)` gives its variables.
Weights are uniform in ±1/sqrt(H), TF's own scale for these cells; not committed (git-ignored).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "wide"
PREFIX = DATA / "model.ckpt"
LAYERS, UNITS, INPUTS = 4, 2048, 2048
CELL_SCOPE = "encoder/rnn/multi_rnn_cell/cell_{k}/gru_cell"


def write_checkpoint() -> Path:
    if PREFIX.with_name(PREFIX.name + ".index").is_file():
        return PREFIX
    print(f"writing {PREFIX} with TensorFlow (once)...", file=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(UNITS)
    names, tensors = [], []
    for k in range(LAYERS):
        scope = CELL_SCOPE.format(k=k)
        rows = (INPUTS if k == 0 else UNITS) + UNITS
        for suffix, shape in (("gates/kernel", (rows, 2 * UNITS)), ("gates/bias", (2 * UNITS,)),
                              ("candidate/kernel", (rows, UNITS)), ("candidate/bias", (UNITS,))):
            names.append(f"{scope}/{suffix}")
            values = rng.uniform(-scale, scale, size=shape).astype(np.float32)
            tensors.append(tf.constant(values))
    names.append("global_step")
    tensors.append(tf.constant(np.int64(100000)))
    tf.raw_ops.SaveV2(prefix=str(PREFIX), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
    return PREFIX


if __name__ == "__main__":
    print(write_checkpoint())
