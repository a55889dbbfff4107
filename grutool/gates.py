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
               orientation: str | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """The inverse of `split_gates`: a bias absent from `weights` is zeros. `out`: where to
    write the result (e.g. one direction's slot of a stacked tensor)."""
    hidden = weights["W_hn"].shape[0]
    blocks = [weights.get(prefix + gate) for gate in order]
    if prefix.startswith("b_"):
        dtype = weights["W_hn"].dtype
        return np.concatenate([np.zeros(hidden, dtype) if b is None else b for b in blocks],
                              out=out)
    if orientation != W_AT_X:
        return np.concatenate(blocks, axis=1, out=out)
    # W @ x: each block transposed straight into its rows of the result (one copy, not a
    # concatenation and then a transposed copy of it).
    shape = (sum(b.shape[1] for b in blocks), blocks[0].shape[0])
    fused = np.empty(shape, np.result_type(*blocks)) if out is None else out
    row = 0
    for block in blocks:
        c_order_copy(block.T, out=fused[row:row + block.shape[1]])
        row += block.shape[1]
    return fused


# Tiles of this many rows and columns: a transposed copy made tile by tile reads and writes
# memory that stays in the cache, 2-4x faster than NumPy's copy of a transposed view.
TILE = 256


def c_order_copy(array: np.ndarray, dtype: "np.typing.DTypeLike | None" = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """A C-contiguous copy of `array` (into `out` if given), tile by tile where it is a
    2-D array stored column by column (a transposed view)."""
    if out is None:
        out = np.empty(array.shape, dtype or array.dtype)
    if array.ndim != 2 or not array.flags.f_contiguous or array.flags.c_contiguous:
        out[...] = array
        return out
    rows, columns = array.shape
    for top in range(0, rows, TILE):
        for left in range(0, columns, TILE):
            out[top:top + TILE, left:left + TILE] = array[top:top + TILE, left:left + TILE]
    return out
