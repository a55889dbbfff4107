"""grutool: find, name, split and convert the fused GRU weights in checkpoints.

    >>> import grutool
    >>> checkpoint = grutool.open_checkpoint("model.ckpt")
    >>> for cell in checkpoint.cells:
    ...     weights = checkpoint.canonical(cell)      # {"W_ir": ..., "b_hn": ...}
    >>> grutool.split("model.ckpt", "weights.npz")
    >>> grutool.convert_file("model.keras", "pytorch", "gru.safetensors")
    >>> grutool.verify_files("model.keras", "gru.safetensors").ok
    True

The names below are imported on first use (PEP 562), so that `grutool --help`, `--version`
and shell completion, which need none of them, start without importing NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "Checkpoint": ".api",
    "convert_file": ".api",
    "inspect_report": ".api",
    "open_checkpoint": ".api",
    "split": ".api",
    "verify_files": ".api",
    "GrutoolError": ".errors",
}

__all__ = ["Checkpoint", "GrutoolError", "convert_file", "inspect_report", "open_checkpoint",
           "split", "verify_files", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .api import Checkpoint, convert_file, inspect_report, open_checkpoint, split, verify_files
    from .errors import GrutoolError
