"""Keras `GRU` weights per cell: `<cell>/kernel` [I, 3H] (z | r | h), `recurrent_kernel`
[H, 3H], `bias`: [3H] for `reset_after=False`, [2, 3H] (input row, recurrent row) for True.

Keras computes both reset placements, so every tanh/sigmoid source converts exactly; the
cell's own placement is kept, and `GRU(H, reset_after=…)` must be built to match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from ..activations import known
from ..cells import CanonicalWeights, GruCell, GruModule
from ..families import keras_gru
from ..where import fill
from .common import iter_per_cell_arrays, per_cell_arrays

NAME = "keras"
RESET_AFTER = (False, True)
SUFFIXES = (".npz", ".h5", ".safetensors")


def unsupported(cell: GruCell) -> str | None:
    # Only the weights are stored; `GRU(activation=…, recurrent_activation=…)` is built from
    # the metadata's activations, and Keras takes any function there, but not one grutool
    # cannot name exactly.
    for activation in (cell.activation, cell.recurrent_activation):
        if not known(activation):
            return (f"{cell.name} uses an activation grutool could not identify ({activation}), "
                    "so no converted file can be checked to compute the same function")
    return None


def cell_arrays(cell: GruCell, w: CanonicalWeights) -> dict[str, np.ndarray]:
    """The cell as the Keras GRU family describes it; with the reset before the product there
    is no recurrent bias row, and `fill` folds those biases into the input ones (exact there)."""
    inputs, hidden = cell.input_size, cell.hidden_size
    bias_shape = (2, 3 * hidden) if cell.reset_after else (3 * hidden,)
    shapes = {"kernel": (inputs, 3 * hidden), "recurrent_kernel": (hidden, 3 * hidden),
              "bias": bias_shape}
    target = replace(cell, layout=keras_gru.KERAS_GRU, roles={role: role for role in shapes},
                     extra={"bias_shape": list(bias_shape)})
    return fill(keras_gru.where(target), w, shapes, w["W_hn"].dtype)


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    return per_cell_arrays(modules, weights, cell_prefix, cell_arrays)


def iter_arrays(modules: list[GruModule], weights_of: Callable[[GruCell], CanonicalWeights]
                ) -> Iterator[tuple[str, np.ndarray]]:
    """`from_canonical` one cell at a time, for a writer that streams."""
    return iter_per_cell_arrays(modules, weights_of, cell_prefix, cell_arrays)


def cell_prefix(module: GruModule, cell: GruCell) -> str:
    return cell.name


def cell_name(module: GruModule, cell: GruCell) -> str:
    """The name grutool gives this cell when it reads the written file back."""
    return cell.name
