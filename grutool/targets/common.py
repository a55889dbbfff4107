"""Pieces every target layout uses."""

from __future__ import annotations

import numpy as np

from ..cells import CanonicalWeights, GruCell


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
