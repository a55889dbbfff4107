"""Output layouts for `convert`. One module per target framework, each with:

    NAME: str                         the contract's --to value
    RESET_AFTER: tuple[bool, ...]     reset placements the target's GRU can compute
    SUFFIXES: tuple[str, ...]         output file extensions it writes
    unsupported(cell) -> str | None   why a cell cannot be expressed at all (e.g. activations)
    from_canonical(modules, weights) -> dict[str, np.ndarray]
                                      the target's tensors; weights maps cell name -> canonical
    write(path, arrays, metadata, modules)   only where the target has a format of its own
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UsageError

TARGET_MODULES = {"pytorch": "pytorch", "keras": "keras", "onnx": "onnx", "tf": "tf"}


def target(name: str) -> ModuleType:
    if name not in TARGET_MODULES:
        raise UsageError(f"unknown target {name!r}; choose one of {', '.join(TARGET_MODULES)}")
    return importlib.import_module(f"{__name__}.{TARGET_MODULES[name]}")


def names() -> list[str]:
    return list(TARGET_MODULES)
