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
from typing import TypeAlias

from ..errors import InputError, UnsupportedFormatError
from ..remote import RemotePath, clear_caches, location
from ..tensors import TensorSource

# What a reader opens: a local file, or a file at a URL with the same interface (remote.py).
Location: TypeAlias = "Path | RemotePath"

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


def _load(name: str) -> ModuleType:
    # Every module listed exists; one that fails to import is a bug to surface, not a format
    # to skip (optional packages such as onnx are imported by the readers when they open).
    return importlib.import_module(f"{__name__}.{name}")


def read_head(path: Location) -> bytes:
    if not path.is_file():
        return b""
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", path) from exc


def open_source(path: str | Location, reader: str = "auto") -> TensorSource:
    """Open `path` with the first reader that recognises it.

    `reader` chooses how TF checkpoints are read: "auto" (built-in, TensorFlow as a fallback),
    "builtin" or "tensorflow"; other formats ignore it.
    """
    path = location(path)
    if isinstance(path, RemotePath):
        # What is known of a URL holds for one opening: a checkpoint rewritten in place
        # between two openings (same size, new weights) must not be read from old blocks.
        clear_caches()
    if not path.exists() and not _is_tf_prefix(path):
        raise InputError("no such file or directory", path)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("the file is empty", path)
    head = read_head(path)
    for name in READER_MODULES:  # imported one by one: opening a file loads only its reader
        module = _load(name)
        if module.matches(path, head):
            if module.FORMAT == "tf-checkpoint":
                return module.open(path, reader=reader)
            return module.open(path)
    if path.is_dir():
        # A folder holding one model file (model.keras) stands for it; several are named.
        candidates = checkpoints_in(path)
        if len(candidates) == 1:
            return open_source(candidates[0], reader=reader)
        if candidates:
            more = len(candidates) - MAX_NAMED
            raise InputError(
                f"a directory of {len(candidates)} checkpoints: "
                + ", ".join(c.name for c in candidates[:MAX_NAMED])
                + (f" and {more} more" if more > 0 else ""), path,
                hint="name one of them; inspect and check read them all with --every-checkpoint")
    what = "a directory with no checkpoint in it" if path.is_dir() else "not a format grutool reads"
    raise UnsupportedFormatError(
        what, path, hint="known: TF checkpoints, .npz, .h5, .keras, .safetensors, .pt/.pth, .onnx")


# Candidates named in an error before the list is cut short.
MAX_NAMED = 5


def checkpoints_in(directory: str | Location) -> list[Location]:
    """Every checkpoint directly in `directory`, as paths `open_source` opens: each TF
    checkpoint prefix (a training run's `model.ckpt-N`, numbers compared as numbers), each
    file a reader recognises and each SavedModel directory. Other subdirectories are not
    entered; the parts of a TF checkpoint (`.index`, `.data-*`, the `checkpoint` state file)
    are one checkpoint, not several."""
    from ..cells import natural_key

    directory = location(directory)
    tf_checkpoint = _load("tf_checkpoint")
    found: dict[Location, None] = {}
    try:
        entries: list[Location] = sorted(directory.iterdir(), key=lambda p: natural_key(p.name))
    except OSError as exc:
        raise InputError(f"cannot list the directory: {exc.strerror or exc}", directory) from exc
    for entry in entries:
        if entry.is_dir() and (entry / "variables" / "variables.index").is_file():
            found[entry] = None  # a SavedModel directory is one model
            continue
        if not entry.is_file() or entry.name == "checkpoint":
            continue
        if entry.name.endswith(".index") or tf_checkpoint.is_data_shard(entry):
            prefix = tf_checkpoint.resolve_prefix(entry)
            if prefix.with_name(prefix.name + ".index").is_file():
                found[prefix] = None
            continue
        try:
            head = read_head(entry)
        except InputError:
            continue
        if entry.stat().st_size and any(
                module.matches(entry, head) for module in map(_load, READER_MODULES)):
            found[entry] = None
    return sorted(found, key=lambda p: natural_key(p.name))


def expand_directories(paths: list[str | Location]) -> list[Location]:
    """`paths` with each directory that holds checkpoints replaced by all of them
    (`checkpoints_in`), in order; other paths (and a directory that is one checkpoint, such
    as a SavedModel) as given."""
    expanded: list[Location] = []
    for given in paths:
        path = location(given)
        found = checkpoints_in(path) if path.is_dir() else []
        expanded.extend(found or [path])
    return expanded


def _is_tf_prefix(path: Location) -> bool:
    return path.with_name(path.name + ".index").is_file()
