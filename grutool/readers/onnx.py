"""ONNX models (`.onnx`), with the `onnx` extra.

Tensors are the graph's initializers and the values of its `Constant` nodes. The graph itself
is `source.graph` (`grutool.tensors.ModelGraph`): every node with its inputs, outputs and
attributes, in the graph's order (which ONNX keeps topological), the graph's outputs, the
model's opset, and the shape (and, when small, the value) of each constant a node reads. The
reader says nothing of what the graph means; the ONNX GRU family follows it.

An exporter may feed a GRU node's `W`, `R` or `B` not from an initializer but from a small
constant expression (an `Unsqueeze` of an initializer, a `Concat` of slices). Such inputs
are evaluated at open time with NumPy, for a handful of shape ops, and listed under their
own names. External data is read only from files inside the model's own folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import CorruptFileError, InputError, MissingExtraError, first_line
from ..tensors import GraphNode, ModelGraph, TensorInfo, TensorSource

FORMAT = "onnx"
# The largest constant whose value the graph's records give (shapes, axes and permutations
# are a handful of numbers).
MAX_RECORDED_ELEMENTS = 64
# Bounds for evaluating constant expressions, so a hostile graph cannot make us loop.
MAX_FOLD_DEPTH = 16
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
TYPED_DATA_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data",
                     "uint64_data")


def matches(path: Path, head: bytes) -> bool:
    return path.suffix.lower() == ".onnx" and path.is_file()


class OnnxSource(TensorSource):
    def __init__(self, path: Path):
        super().__init__(path=path, format=FORMAT, files=[path])
        try:
            import onnx
        except ImportError as exc:
            raise MissingExtraError("reading ONNX models needs onnx", "onnx", path) from exc
        self._onnx = onnx
        try:
            model = onnx.load(str(path) if isinstance(path, Path) else path.open("rb"),
                              load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError and friends
            raise CorruptFileError(f"not a readable ONNX model: {first_line(exc)}", path) from exc
        self._base = path.resolve().parent
        self._protos: dict[str, Any] = {}
        self._folded: dict[str, np.ndarray] = {}
        graph = model.graph
        for tensor in graph.initializer:
            self._add_proto(tensor.name, tensor)
        self._producers: dict[str, Any] = {}
        for node in graph.node:
            for output in node.output:
                self._producers[output] = node
            if node.op_type == "Constant" and node.output:
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None and node.output[0] not in self.infos:
                    self._add_proto(node.output[0], value)
        opset = next((int(entry.version) for entry in model.opset_import
                      if entry.domain in ("", "ai.onnx")), None)
        self._record_graph(graph, opset)

    def _add_proto(self, name: str, tensor: Any) -> None:
        if tensor.data_location == EXTERNAL:
            self._check_external(name, tensor)
            for entry in tensor.external_data:
                if entry.key == "location":
                    location = (self._base / entry.value).resolve()
                    if location not in self.files:
                        self.files.append(location)
        else:
            self._check_declared_size(name, tensor)
        self._protos[name] = tensor
        self.infos[name] = TensorInfo(name, tuple(int(n) for n in tensor.dims),
                                      _dtype_name(self._onnx, tensor.data_type))

    def _check_declared_size(self, name: str, tensor: Any) -> None:
        """Dims must agree with the data the model holds, so that a tensor declaring
        2^38 x 2^38 elements over a few bytes is refused before anything is allocated."""
        dims = [int(n) for n in tensor.dims]
        if any(n < 0 for n in dims):
            raise CorruptFileError(f"tensor {name!r} has a negative dimension {dims}", self.path)
        count = math.prod(dims)
        if tensor.HasField("raw_data"):
            try:
                itemsize = np.dtype(self._onnx.helper.tensor_dtype_to_np_dtype(
                    tensor.data_type)).itemsize
            except (KeyError, TypeError, ValueError):
                return  # a dtype NumPy lacks; reading it reports the problem
            if len(tensor.raw_data) != count * itemsize:
                raise CorruptFileError(f"tensor {name!r} declares dims {dims} ({count * itemsize} "
                                       f"bytes) but holds {len(tensor.raw_data)} bytes", self.path)
            return
        # Typed fields hold one value per element (two for complex numbers).
        held = sum(len(getattr(tensor, field)) for field in TYPED_DATA_FIELDS)
        if held < count:
            raise CorruptFileError(f"tensor {name!r} declares dims {dims} ({count} elements) "
                                   f"but holds {held} values", self.path)

    def _check_external(self, name: str, tensor: Any) -> None:
        location = next((e.value for e in tensor.external_data if e.key == "location"), None)
        if not location:
            raise CorruptFileError(f"tensor {name!r} keeps its data outside the model but names "
                                   "no file", self.path)
        if not isinstance(self.path, Path):
            raise InputError(f"tensor {name!r} keeps its data in {location!r}, beside the model; "
                             "grutool reads external ONNX data from local files only", self.path,
                             hint="download the model and its data files")
        target = (self._base / location).resolve()
        if not target.is_relative_to(self._base):
            raise InputError(f"tensor {name!r} keeps its data in {location!r}, outside the "
                             "model's folder; grutool does not follow it", self.path)

    def _record_graph(self, graph: Any, opset: int | None) -> None:
        nodes = [GraphNode(index, node.op_type, node.domain, node.name, tuple(node.input),
                           tuple(node.output),
                           {a.name: _plain_attribute(self._onnx, a) for a in node.attribute})
                 for index, node in enumerate(graph.node)]
        self.graph = ModelGraph(nodes, {output.name for output in graph.output}, opset,
                                self._constant_fact)
        # The weights of a recurrent node (inputs W, R, B) may be a constant expression; its
        # value is listed as a tensor, as an exporter that folded it would have written it.
        for node in graph.node:
            if node.op_type == "GRU" and node.domain in ("", "ai.onnx"):
                for tensor in node.input[1:4]:
                    if tensor and tensor not in self.infos:
                        self._fold_into_infos(tensor)

    def _constant_fact(self, name: str) -> dict[str, Any] | None:
        """A constant's shape and, when it holds a few elements, its value as nested lists;
        None for a tensor computed at run time."""
        if name not in self._protos and name not in self._folded:
            return None
        info = self.infos[name]
        value = None
        if math.prod(info.shape) <= MAX_RECORDED_ELEMENTS:
            try:
                value = self._read(name).tolist()
            except (InputError, CorruptFileError):
                value = None
        return {"shape": list(info.shape), "value": value}

    def _fold_into_infos(self, tensor: str) -> None:
        """Evaluate a constant expression feeding a GRU; leave it out if it is not one, or if
        it would come out larger than the files the model is made of (a real exporter's
        expression only rearranges weights the file holds; a hostile one concatenates one
        initializer thousands of times)."""
        limit = max(self.size_bytes(), 1)
        try:
            value = self._evaluate(tensor, 0, {}, limit)
        except (ValueError, IndexError, TypeError, KeyError, AttributeError):
            value = None
        if value is None:
            return
        self._folded[tensor] = value
        self.infos[tensor] = TensorInfo(tensor, tuple(value.shape), value.dtype.name)

    def _evaluate(self, tensor: str, depth: int, seen: dict[str, np.ndarray | None],
                  limit: int) -> np.ndarray | None:
        """`seen`: values already evaluated in this fold, so that an input named many times
        is read once and shared, not copied each time."""
        if tensor in seen:
            return seen[tensor]
        value: np.ndarray | None
        if tensor in self._protos:
            value = self._read(tensor)
        elif tensor in self._folded:
            value = self._folded[tensor]
        else:
            value = self._evaluate_node(tensor, depth, seen, limit)
        seen[tensor] = value
        return value

    def _evaluate_node(self, tensor: str, depth: int, seen: dict[str, np.ndarray | None],
                       limit: int) -> np.ndarray | None:
        node = self._producers.get(tensor)
        if node is None or depth > MAX_FOLD_DEPTH:
            return None
        inputs: list[np.ndarray | None] = []
        for name in node.input:
            if not name:
                inputs.append(None)
                continue
            value = self._evaluate(name, depth + 1, seen, limit)
            if value is None:
                return None
            inputs.append(value)
        # No op here makes more bytes than its inputs hold (Concat makes exactly that many),
        # so this refuses an oversized result before it is allocated.
        if sum(value.nbytes for value in inputs if value is not None) > limit:
            return None
        attributes = {a.name: _attribute_value(self._onnx, a) for a in node.attribute}
        result = _apply(node.op_type, inputs, attributes)
        return None if result is None or result.nbytes > limit else result

    def _read(self, name: str) -> np.ndarray:
        if name in self._folded:
            return self._folded[name]
        from onnx import external_data_helper, numpy_helper

        proto = self._protos[name]
        try:
            if proto.data_location == EXTERNAL:
                self._check_external(name, proto)
                copy = type(proto)()
                copy.CopyFrom(proto)
                external_data_helper.load_external_data_for_tensor(copy, str(self._base))
                proto = copy
            return numpy_helper.to_array(proto)
        except OSError as exc:
            raise InputError(f"cannot read the external data of {name!r}: "
                             f"{exc.strerror or exc}", self.path) from exc
        except (ValueError, TypeError, RuntimeError) as exc:
            raise CorruptFileError(f"cannot decode tensor {name!r}: {first_line(exc)}",
                                   self.path) from exc


def _apply(op: str, inputs: list[np.ndarray | None], attributes: dict[str, Any]) -> np.ndarray | None:
    """NumPy versions of the few ops exporters put between an initializer and a GRU; None for
    any other op, or where the data input is missing."""
    first = inputs[0] if inputs else None
    if first is None or (op == "Concat" and any(value is None for value in inputs)):
        return None
    if op in ("Identity", "Dropout"):
        return first
    if op == "Unsqueeze":
        axes = attributes.get("axes") if len(inputs) < 2 else inputs[1]
        if axes is None:  # required
            return None
        result = first
        for axis in sorted(int(a) % (first.ndim + len(axes)) for a in axes):
            result = np.expand_dims(result, axis)
        return result
    if op == "Squeeze":
        axes = attributes.get("axes") if len(inputs) < 2 else inputs[1]
        return np.squeeze(first) if axes is None else np.squeeze(first, tuple(int(a) for a in axes))
    if op == "Concat":
        return np.concatenate(cast("list[np.ndarray]", inputs),  # no None: checked above
                              axis=int(attributes["axis"]))
    if op == "Transpose":
        perm = attributes.get("perm")
        return np.transpose(first, None if perm is None else tuple(perm))
    if op == "Reshape":
        target = inputs[1] if len(inputs) > 1 else None
        if target is None:
            return None
        shape = [int(n) for n in target]
        if not attributes.get("allowzero", 0):
            shape = [first.shape[i] if n == 0 else n for i, n in enumerate(shape)]
        return first.reshape(shape)
    if op == "Slice":
        starts, ends = (inputs[1], inputs[2]) if len(inputs) > 2 else (None, None)
        if starts is None or ends is None:
            return None
        axes = inputs[3] if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
        steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
        index = [slice(None)] * first.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
            index[int(axis)] = slice(int(start), int(end), int(step))
        return first[tuple(index)]
    return None


def _attribute_value(onnx: Any, attribute: Any) -> Any:
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else item
                for item in value]
    if hasattr(value, "dims"):  # a TensorProto attribute
        return onnx.numpy_helper.to_array(value)
    return value


def _plain_attribute(onnx: Any, attribute: Any) -> Any:
    """An attribute as plain data: numbers, strings and their lists as they are, a small
    tensor as nested lists; anything else (a subgraph, a type) by its kind only."""
    kinds = onnx.AttributeProto
    try:
        if attribute.type in (kinds.INT, kinds.FLOAT, kinds.STRING, kinds.INTS, kinds.FLOATS,
                              kinds.STRINGS):
            return _attribute_value(onnx, attribute)
        if attribute.type == kinds.TENSOR and \
                math.prod(attribute.t.dims) <= MAX_RECORDED_ELEMENTS:
            return onnx.numpy_helper.to_array(attribute.t).tolist()
        return f"<{kinds.AttributeType.Name(attribute.type).lower()}>"
    except (ValueError, TypeError, RuntimeError):
        return "<unreadable>"


def _dtype_name(onnx: Any, data_type: int) -> str:
    if data_type == onnx.TensorProto.STRING:
        return "string"
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type)).name
    except (KeyError, TypeError, ValueError):
        return f"onnx-type-{data_type}"


def open(path: Path) -> OnnxSource:  # noqa: A001 - the reader protocol's name
    return OnnxSource(path)
