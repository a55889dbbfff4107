"""Pieces every target layout uses."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule


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
