"""GRU layout families: each module recognises its cells from tensor names and shapes and
turns a cell's fused tensors into the twelve canonical arrays.

A family module provides:

    LAYOUTS: tuple[str, ...]                    layout names it owns (the contract's `layout`)
    recognise(source, unclaimed, hints)         pure function of names, shapes (and configs)
                                  -> Recognition    `hints`: RecognitionHints or None
    where(cell) -> {name: Where}                 where each canonical array lives in the file
                                                (grutool.where); reading applies it

Families run in the order below; a tensor claimed by one is not offered to the next, so a
more specific family (CudnnCompatibleGRUCell) comes before a more general one (GRUCell).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from ..cells import MERGES, CanonicalWeights, GruCell, Recognition, RecognitionHints
from ..errors import CorruptFileError

if TYPE_CHECKING:
    import numpy as np

    from ..tensors import TensorSource
    from ..where import Where

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


@functools.cache
def families() -> tuple[ModuleType, ...]:
    # Every module listed exists: an import error in one is a bug and surfaces here. Cached:
    # a cell's family is looked up for every tensor read.
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in FAMILY_MODULES)


def recognise(source: TensorSource, hints: RecognitionHints | None = None) -> Recognition:
    """Every GRU cell in `source`, with warnings about tensors that look like half a cell,
    placed in its module as the file says (grutool's own `__grutool__` metadata included).
    `hints`: what the user or another file says beside `source` (see RecognitionHints)."""
    result = Recognition()
    for family in families():
        unclaimed = [info for info in source.tensors() if info.name not in result.claimed]
        result.extend(family.recognise(source, unclaimed, hints))
    for cell in result.cells:
        if cell.input_size <= 0 or cell.hidden_size <= 0:
            raise CorruptFileError(f"{cell.name} looks like a {cell.layout} cell of "
                                   f"{cell.input_size} inputs and {cell.hidden_size} units; "
                                   "a GRU cell cannot have zero of either", source.path)
    _unique_names(result)
    _apply_metadata(source, result)
    return result


def _unique_names(result: Recognition) -> None:
    """Two families (or two scopes) may name cells alike; a name must pick one cell."""
    seen: dict[str, int] = {}
    for cell in result.cells:
        count = seen.get(cell.name, 0)
        seen[cell.name] = count + 1
        if count:
            renamed = f"{cell.name}#{count + 1}"
            result.warnings.append(f"two cells are named {cell.name}; the second is "
                                   f"called {renamed} here")
            if cell.module == cell.name:
                cell.module = renamed
            cell.name = renamed


# The structure grutool's metadata restores for cells whose tensors cannot carry it (a
# Keras target's per-cell kernels, a TF target's variables, a split file).
_PLACEMENT = ("module", "layer", "direction")
_BEHAVIOUR = ("activation", "recurrent_activation", "outputs_time_reversed")


def _apply_metadata(source: TensorSource, result: Recognition) -> None:
    """Give each cell the structure the file's `__grutool__` metadata records for it (cells
    keyed by their name in this file: `target_name` for a conversion, else the key), and the
    modules their merge and model order. A cell whose family read its structure from the
    file itself (`extra["structure_from_file"]`: placement, activations, output order) keeps
    it; a disagreement is warned."""
    from .canonical import read_metadata, valid_facts

    metadata = read_metadata(source)
    described = metadata.get("cells")
    if not isinstance(described, dict) or not result.cells:
        return
    by_name: dict[str, dict] = {}
    for key, facts in described.items():
        if isinstance(facts, dict):
            target = facts.get("target_name", key)
            by_name[str(target)] = valid_facts(str(key), facts, result.warnings)
    applied = False
    for cell in result.cells:
        facts = by_name.get(cell.name)
        if not facts:
            continue
        own = bool(cell.extra.get("structure_from_file"))
        for key in (*_PLACEMENT, *_BEHAVIOUR):
            if key not in facts or facts[key] == getattr(cell, key):
                continue
            if own:
                result.warnings.append(f"{cell.name}: the grutool metadata says {key} "
                                       f"{facts[key]!r} but the file {getattr(cell, key)!r}; "
                                       "kept the file's")
                continue
            setattr(cell, key, facts[key])
            applied = True
    modules = metadata.get("modules")
    if not isinstance(modules, list):
        return
    order: dict[str, int] = {}
    for entry in modules:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        name = entry["name"]
        order.setdefault(name, len(order))
        merge = entry.get("merge")
        if merge in MERGES and name not in result.merges:
            result.merges[name] = merge
        if entry.get("layer_order") == "names":
            result.order_assumed.add(name)
    if applied or order:
        # The metadata lists modules in model order; cells it does not describe keep theirs.
        position = {cell.name: index for index, cell in enumerate(result.cells)}
        result.cells.sort(key=lambda cell: (order.get(cell.module, len(order)),
                                            position[cell.name]))


def known_layouts() -> list[str]:
    return [layout for family in families() for layout in family.LAYOUTS]


def family_for(layout: str) -> ModuleType:
    for family in families():
        if layout in family.LAYOUTS:
            return family
    raise KeyError(f"no GRU family owns the layout {layout!r}")


def where(cell: GruCell) -> dict[str, Where]:
    """Where each of the cell's canonical arrays lives in the file (see grutool.where)."""
    return family_for(cell.layout).where(cell)


def to_canonical(cell: GruCell, read: Callable[[str], np.ndarray]) -> CanonicalWeights:
    """The cell's canonical arrays, read by the same description `explain` prints."""
    family = family_for(cell.layout)
    if hasattr(family, "where"):
        from ..where import read_all

        return read_all(family.where(cell), read)
    return family.to_canonical(cell, read)
