"""Flax `serialization.to_bytes` files (`.msgpack`), decoded without Flax or JAX.

The file is one msgpack map: the state dict (`{"params": {"Dense_0": {"kernel": …}}}`) with
arrays as msgpack extension type 1, whose payload is itself msgpack of
`(shape, dtype name, C-order bytes)`. Scalars are type 3 in the same encoding, complex
numbers type 2; arrays above 1 GiB are split into `{"__msgpack_chunked_array__": True,
"shape": …, "chunks": …}`. Tensor names join the state dict's keys with "/".

Needs the `msgpack` package (the `flax` extra); nothing is ever unpickled.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptFileError, InputError, MissingExtraError
from ..tensors import TensorInfo, TensorSource

FORMAT = "flax-msgpack"
SUFFIXES = (".msgpack", ".flax")
EXT_NDARRAY, EXT_COMPLEX, EXT_NPSCALAR = 1, 2, 3
CHUNKED_MARK = "__msgpack_chunked_array__"


def matches(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in SUFFIXES and path.is_file()


class _Array:
    """An array as stored: decoded lazily from its buffer."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, buffer: bytes):
        self.shape, self.dtype, self.buffer = shape, dtype, buffer

    def to_numpy(self) -> np.ndarray:
        return np.frombuffer(self.buffer, dtype=self.dtype).reshape(self.shape).copy()


class FlaxMsgpackSource(TensorSource):
    def __init__(self, path: Path):
        super().__init__(path=path, format=FORMAT, files=[path])
        try:
            import msgpack
        except ImportError as exc:
            raise MissingExtraError("reading Flax .msgpack files needs msgpack", "flax",
                                    path) from exc
        self._msgpack = msgpack
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the file: {exc.strerror or exc}", path) from exc
        try:
            tree = msgpack.unpackb(data, ext_hook=self._ext_hook, raw=False,
                                   strict_map_key=False)
        except CorruptFileError:
            raise
        except Exception as exc:  # msgpack's ExtraData, FormatError, StackError, ValueError …
            raise CorruptFileError(f"not a valid msgpack file: {exc}", path) from exc
        if not isinstance(tree, dict):
            raise CorruptFileError("a Flax state dict is a msgpack map; this file holds a "
                                   f"{type(tree).__name__}", path)
        self._arrays: dict[str, Any] = {}
        self._collect(tree)

    def _ext_hook(self, code: int, payload: bytes) -> Any:
        if code in (EXT_NDARRAY, EXT_NPSCALAR):
            return self._decode_array(payload)
        # complex scalars and unknown extensions carry no weights
        return None

    def _decode_array(self, payload: bytes) -> _Array:
        try:
            shape, dtype_name, buffer = self._msgpack.unpackb(payload, raw=True)
            dtype = _dtype(dtype_name.decode("ascii") if isinstance(dtype_name, bytes)
                           else str(dtype_name))
            shape = tuple(int(n) for n in shape)
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"an array entry is malformed: {exc}", self.path) from exc
        if any(n < 0 for n in shape) or not isinstance(buffer, bytes):
            raise CorruptFileError(f"an array entry has shape {list(shape)} or no data",
                                   self.path)
        if len(buffer) != math.prod(shape) * dtype.itemsize:
            raise CorruptFileError(f"an array {dtype.name} {list(shape)} holds {len(buffer)} "
                                   "bytes", self.path)
        return _Array(shape, dtype, buffer)

    def _collect(self, tree: dict) -> None:
        """Every array in `tree`, in the file's order. An explicit stack, not recursion: msgpack
        decodes maps nested a thousand deep, past Python's recursion limit."""
        stack: list[tuple[Any, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            if isinstance(node, dict) and node.get(CHUNKED_MARK) is True:
                node = self._unchunk(node, prefix)
            if isinstance(node, _Array):
                name = prefix or "array"
                self._arrays[name] = node
                self.infos[name] = TensorInfo(name, node.shape, node.dtype.name)
            elif isinstance(node, dict):
                stack.extend(reversed([(value, f"{prefix}/{key}" if prefix else str(key))
                                       for key, value in node.items()]))

    def _unchunk(self, node: dict, name: str) -> _Array:
        try:
            shape = tuple(int(node["shape"][str(i)]) for i in range(len(node["shape"])))
            chunks = [node["chunks"][str(i)] for i in range(len(node["chunks"]))]
            if not chunks or not all(isinstance(c, _Array) for c in chunks):
                raise ValueError("chunks are not arrays")
            dtype = chunks[0].dtype
            buffer = b"".join(c.buffer for c in chunks)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptFileError(f"chunked array {name!r} is malformed: {exc}",
                                   self.path) from exc
        if len(buffer) != math.prod(shape) * dtype.itemsize:
            raise CorruptFileError(f"chunked array {name!r} does not fill {list(shape)}",
                                   self.path)
        return _Array(shape, dtype, buffer)

    def _read(self, name: str) -> np.ndarray:
        return self._arrays[name].to_numpy()


def _dtype(name: str) -> np.dtype:
    """Only plain numeric dtypes: the format stores no objects, and none are accepted."""
    import ml_dtypes

    if hasattr(ml_dtypes, name) and name.startswith(("bfloat16", "float8", "int4", "uint4")):
        return np.dtype(getattr(ml_dtypes, name))
    dtype = np.dtype(name)
    if dtype.kind not in "biufc" or dtype.fields is not None:
        raise ValueError(f"dtype {name!r} is not numeric")
    return dtype


def open(path: Path) -> FlaxMsgpackSource:  # noqa: A001 - the reader protocol's name
    return FlaxMsgpackSource(path)
