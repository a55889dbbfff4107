"""Where each canonical array lives in a file: one tensor, a slice per axis, then an optional
reshape and transpose.

A family describes a cell once, as `where(cell) -> {canonical name: Where}`; the same
description is applied to read the arrays (`split`, `convert`, every check) and printed by
`grutool explain`, so what grutool says it reads is what it reads. Applying `index`, then
`reshape`, then `transpose` to the raw tensor gives the canonical array bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# One entry per axis of the tensor: an integer picks one position (the axis is dropped), a
# pair (start, stop) keeps a range.
Index = tuple[int | tuple[int, int], ...]


@dataclass(frozen=True)
class Where:
    tensor: str
    index: Index
    reshape: tuple[int, ...] | None = None
    transpose: bool = False

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if raw.ndim != len(self.index):
            raise ValueError(f"{self.tensor} has {raw.ndim} axes, the description "
                             f"{len(self.index)}")
        part = raw[self.selection()]
        if self.reshape is not None:
            part = part.reshape(self.reshape)
        return part.T if self.transpose else part

    def selection(self) -> tuple[int | slice, ...]:
        return tuple(item if isinstance(item, int) else slice(*item) for item in self.index)

    def expression(self, tensor: str | None = None) -> str:
        """`tensor[0:3, 4:8]`, `.reshape(4, 3)`, `.T`, as a person would write it; `tensor`
        replaces the tensor's name (e.g. by the code that loads it)."""
        parts = ", ".join(str(item) if isinstance(item, int) else f"{item[0]}:{item[1]}"
                          for item in self.index)
        text = f"{self.tensor if tensor is None else tensor}[{parts}]"
        if self.reshape is not None:
            text += f".reshape({', '.join(map(str, self.reshape))})"
        return text + (".T" if self.transpose else "")

    def to_json(self) -> dict[str, Any]:
        return {"tensor": self.tensor,
                "index": [item if isinstance(item, int) else list(item) for item in self.index],
                "reshape": list(self.reshape) if self.reshape is not None else None,
                "transpose": self.transpose}


def whole(tensor: str, shape: tuple[int, ...]) -> Where:
    """The whole tensor, as it is."""
    return Where(tensor, tuple((0, n) for n in shape))


def gate_blocks(tensor: str, shape: tuple[int, ...], order: str, prefix: str,
                stored_w_at_x: bool = False, fixed: tuple[int, ...] = (),
                offset: int = 0) -> dict[str, Where]:
    """One `Where` per gate of a fused tensor holding equal blocks in `order` ("rzn", "zrn",
    "rz"): along its last axis for an `x @ W` matrix or a bias, along its first (matrix) axis
    when stored `W @ x` (then transposed back). `fixed` picks leading positions first (an ONNX
    direction index, a Keras bias row); `shape` is the part after them, whose blocks start
    `offset` into the fused axis (the recurrent half of a bias that holds both)."""
    axis = 0 if stored_w_at_x or len(shape) == 1 else len(shape) - 1
    size = shape[axis] // len(order)
    blocks = {}
    for position, gate in enumerate(order):
        index = [(0, n) for n in shape]
        index[axis] = (offset + position * size, offset + (position + 1) * size)
        blocks[prefix + gate] = Where(tensor, (*fixed, *index),
                                      transpose=stored_w_at_x and len(shape) == 2)
    return blocks


def read_all(wheres: dict[str, Where], read: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Apply every description, reading each tensor once."""
    raw: dict[str, np.ndarray] = {}
    arrays = {}
    for name, where in wheres.items():
        if where.tensor not in raw:
            raw[where.tensor] = read(where.tensor)
        arrays[name] = where.apply(raw[where.tensor])
    return arrays


def fill(wheres: dict[str, Where], weights: dict[str, np.ndarray],
         shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype) -> dict[str, np.ndarray]:
    """The inverse of `read_all`: a layout's tensors (`shapes`, by the names `wheres` use)
    from canonical arrays, so a target writes with the very description its family reads.

    A recurrent bias the layout has no place for is added to its input twin: exact for r and
    z, and for n when the reset acts before the recurrent product (a reset-after cell with a
    candidate recurrent bias is what `convert` calls inexact). An absent array is zero.
    """
    import numpy as np

    values = dict(weights)
    for gate in "rzn":
        recurrent = values.get(f"b_h{gate}")
        if recurrent is not None and f"b_h{gate}" not in wheres:
            base = values.get(f"b_i{gate}")
            values[f"b_i{gate}"] = recurrent if base is None else (base + recurrent).astype(dtype)
    tensors = {name: np.zeros(shape, dtype) for name, shape in shapes.items()}
    for name, where in wheres.items():
        value = values.get(name)
        if value is None:
            continue
        view = tensors[where.tensor][where.selection()]
        view[...] = (value.T if where.transpose else value).reshape(view.shape)
    return tensors
