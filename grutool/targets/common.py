"""Pieces every target layout uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
    return dict(iter_per_cell_arrays(modules, lambda cell: weights[cell.name], cell_prefix,
                                     cell_arrays))


def iter_per_cell_arrays(modules: list[GruModule],
                         weights_of: Callable[[GruCell], CanonicalWeights],
                         cell_prefix: Callable[[GruModule, GruCell], str],
                         cell_arrays: Callable[[GruCell, CanonicalWeights], dict[str, np.ndarray]]
                         ) -> Iterator[tuple[str, np.ndarray]]:
    """`per_cell_arrays` one cell at a time, each cell's weights asked for when it is reached."""
    for module in modules:
        for cell in module.cells:
            arrays = cell_arrays(cell, weights_of(cell))
            prefix = cell_prefix(module, cell)
            while arrays:
                key = next(iter(arrays))
                yield f"{prefix}/{key}", arrays.pop(key)  # the caller holds the only reference
