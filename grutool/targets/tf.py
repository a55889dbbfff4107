"""TF 1 `GRUCell` layout: `<cell>/gates/kernel [I+H, 2H]` (r | u), `gates/bias`,
`candidate/kernel [I+H, H]`, `candidate/bias`.

One bias per gate and the reset gate before the recurrent product: the recurrent biases
b_hr, b_hz fold into the input side exactly, and so does b_hn for a reset-before source.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule
from ..errors import MissingExtraError, OutputError
from .common import bias, per_cell_arrays, unsupported_activations

NAME = "tf"
RESET_AFTER = (False,)
SUFFIXES = (".npz", ".h5", ".safetensors", ".ckpt")
OWN_SUFFIXES = (".ckpt",)  # a real TF checkpoint, written by TensorFlow (the tf extra)
CHECKPOINT_SHARD = ".data-00000-of-00001"
METADATA_KEY = "__grutool__"


def unsupported(cell: GruCell) -> str | None:
    return unsupported_activations(cell, "a TF 1 GRUCell")


def cell_arrays(cell: GruCell, weights: CanonicalWeights) -> dict[str, np.ndarray]:
    hidden = weights["W_hn"].shape[0]
    dtype = weights["W_ir"].dtype
    gates_kernel = np.concatenate([
        np.concatenate([weights["W_ir"], weights["W_iz"]], axis=1),
        np.concatenate([weights["W_hr"], weights["W_hz"]], axis=1)], axis=0)
    candidate_kernel = np.concatenate([weights["W_in"], weights["W_hn"]], axis=0)
    gates_bias = np.concatenate([bias(weights, "b_ir", hidden) + bias(weights, "b_hr", hidden),
                                 bias(weights, "b_iz", hidden) + bias(weights, "b_hz", hidden)])
    # Exact for a reset-before source; for reset-after b_hn sits inside r * (…) and this
    # is the approximation --allow-inexact accepts (the error is measured and reported).
    candidate_bias = bias(weights, "b_in", hidden) + bias(weights, "b_hn", hidden)
    return {"gates/kernel": gates_kernel.astype(dtype, copy=False),
            "gates/bias": gates_bias.astype(dtype, copy=False),
            "candidate/kernel": candidate_kernel.astype(dtype, copy=False),
            "candidate/bias": candidate_bias.astype(dtype, copy=False)}


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    return per_cell_arrays(modules, weights, cell_prefix, cell_arrays)


def cell_prefix(module: GruModule, cell: GruCell) -> str:
    """The scope TF 1 would have given the cell: a TF source keeps its own; others get the
    `multi_rnn_cell/cell_K`, `bidirectional_rnn/fw|bw` or `stack_bidirectional_rnn` nesting
    that TF 1 (and grutool, reading it back) takes for the same structure."""
    if cell.layout.startswith("tf-"):
        return cell.name
    scope = module.name.strip("/").replace(".", "/") or "rnn"
    direction = "bw" if cell.direction == "reverse" else "fw"
    if module.bidirectional and module.num_layers > 1:
        # stack_bidirectional_rnn: layer K+1 reads both directions of layer K, as in nn.GRU.
        return f"{scope}/stack_bidirectional_rnn/cell_{cell.layer}/bidirectional_rnn/{direction}/gru_cell"
    if module.bidirectional:
        return f"{scope}/bidirectional_rnn/{direction}/gru_cell"
    if module.num_layers > 1:
        return f"{scope}/multi_rnn_cell/cell_{cell.layer}/gru_cell"
    return f"{scope}/gru_cell"


def output_files(out: Path) -> list[Path]:
    """A checkpoint prefix names no file itself: the index and data shard are the outputs."""
    if out.suffix.lower() == ".ckpt":
        return [out.with_name(out.name + ".index"), out.with_name(out.name + CHECKPOINT_SHARD)]
    return [out]


def write(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any],
          modules: list[GruModule]) -> None:
    """A TF V2 checkpoint at prefix `path` holding exactly `arrays`, saved by TensorFlow's own
    SaveV2 op, so `tf.compat.v1.train.Saver` / `tf.train.load_checkpoint` restore it.

    Written under a temporary prefix and renamed data first, index last: the index is what
    makes a checkpoint, so no reader ever sees an index without its data.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise MissingExtraError("writing a TF checkpoint needs TensorFlow", "tf", path) from exc
    folder = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    temporary = Path(folder) / "checkpoint"
    try:
        names = sorted(arrays)
        tensors = [tf.constant(arrays[name]) for name in names]
        # The metadata rides along as a string tensor, which restoring by name ignores.
        names.append(METADATA_KEY)
        tensors.append(tf.constant(json.dumps(metadata, sort_keys=True)))
        tf.raw_ops.SaveV2(prefix=str(temporary), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=tensors)
        index, data = output_files(path)
        os.replace(temporary.with_name(temporary.name + CHECKPOINT_SHARD), data)
        os.replace(temporary.with_name(temporary.name + ".index"), index)
    except tf.errors.OpError as exc:
        raise OutputError(f"TensorFlow could not write the checkpoint: {exc.message}", path) from exc
    finally:
        for leftover in Path(folder).glob("*"):
            leftover.unlink()
        os.rmdir(folder)
