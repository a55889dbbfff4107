"""An ONNX model written as its initializers are made, one at a time, never whole in memory.

An ONNX file is one protobuf `ModelProto`, and protobuf lets a message field appear several
times, the occurrences merged in order (repeated fields appended): "parsers are expected to
handle the case in which they do" (protobuf encoding guide, "Last One Wins"). So the file is
written as

    graph { initializer { <tensor 1, raw_data streamed> } }      one record per tensor
    graph { initializer { <tensor 2 …> } }
    …
    <the rest of the model: the graph's nodes, inputs, outputs, small initializers, opsets>
    metadata_props { key: "__grutool__" value: <metadata> }      last, so it can be rewritten

and reads back as the model `targets.onnx.build_model` describes, with these initializers.
Only each record's few header bytes are built in memory; the tensor's bytes go from the
array to the file block by block. The graph comes from `build_model` itself (given empty
stand-ins for the big tensors), so there is one description of the model.

For the proof, `proof_source` writes a small model beside the file, the same graph with each
streamed initializer pointing at its bytes in the written file (ONNX external data: location,
offset, length): grutool's ONNX reader then reads the graph as it reads any model, and the
tensors from the bytes written, without holding the whole file in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..cells import GruModule
from ..errors import MissingExtraError
from ..tensors import METADATA_KEY
from ..writers import ArrayWriter, _c_order_blocks

# ModelProto / GraphProto / TensorProto field numbers (onnx.proto)
MODEL_GRAPH, MODEL_METADATA_PROPS = 7, 14
GRAPH_INITIALIZER = 5
TENSOR_RAW_DATA = 9


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, length: int) -> bytes:
    """The key and length of a length-delimited field."""
    return _varint(number << 3 | 2) + _varint(length)


def _metadata_record(onnx: Any, metadata: str) -> bytes:
    entry = onnx.StringStringEntryProto(key=METADATA_KEY, value=metadata).SerializeToString()
    return _field(MODEL_METADATA_PROPS, len(entry)) + entry


class OnnxStreamWriter(ArrayWriter):
    SUFFIX = ".onnx"

    def __init__(self, path: Path, label: Path, modules: list[GruModule],
                 build_model: Callable[..., Any]):
        super().__init__(path, label)
        try:
            import onnx
        except ImportError as exc:
            raise MissingExtraError("writing ONNX needs the onnx package", "onnx", label) from exc
        self._onnx = onnx
        self._modules, self._build_model = modules, build_model
        self._handle = path.open("wb")
        # name -> (shape, dtype, offset of the raw bytes in the file, their length)
        self._streamed: dict[str, tuple[tuple[int, ...], np.dtype, int, int]] = {}
        self._skeleton: Any = None
        self._metadata = ""

    def _add(self, name: str, array: np.ndarray) -> None:
        from onnx import helper

        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        header = self._onnx.TensorProto(
            name=name, dims=list(array.shape),
            data_type=helper.np_dtype_to_tensor_dtype(array.dtype)).SerializeToString()
        raw = _field(TENSOR_RAW_DATA, array.nbytes)
        tensor_length = len(header) + len(raw) + array.nbytes
        initializer = _field(GRAPH_INITIALIZER, tensor_length)
        self._handle.write(_field(MODEL_GRAPH, len(initializer) + tensor_length)
                           + initializer + header + raw)
        offset = self._handle.tell()
        for block in _c_order_blocks(little if little.ndim else little.reshape(1)):
            self._handle.write(block)
        self._streamed[name] = (tuple(array.shape), array.dtype, offset, array.nbytes)

    def _finish(self, metadata: str) -> None:
        stand_ins = {name: np.zeros((0,) * len(shape), dtype)
                     for name, (shape, dtype, _, _) in self._streamed.items()}
        model = self._build_model(stand_ins, self._modules, None)
        kept = [tensor for tensor in model.graph.initializer if tensor.name not in self._streamed]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        del model.metadata_props[:]
        self._skeleton, self._metadata = model, metadata
        self._handle.write(model.SerializeToString())
        self._handle.write(_metadata_record(self._onnx, metadata))
        self._handle.close()

    def abort(self) -> None:
        self._handle.close()

    @contextmanager
    def proof_source(self) -> Iterator[Path]:
        """A model beside the written file whose streamed initializers are its bytes."""
        onnx = self._onnx
        model = onnx.ModelProto()
        model.CopyFrom(self._skeleton)
        for name, (shape, dtype, offset, length) in self._streamed.items():
            tensor = model.graph.initializer.add()
            tensor.name = name
            tensor.dims.extend(shape)
            tensor.data_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for key, value in (("location", self.path.name), ("offset", str(offset)),
                               ("length", str(length))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
        onnx.helper.set_model_props(model, {METADATA_KEY: self._metadata})
        handle, name = tempfile.mkstemp(prefix=f".{self.label.name}.", suffix=".proof.onnx",
                                        dir=self.path.parent)
        proof = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(model.SerializeToString())
            yield proof
        finally:
            proof.unlink(missing_ok=True)

    @staticmethod
    def replace_metadata(path: Path, metadata: Mapping[str, Any] | str) -> None:
        """Rewrite the metadata record, the file's last field."""
        import onnx

        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        with path.open("r+b") as handle:
            last = _last_field_offset(handle, MODEL_METADATA_PROPS)
            handle.seek(last)
            handle.truncate()
            handle.write(_metadata_record(onnx, text))


def _last_field_offset(handle: Any, number: int) -> int:
    """Where the last top-level field `number` of the message in `handle` starts (its key)."""
    end = handle.seek(0, 2)
    position, found = 0, None
    handle.seek(0)
    while position < end:
        start = position
        key, position = _read_varint(handle, position)
        wire_type = key & 7
        if wire_type == 0:
            _, position = _read_varint(handle, position)
        elif wire_type == 2:
            length, position = _read_varint(handle, position)
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"unexpected wire type {wire_type} at {start}")
        if key >> 3 == number:
            found = start
    if found is None:
        raise ValueError(f"no field {number}")
    return found


def _read_varint(handle: Any, position: int) -> tuple[int, int]:
    handle.seek(position)
    result = shift = 0
    while True:
        byte = handle.read(1)
        if not byte:
            raise ValueError("a varint runs past the end")
        position += 1
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result, position
        shift += 7
