"""Fused gate blocks: the one operation every layout shares, in both directions.

A fused tensor holds equal blocks, one per gate, in a framework's own order ("rzn" for
PyTorch, "zrn" for Keras and ONNX, "rz" for TF 1's gates kernel). A matrix is stored either `x @ W` (gates side by side
along the columns: TF, Keras, Flax) or `W @ x` (gates stacked along the rows: PyTorch, ONNX).
"""

from __future__ import annotations

import numpy as np

from .cells import CanonicalWeights

X_AT_W, W_AT_X = "x@W", "W@x"


def split_gates(fused: np.ndarray, order: str, prefix: str,
                orientation: str | None = None) -> CanonicalWeights:
    """`{prefix + gate: block}` for the blocks of `fused`; a matrix comes back in
    x @ W orientation whatever `orientation` it was stored in, a bias as it is."""
    axis = 0 if fused.ndim == 1 or orientation == W_AT_X else 1
    hidden = fused.shape[axis] // len(order)
    blocks = {}
    for index, gate in enumerate(order):
        part = slice(index * hidden, (index + 1) * hidden)
        block = fused[part] if axis == 0 else fused[:, part]
        blocks[prefix + gate] = block.T if orientation == W_AT_X else block
    return blocks


def fuse_gates(weights: CanonicalWeights, order: str, prefix: str,
               orientation: str | None = None) -> np.ndarray:
    """The inverse of `split_gates`: a bias absent from `weights` is zeros."""
    hidden = weights["W_hn"].shape[0]
    blocks = [weights.get(prefix + gate) for gate in order]
    if prefix.startswith("b_"):
        dtype = weights["W_hn"].dtype
        return np.concatenate([np.zeros(hidden, dtype) if b is None else b for b in blocks])
    fused = np.concatenate(blocks, axis=1)
    return np.ascontiguousarray(fused.T) if orientation == W_AT_X else fused
