"""What a reader yields: tensor names, shapes and dtypes cheaply, and the bytes on demand.

Every input format is a `TensorSource`. Listing (`tensors()`) must not read tensor data;
`read(name)` reads exactly one tensor. GRU families and commands see only this interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import memory
from .errors import InputError

if TYPE_CHECKING:
    import numpy as np

# The key under which grutool's own files keep their metadata (a JSON text): an HDF5 root
# attribute, the safetensors header's `__metadata__`, an ONNX model property, a TF checkpoint
# string tensor.
METADATA_KEY = "__grutool__"


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as listed in the file: name, shape and dtype name (numpy's, plus
    "bfloat16" and "string")."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @property
    def nbytes(self) -> int | None:
        """What the tensor takes in memory, or None for strings, objects, unknown dtypes."""
        itemsize = _itemsize(self.dtype)
        if itemsize is None:
            return None
        count = 1
        for size in self.shape:
            count *= size
        return count * itemsize


_ITEMSIZES: dict[str, int | None] = {"bfloat16": 2, "string": None, "object": None}


def _itemsize(dtype: str) -> int | None:
    if dtype not in _ITEMSIZES:
        import numpy as np

        try:
            numpy_dtype = np.dtype(dtype)
            _ITEMSIZES[dtype] = None if numpy_dtype.hasobject else numpy_dtype.itemsize
        except (TypeError, ValueError):
            # ml_dtypes' names (float8_e4m3fn, ...) are one byte; anything else is unknown
            _ITEMSIZES[dtype] = 1 if dtype.startswith("float8") else None
    return _ITEMSIZES[dtype]


@dataclass(frozen=True)
class KerasModelConfig:
    """A Keras model config as the file holds it: the parsed JSON, not interpreted (what it
    says of a GRU is the Keras family's to decide, `grutool.families.keras_config`)."""

    raw: dict[str, Any]
    # Written by Keras 3 (not Keras 2 / tf_keras): the two differ in what `hard_sigmoid` is.
    keras3: bool
    # Where the file keeps it, for messages: "config.json", "the model_config attribute".
    source_member: str
    # The group a Keras 2 style full-model `.h5` keeps its layers' weights under
    # ("model_weights"); None for the Keras 3 saving format (`layers/<counted name>`).
    weights_group: str | None = None


@dataclass(frozen=True)
class GraphNode:
    """One node of a model's computation graph (an ONNX model's), as the file states it."""

    index: int  # its place in the node list (ONNX keeps nodes topologically sorted)
    op_type: str
    domain: str
    name: str
    inputs: tuple[str, ...]  # "" for an optional input left out
    outputs: tuple[str, ...]
    # Numbers, strings and their lists as they are, a small tensor as nested lists, anything
    # else (a subgraph, a type) by its kind only ("<graph>").
    attributes: dict[str, Any]


@dataclass
class ModelGraph:
    """A model's computation graph: its nodes in order, its outputs, its opset, and the
    constants (initializers, `Constant` nodes) its nodes read."""

    nodes: list[GraphNode]
    outputs: set[str]
    opset: int | None
    # A constant tensor's {"shape", "value"} (the value as nested lists, None when it holds
    # more than a few elements), or None for a tensor computed at run time.
    constant: Callable[[str], dict[str, Any] | None]


@dataclass
class TensorSource:
    """Base class of the readers. Subclasses fill `infos` at open time and implement `_read`."""

    path: Path
    format: str
    infos: dict[str, TensorInfo] = field(default_factory=dict)
    # Facts the file states about its model beside the tensors, as the file states them; the
    # GRU families prefer these to guessing from shapes. A Keras model config the file carries
    # (a `.keras` archive's `config.json`, a Keras 2 full-model `.h5`'s `model_config`).
    keras_config: KerasModelConfig | None = None
    # A computation graph the file holds (an ONNX model's).
    graph: ModelGraph | None = None
    # Free-text metadata the container carries (HDF5 root attributes, the safetensors
    # header's `__metadata__`): grutool's own split files keep `__grutool__` there.
    text_metadata: dict[str, str] = field(default_factory=dict)
    # Files that make up the input (a TF checkpoint has several); outputs never overwrite them.
    files: list[Path] = field(default_factory=list)

    def tensors(self) -> list[TensorInfo]:
        return list(self.infos.values())

    def read(self, name: str) -> np.ndarray:
        """One tensor's values. A tensor that needs more memory than the machine can give is
        refused before anything is allocated for it (`grutool.memory`)."""
        info = self.infos.get(name)
        if info is None:
            raise InputError(f"no tensor named {name!r}", self.path)
        self._check(name)
        nbytes = info.nbytes
        if nbytes is not None:
            memory.require(nbytes, f"tensor {name!r} {list(info.shape)} {info.dtype}", self.path)
        with memory.named(self.path, f"reading tensor {name!r}"):
            return self._read(name)

    def _read(self, name: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self, name: str) -> None:
        """What a reader checks of a tensor before anything is allocated for it (a file that
        declares more than it holds is corrupt, whatever the machine's memory)."""

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files if f.exists())

    def close(self) -> None:
        """Release file handles; readers holding none need not override this."""

    def __enter__(self) -> TensorSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemorySource(TensorSource):
    """Arrays already in memory (a conversion about to be written), seen as a file would be."""

    def __init__(self, arrays: dict[str, np.ndarray], label: str = "<memory>",
                 text_metadata: dict[str, str] | None = None):
        super().__init__(path=Path(label), format="memory", text_metadata=dict(text_metadata or {}))
        self._arrays = arrays
        for name, array in arrays.items():
            self.infos[name] = TensorInfo(name, tuple(array.shape), array.dtype.name)

    def _read(self, name: str) -> np.ndarray:
        return self._arrays[name]
