"""TF 1 `GRUCell` layout: `<cell>/gates/kernel [I+H, 2H]` (r | u), `gates/bias`,
`candidate/kernel [I+H, H]`, `candidate/bias`.

One bias per gate and the reset gate before the recurrent product: the recurrent biases
b_hr, b_hz fold into the input side exactly, and so does b_hn for a reset-before source.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule
from ..errors import MissingExtraError, OutputError
from ..families import tf_gru_cell
from ..tensors import METADATA_KEY
from ..where import fill
from .common import iter_per_cell_arrays, per_cell_arrays, unsupported_activations

NAME = "tf"
RESET_AFTER = (False,)
SUFFIXES = (".npz", ".h5", ".safetensors", ".ckpt")
OWN_SUFFIXES = (".ckpt",)  # a real TF checkpoint, written by TensorFlow (the tf extra)
CHECKPOINT_SHARD = ".data-00000-of-00001"


def unsupported(cell: GruCell) -> str | None:
    return unsupported_activations(cell, "a TF 1 GRUCell")


def cell_arrays(cell: GruCell, weights: CanonicalWeights) -> dict[str, np.ndarray]:
    """The cell as the TF GRUCell family describes it. One bias per gate: `fill` folds the
    recurrent ones in, exactly for r and z, and for n only for a reset-before source (the
    approximation --allow-inexact accepts)."""
    inputs, hidden = cell.input_size, cell.hidden_size
    shapes = {"gates/kernel": (inputs + hidden, 2 * hidden), "gates/bias": (2 * hidden,),
              "candidate/kernel": (inputs + hidden, hidden), "candidate/bias": (hidden,)}
    roles = dict(zip(tf_gru_cell.ROLES, shapes, strict=True))
    target = replace(cell, layout=tf_gru_cell.LAYOUTS[0], roles=roles, extra={})
    return fill(tf_gru_cell.where(target), weights, shapes, weights["W_hn"].dtype)


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    return per_cell_arrays(modules, weights, cell_prefix, cell_arrays)


def iter_arrays(modules: list[GruModule], weights_of: Callable[[GruCell], CanonicalWeights]
                ) -> Iterator[tuple[str, np.ndarray]]:
    """`from_canonical` one cell at a time, for a writer that streams."""
    return iter_per_cell_arrays(modules, weights_of, cell_prefix, cell_arrays)


def cell_prefix(module: GruModule, cell: GruCell) -> str:
    """The contract's `<cell>`: the source's own cell name. A TF source keeps its scopes as
    they were; for others the module, layer and direction are in the metadata."""
    return cell.name


def cell_name(module: GruModule, cell: GruCell) -> str:
    """The name grutool gives this cell when it reads the written file back."""
    return cell_prefix(module, cell)


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
    from ..frameworks import import_tensorflow, native_stderr_hidden

    try:
        tf = import_tensorflow()
    except ImportError as exc:
        raise MissingExtraError("writing a TF checkpoint needs TensorFlow", "tf", path) from exc
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial",
                                       dir=path.parent))
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    temporary = folder / "checkpoint"
    try:
        names = sorted(arrays)
        tensors = [tf.constant(arrays[name]) for name in names]
        # The metadata rides along as a string tensor, which restoring by name ignores.
        names.append(METADATA_KEY)
        tensors.append(tf.constant(json.dumps(metadata)))
        with native_stderr_hidden():  # TF's C++ log, when the op first runs
            tf.raw_ops.SaveV2(prefix=str(temporary), tensor_names=names,
                              shape_and_slices=[""] * len(names), tensors=tensors)
        index, data = output_files(path)
        # Replacing (--force): the old index goes first, so it never points into new data.
        index.unlink(missing_ok=True)
        os.replace(temporary.with_name(temporary.name + CHECKPOINT_SHARD), data)
        os.replace(temporary.with_name(temporary.name + ".index"), index)
    except tf.errors.OpError as exc:
        raise OutputError(f"TensorFlow could not write the checkpoint: {exc.message}", path) from exc
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    finally:
        for leftover in folder.glob("*"):
            leftover.unlink()
        folder.rmdir()
