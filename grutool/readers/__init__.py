"""Input formats. One module per format, each with:

    FORMAT: str                               the contract's `format` name
    matches(path, head) -> bool               cheap: extension, magic bytes, a directory listing
    open(path) -> TensorSource                validate, list tensors; read data lazily

`open_source` tries them in order and opens the first that matches; heavy libraries are
imported inside `open`, never at import time.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ..errors import InputError, UnsupportedFormatError
from ..tensors import TensorSource

# Order matters where two formats share a container (a zip is .npz, .keras or .pt).
READER_MODULES = [
    "tf_checkpoint",
    "npz",
    "keras_archive",
    "pytorch",
    "hdf5",
    "safetensors",
    "onnx",
    "flax_msgpack",
]
HEAD_BYTES = 64


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise


def read_head(path: Path) -> bytes:
    if not path.is_file():
        return b""
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", path) from exc


def open_source(path: str | Path, reader: str = "auto") -> TensorSource:
    """Open `path` with the first reader that recognises it.

    `reader` chooses how TF checkpoints are read: "auto" (built-in, TensorFlow as a fallback),
    "builtin" or "tensorflow"; other formats ignore it.
    """
    path = Path(path)
    if not path.exists() and not _is_tf_prefix(path):
        raise InputError("no such file or directory", path)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("the file is empty", path)
    head = read_head(path)
    for name in READER_MODULES:  # imported one by one: opening a file loads only its reader
        module = _load(name)
        if module is not None and module.matches(path, head):
            if module.FORMAT == "tf-checkpoint":
                return module.open(path, reader=reader)
            return module.open(path)
    what = "a directory with no checkpoint in it" if path.is_dir() else "not a format grutool reads"
    raise UnsupportedFormatError(
        what, path, hint="known: TF checkpoints, .npz, .h5, .keras, .safetensors, .pt/.pth, .onnx")


def _is_tf_prefix(path: Path) -> bool:
    return path.with_name(path.name + ".index").is_file()
