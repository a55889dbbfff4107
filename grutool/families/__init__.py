"""GRU layout families: each module recognises its cells from tensor names and shapes and
turns a cell's fused tensors into the twelve canonical arrays.

A family module provides:

    LAYOUTS: tuple[str, ...]                    layout names it owns (the contract's `layout`)
    recognise(source, unclaimed) -> Recognition pure function of names, shapes (and configs)
    to_canonical(cell, read) -> CanonicalWeights read(name) returns one tensor as numpy

Families run in the order below; a tensor claimed by one is not offered to the next, so a
more specific family (CudnnCompatibleGRUCell) comes before a more general one (GRUCell).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Callable

from ..cells import CanonicalWeights, GruCell, Recognition

if TYPE_CHECKING:
    import numpy as np

    from ..tensors import TensorSource

FAMILY_MODULES = [
    "canonical",
    "tf_cudnn_compatible_gru_cell",
    "tf_gru_block_cell",
    "tf_gru_cell",
    "keras_gru",
    "pytorch_gru",
    "onnx_gru",
    "flax_gru",
]


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        # A family not written yet is simply absent; a missing dependency inside one is a bug.
        if exc.name == f"{__name__}.{name}":
            return None
        raise


def families() -> list[ModuleType]:
    return [module for module in map(_load, FAMILY_MODULES) if module is not None]


def recognise(source: "TensorSource") -> Recognition:
    """Every GRU cell in `source`, with warnings about tensors that look like half a cell."""
    result = Recognition()
    for family in families():
        unclaimed = [info for info in source.tensors() if info.name not in result.claimed]
        found = family.recognise(source, unclaimed)
        result.cells.extend(found.cells)
        result.warnings.extend(found.warnings)
        result.claimed |= found.claimed
    return result


def known_layouts() -> list[str]:
    return [layout for family in families() for layout in family.LAYOUTS]


def family_for(layout: str) -> ModuleType:
    for family in families():
        if layout in family.LAYOUTS:
            return family
    raise KeyError(f"no GRU family owns the layout {layout!r}")


def to_canonical(cell: GruCell, read: Callable[[str], "np.ndarray"]) -> CanonicalWeights:
    return family_for(cell.layout).to_canonical(cell, read)
