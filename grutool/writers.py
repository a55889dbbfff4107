"""Writing named arrays as `.npz`, `.h5` or `.safetensors`, atomically.

The data goes to a temporary file in the target's own folder and is renamed into place only
when complete, so an interrupted or failed write leaves nothing behind and a reader never
sees half a file. An existing output is replaced only with `force`; an input never.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from .errors import OutputError, UsageError

METADATA_KEY = "__grutool__"
SUFFIXES = (".npz", ".h5", ".hdf5", ".safetensors")


def output_format(path: Path, allowed: tuple[str, ...] = SUFFIXES) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise UsageError(f"{path}: cannot tell the output format from {suffix or 'no extension'!r}; "
                         f"use one of {', '.join(allowed)}")
    return suffix


def check_output(path: Path, force: bool, inputs: list[Path]) -> None:
    """Refuse before any work is done: an input as output, an existing file without force."""
    target = path.resolve()
    for item in inputs:
        if item.exists() and item.resolve() == target:
            raise OutputError("the output would overwrite an input file", path)
    if path.is_dir():
        raise OutputError("the output is a directory", path)
    if path.exists() and not force:
        raise OutputError("the output exists", path, hint="use --force to replace it")
    if not path.parent.is_dir():
        raise OutputError("the output's folder does not exist", path)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds.

    Any OSError on the way (no folder, no space, no permission) becomes an OutputError
    naming `path`, and the temporary file is removed whatever happened.
    """
    # A SIGTERM or Ctrl-C between creating the temporary file and the `try` that removes it
    # would leave it behind: hold them back until the file is in the `try`'s care.
    held = _hold_interruptions()
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                             dir=path.parent)
        os.close(handle)
    except OSError as exc:
        _release_interruptions(held)
        raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    temporary_path = Path(temporary)
    try:
        _release_interruptions(held)
        yield temporary_path
        # mkstemp makes the file private (0600); an output gets the usual mode, as open() would.
        os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, path)
    except OSError as exc:
        temporary_path.unlink(missing_ok=True)
        raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


_INTERRUPTIONS = {signal.SIGTERM, signal.SIGINT}


def _hold_interruptions() -> set | None:
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows: nothing to hold
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTIONS)


def _release_interruptions(previous: set | None) -> None:
    # A signal that arrived meanwhile is delivered here, inside the caller's `try`.
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> None:
    """Write `arrays` and JSON `metadata` (stored under `__grutool__`) in the format of `path`."""
    suffix = output_format(path)
    if suffix != ".safetensors":
        for name, array in arrays.items():
            if array.dtype.name == "bfloat16":
                # npz and HDF5 have no bfloat16: they would store opaque 2-byte records.
                raise OutputError(f"{name} is bfloat16, which {suffix} cannot hold", path,
                                  hint="write .safetensors instead")
    with atomic_path(path) as temporary:
        # Not sorted: the metadata lists cells and modules in model order.
        WRITERS[suffix](temporary, arrays, json.dumps(metadata))


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray], metadata: str) -> None:
    with path.open("wb") as handle:
        np.savez(handle, **{METADATA_KEY: np.array(metadata)}, **arrays)


def _write_h5(path: Path, arrays: Mapping[str, np.ndarray], metadata: str) -> None:
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs[METADATA_KEY] = metadata
        for name, array in arrays.items():
            handle.create_dataset(name, data=array)


# safetensors dtype codes (https://github.com/huggingface/safetensors, format section)
SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}


def _write_safetensors(path: Path, arrays: Mapping[str, np.ndarray], metadata: str) -> None:
    header: dict[str, Any] = {"__metadata__": {METADATA_KEY: metadata}}
    offset = 0
    blobs = []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype.name not in SAFETENSORS_DTYPES:
            raise UsageError(f"{path}: safetensors cannot hold {name} of dtype {array.dtype}")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[array.dtype.name],
                        "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the spec aligns the data to 8 bytes
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for blob in blobs:
            handle.write(blob)


WRITERS: dict[str, Callable[[Path, Mapping[str, np.ndarray], str], None]] = {
    ".npz": _write_npz, ".h5": _write_h5, ".hdf5": _write_h5, ".safetensors": _write_safetensors,
}
