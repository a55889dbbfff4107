"""Keras `GRU` weights per cell: `<cell>/kernel` [I, 3H] (z | r | h), `recurrent_kernel`
[H, 3H], `bias`: [3H] for `reset_after=False`, [2, 3H] (input row, recurrent row) for True.

Keras computes both reset placements, so every tanh/sigmoid source converts exactly; the
cell's own placement is kept, and `GRU(H, reset_after=…)` must be built to match.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule
from ..activations import known
from ..gates import X_AT_W, fuse_gates
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
    input_bias, recurrent_bias = fuse_gates(w, "zrn", "b_i"), fuse_gates(w, "zrn", "b_h")
    if cell.reset_after:
        fused_bias = np.stack([input_bias, recurrent_bias])
    else:
        # With the reset before the product every recurrent bias sits outside it: folding
        # it into the input bias is exact.
        fused_bias = (input_bias + recurrent_bias).astype(input_bias.dtype)
    return {"kernel": fuse_gates(w, "zrn", "W_i", X_AT_W),
            "recurrent_kernel": fuse_gates(w, "zrn", "W_h", X_AT_W), "bias": fused_bias}


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
