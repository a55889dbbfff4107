"""Pieces every target layout uses."""

from __future__ import annotations

import numpy as np

from typing import Callable

from ..cells import CanonicalWeights, GruCell, GruModule


def bias(weights: CanonicalWeights, name: str, hidden: int) -> np.ndarray:
    """A canonical bias, zero where the source cell has none (absent means zero)."""
    if name in weights:
        return np.asarray(weights[name])
    return np.zeros(hidden, dtype=weights["W_hn"].dtype)


def unsupported_activations(cell: GruCell, target: str) -> str | None:
    if (cell.activation, cell.recurrent_activation) != ("tanh", "sigmoid"):
        return (f"{cell.name} uses activations {cell.activation}/{cell.recurrent_activation}; "
                f"{target} computes only tanh/sigmoid")
    return None


def per_cell_arrays(modules: list[GruModule], weights: dict[str, CanonicalWeights],
                    cell_prefix: Callable[[GruModule, GruCell], str],
                    cell_arrays: Callable[[GruCell, CanonicalWeights], dict[str, np.ndarray]]
                    ) -> dict[str, np.ndarray]:
    """`<prefix>/<key>` -> array for targets that keep each cell's tensors apart (Keras, TF 1)."""
    return {f"{cell_prefix(module, cell)}/{key}": array
            for module in modules for cell in module.cells
            for key, array in cell_arrays(cell, weights[cell.name]).items()}
