"""Writing named arrays as `.npz`, `.h5` or `.safetensors`, atomically.

The data goes to a temporary file in the target's own folder and is renamed into place only
when complete, so an interrupted or failed write leaves nothing behind and a reader never
sees half a file. An existing output is replaced only with `force`; an input never.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputError, UsageError
from .tensors import METADATA_KEY

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
    for item in inputs:  # an input at a URL is never a local output
        if isinstance(item, Path) and item.exists() and item.resolve() == target:
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
    # The name is chosen before the file is made, so that SIGINT or SIGTERM (which grutool
    # turns into SystemExit) handled the instant after it is made still removes it.
    temporary_path: Path | None = None
    try:
        for _ in range(TEMPORARY_NAME_ATTEMPTS):
            # 64 random bits: a name no other file in this folder has
            temporary_path = path.parent / f".{path.name}.{secrets.token_hex(8)}.partial"
            try:
                os.close(os.open(temporary_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                 | getattr(os, "O_BINARY", 0), 0o600))
                break
            except FileExistsError:
                temporary_path = None
        else:
            raise OutputError("cannot write: no free temporary name beside it", path)
        yield temporary_path
        # Made private (0600); an output gets the usual mode, as open() would.
        os.chmod(temporary_path, 0o666 & ~_umask())
        os.replace(temporary_path, path)
    except OSError as exc:
        if temporary_path is not None:
            temporary_path.unlink(missing_ok=True)
        raise OutputError(f"cannot write: {exc.strerror or exc}", path) from exc
    except BaseException:
        if temporary_path is not None:
            temporary_path.unlink(missing_ok=True)
        raise


TEMPORARY_NAME_ATTEMPTS = 100


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> None:
    """Write `arrays` and JSON `metadata` (stored under `__grutool__`) in the format of `path`."""
    names = list(arrays)
    with array_writer(path, header_hint(names, metadata)) as writer:
        for name in names:
            writer.add(name, arrays[name])
        # Not sorted: the metadata lists cells and modules in model order.
        writer.finish(metadata)


@contextmanager
def array_writer(path: Path, hint: int = 0,
                 factory: Callable[[Path, Path, int], ArrayWriter] | None = None
                 ) -> Iterator[ArrayWriter]:
    """A writer for `path` (format by its extension) that writes each array as it is added,
    into a temporary file renamed onto `path` when the block ends without error; an error,
    an interruption or SIGTERM leaves nothing (`atomic_path`). The block must call
    `finish(metadata)`. `hint`: about how many bytes the names and metadata take
    (`header_hint`), for formats that keep them before the data. `factory`: a writer for a
    format of a target's own (`targets.onnx.stream_writer`), made as `factory(temporary,
    path, hint)`."""
    if factory is None:
        factory = WRITERS[output_format(path)]
    with atomic_path(path) as temporary:
        writer = factory(temporary, path, hint)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        if not writer.finished:
            writer.abort()
            raise RuntimeError("array_writer: the block ended without finish()")


def header_hint(names: list[str], metadata: Any) -> int:
    """A generous estimate of the bytes a header listing `names` and `metadata` takes."""
    text = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return sum(len(name.encode("utf-8")) + 96 for name in names) + 2 * len(text) + 4096


# Arrays are written in blocks of about this many bytes: a view (a gate sliced out of a fused
# tensor) is copied one block at a time, never whole.
BLOCK_BYTES = 4 * 2**20


def _c_order_blocks(array: np.ndarray) -> Iterator[memoryview]:
    """The bytes of `array` in C order, block by block, without copying it whole."""
    if array.flags.c_contiguous:
        flat = array.reshape(-1).view(np.uint8) if array.size else array.reshape(-1)
        data = flat.data.cast("B") if array.size else memoryview(b"")
        for start in range(0, len(data), BLOCK_BYTES):
            yield data[start:start + BLOCK_BYTES]
        return
    rows = max(1, BLOCK_BYTES // max(array[0].nbytes, 1))
    if array[0].nbytes > BLOCK_BYTES:
        for row in array:
            yield from _c_order_blocks(row)
        return
    for start in range(0, array.shape[0], rows):
        block = np.ascontiguousarray(array[start:start + rows])
        yield block.reshape(-1).view(np.uint8).data.cast("B")


class ArrayWriter:
    """Writes named arrays one at a time into `path` (a temporary file), then the metadata.

    `label` is the output's real name, for messages. After `finish`, `replace_metadata`
    rewrites the metadata of the finished file in place (`convert` adds what its check of the
    written file measured)."""

    SUFFIX = ""

    def __init__(self, path: Path, label: Path, hint: int = 0):
        self.path, self.label = path, label
        self.names: list[str] = []
        self.finished = False

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.asarray(array)
        if array.dtype.name == "bfloat16" and self.SUFFIX != ".safetensors":
            # npz and HDF5 have no bfloat16: they would store opaque 2-byte records.
            raise OutputError(f"{name} is bfloat16, which {self.SUFFIX} cannot hold", self.label,
                              hint="write .safetensors instead")
        self._add(name, array)
        self.names.append(name)

    def finish(self, metadata: Mapping[str, Any] | str) -> None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        self._finish(text)
        self.finished = True

    def abort(self) -> None:
        """Close what is open; the temporary file is removed by atomic_path."""

    @contextmanager
    def proof_source(self) -> Iterator[Path]:
        """After `finish`: a path that reads as the written file does (the file itself)."""
        yield self.path

    def _add(self, name: str, array: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finish(self, metadata: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def replace_metadata(path: Path, metadata: Mapping[str, Any] | str) -> None:
        raise NotImplementedError  # pragma: no cover - abstract


class NpzWriter(ArrayWriter):
    """A zip of `.npy` members, stored (not compressed) as `np.savez` writes them; the
    metadata member `__grutool__.npy` comes last."""

    SUFFIX = ".npz"

    def __init__(self, path: Path, label: Path, hint: int = 0):
        super().__init__(path, label, hint)
        import zipfile

        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True)

    def _add(self, name: str, array: np.ndarray) -> None:
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as member:
            _write_npy(member, array)

    def _finish(self, metadata: str) -> None:
        self._add(METADATA_KEY, np.array(metadata))
        self._zip.close()

    def abort(self) -> None:
        try:
            self._zip.close()
        except (OSError, ValueError):
            pass

    @staticmethod
    def replace_metadata(path: Path, metadata: Mapping[str, Any] | str) -> None:
        """Rewrite the last member (the metadata) and the central directory after it."""
        import zipfile

        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        with zipfile.ZipFile(path, "a") as archive:
            last = archive.filelist[-1]
            if last.filename != f"{METADATA_KEY}.npy":
                raise OutputError("cannot update the metadata: it is not the last member", path)
            # Appending starts where the central directory began; starting at the old
            # member's header instead writes over it, and closing truncates what is left.
            archive.filelist.pop()
            del archive.NameToInfo[last.filename]
            archive.start_dir = last.header_offset
            with archive.open(last.filename, "w", force_zip64=True) as member:
                _write_npy(member, np.array(text))


def _write_npy(handle: Any, array: np.ndarray) -> None:
    """One `.npy`: its header, then the data in C order, written block by block."""
    from numpy.lib import format as npy

    header = {"descr": npy.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": tuple(array.shape)}
    npy.write_array_header_1_0(handle, header)
    if array.ndim == 0:
        handle.write(array.tobytes())
        return
    for block in _c_order_blocks(array):
        handle.write(block)


class H5Writer(ArrayWriter):
    """An HDF5 file, one contiguous dataset per array; the metadata is a root attribute."""

    SUFFIX = ".h5"

    def __init__(self, path: Path, label: Path, hint: int = 0):
        super().__init__(path, label, hint)
        import h5py

        self._file = h5py.File(path, "w")

    def _add(self, name: str, array: np.ndarray) -> None:
        dataset = self._file.create_dataset(name, shape=array.shape, dtype=array.dtype)
        if array.ndim == 0:
            dataset[()] = array
            return
        if array.size == 0:
            return
        rows = max(1, BLOCK_BYTES // max(array[0].nbytes, 1))
        for start in range(0, array.shape[0], rows):
            dataset[start:start + rows] = np.ascontiguousarray(array[start:start + rows])

    def _finish(self, metadata: str) -> None:
        self._file.attrs[METADATA_KEY] = metadata
        self._file.close()

    def abort(self) -> None:
        try:
            self._file.close()
        except (OSError, ValueError, RuntimeError):
            pass

    @staticmethod
    def replace_metadata(path: Path, metadata: Mapping[str, Any] | str) -> None:
        import h5py

        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        with h5py.File(path, "r+") as handle:
            handle.attrs[METADATA_KEY] = text


# safetensors dtype codes (https://github.com/huggingface/safetensors, format section)
SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}


class SafetensorsWriter(ArrayWriter):
    """`.safetensors`: an 8-byte header length, the JSON header, then the data.

    The header names every tensor's offsets, which are known only once the tensors are
    written: the data goes after a space reserved for the header (`hint`), and the header is
    written into it at the end, padded with spaces as the format allows (it pads to 8 bytes
    itself). Should the header outgrow the space, the data is moved once to make room.

    Not the `safetensors` package's `save_file`: it takes every array at once, so the whole
    output would be in memory, where this writer holds one cell (benchmarks/
    bench_safetensors.py, 4 cells of 2048 units, 384 MiB: peak RSS 418 MiB with `save_file`,
    129 MiB here; 5.4 s against 3.5 s)."""

    SUFFIX = ".safetensors"

    def __init__(self, path: Path, label: Path, hint: int = 0):
        super().__init__(path, label, hint)
        self._reserved = _align8(max(hint, 1024))
        self._handle = path.open("w+b")  # read too: the data may have to move (see below)
        self._handle.seek(8 + self._reserved)
        self._entries: dict[str, Any] = {}
        self._offset = 0

    def _add(self, name: str, array: np.ndarray) -> None:
        if array.dtype.name not in SAFETENSORS_DTYPES:
            raise UsageError(f"{self.label}: safetensors cannot hold {name} of dtype {array.dtype}")
        if name in self._entries or name == "__metadata__":
            raise OutputError(f"two arrays are named {name}", self.label)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        begin = self._offset
        if little.size:
            for block in _c_order_blocks(little if little.ndim else little.reshape(1)):
                self._handle.write(block)
                self._offset += len(block)
        self._entries[name] = {"dtype": SAFETENSORS_DTYPES[array.dtype.name],
                               "shape": list(array.shape), "data_offsets": [begin, self._offset]}

    def _finish(self, metadata: str) -> None:
        header = {"__metadata__": {METADATA_KEY: metadata}, **self._entries}
        self._handle.flush()
        _place_safetensors_header(self._handle, header, self._reserved)
        self._handle.close()

    def abort(self) -> None:
        self._handle.close()

    @staticmethod
    def replace_metadata(path: Path, metadata: Mapping[str, Any] | str) -> None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        with path.open("r+b") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length).decode("utf-8"))
            header.setdefault("__metadata__", {})[METADATA_KEY] = text
            _place_safetensors_header(handle, header, length)


def _align8(size: int) -> int:
    return size + (-size % 8)


def _place_safetensors_header(handle: Any, header: dict[str, Any], reserved: int) -> None:
    """Write `header` before the data, which starts at 8 + `reserved`."""
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if len(encoded) > reserved:
        grown = _align8(len(encoded))
        _move_tail(handle, 8 + reserved, grown - reserved)
        reserved = grown
    handle.seek(0)
    handle.write(struct.pack("<Q", reserved))
    handle.write(encoded + b" " * (reserved - len(encoded)))


def _move_tail(handle: Any, start: int, shift: int) -> None:
    """Move the file's bytes from `start` to its end `shift` bytes later, last block first."""
    end = handle.seek(0, 2)
    position = end
    while position > start:
        size = min(BLOCK_BYTES, position - start)
        position -= size
        handle.seek(position)
        block = handle.read(size)
        handle.seek(position + shift)
        handle.write(block)


WRITERS: dict[str, type[ArrayWriter]] = {
    ".npz": NpzWriter, ".h5": H5Writer, ".hdf5": H5Writer, ".safetensors": SafetensorsWriter,
}
