"""The tensors of a `torch.save` zip listed without torch, for a file at a URL.

`torch.load` reads every storage of a file before it returns (a URL cannot be mapped), so a
checkpoint read through it fetches all of its bytes to use a few GRU tensors. Here the
archive's `data.pkl` is read by a restricted unpickler that knows only what a state dict is
made of: containers, `OrderedDict`, `torch._utils._rebuild_tensor_v2` and the storage types.
It builds no tensor and calls no function of the file: each `_rebuild_tensor_v2` becomes a
`TensorRecord` (which storage record, dtype, offset, shape, stride), and any other global the
pickle names is refused, as torch's own weights-only unpickler refuses it. A tensor's bytes
are then read from its storage record in the archive with one range request.

Local files are still read by `torch.load` (memory-mapped, lazy): this module is the URL's
path, checked against torch.load on every fixture.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

# torch's storage types (the class a storage is pickled as) -> NumPy dtype name.
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "UInt16Storage": "uint16", "UInt32Storage": "uint32", "UInt64Storage": "uint64",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
}
# torch.dtype objects a checkpoint's plain values may hold (they are only names here).
TORCH_DTYPE_NAMES = {"float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
                     "int8", "uint8", "bool", "complex64", "complex128", "float", "double",
                     "half", "long", "int", "short"}


class RefusedPickle(Exception):
    """The pickle names something besides tensors and containers."""


# slots: a crafted pickle's BUILD cannot give these records attributes of its choosing.
@dataclass(frozen=True, slots=True)
class StorageRecord:
    key: str
    dtype: str
    numel: int


@dataclass(frozen=True, slots=True)
class TensorRecord:
    """Where a tensor's elements are: `offset`, `shape` and `stride` count elements of its
    storage, the record `data/<storage.key>` of the archive."""

    storage: StorageRecord
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> str:
        return self.storage.dtype

    def element_span(self) -> tuple[int, int]:
        """First and one-past-last element of the storage that the tensor reads."""
        if any(n == 0 for n in self.shape):
            return self.offset, self.offset
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        return self.offset, last + 1


class _StorageType:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
                       *unused: Any) -> TensorRecord:
    if not isinstance(storage, StorageRecord):
        raise RefusedPickle("a tensor whose storage is not a storage record")
    if not (isinstance(storage_offset, int) and storage_offset >= 0
            and isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
            and all(isinstance(n, int) and n >= 0 for n in size)
            and all(isinstance(s, int) and s >= 0 for s in stride)):
        raise RefusedPickle("a tensor with an impossible offset, shape or stride")
    return TensorRecord(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, *unused: Any) -> Any:
    return data


# (module, name) -> what the restricted unpickler gives for it; nothing else is found.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _StateDictUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module == "torch" and name in TORCH_DTYPE_NAMES:
            return f"torch.{name}"
        raise RefusedPickle(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> StorageRecord:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and pid[1].name in STORAGE_DTYPES
                and isinstance(pid[4], int) and pid[4] >= 0):
            raise RefusedPickle("a persistent id that is not a storage")
        return StorageRecord(str(pid[2]), STORAGE_DTYPES[pid[1].name], pid[4])


def load_records(pickle_bytes: bytes) -> Any:
    """What `data.pkl` holds, its tensors as TensorRecords. RefusedPickle for anything but
    containers, plain values and tensors; pickle's own errors for a damaged pickle."""
    return _StateDictUnpickler(io.BytesIO(pickle_bytes)).load()


def numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name).newbyteorder("<")
