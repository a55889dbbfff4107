"""The object graph of a TF 2 checkpoint or SavedModel, and a SavedModel's `keras_metadata.pb`,
decoded without TensorFlow or protobuf (by `protobuf_wire`).

A TF 2 checkpoint names each variable by its path through the saved objects
(`variables/0/.ATTRIBUTES/VARIABLE_VALUE`, `layer_with_weights-0/cell/kernel/...`); the string
tensor `_CHECKPOINTABLE_OBJECT_GRAPH` holds a `TrackableObjectGraph` proto:

    TrackableObjectGraph   1 nodes (repeated TrackableObject; node 0 is the root)
    TrackableObject        1 children (ObjectReference: 1 node_id, 2 local_name)
                           2 attributes (SerializedTensor: 1 name, 2 full_name, 3 checkpoint_key)
                           3 slot_variables (SlotVariableReference: 1 original_variable_node_id,
                             2 slot_name, 3 slot_variable_node_id)

`full_name` is the variable's own name (`gru/gru_cell/kernel`). tf_keras's
`model.save(dir, save_format="tf")` also writes `dir/keras_metadata.pb`, a `SavedMetadata`:

    SavedMetadata          1 nodes (repeated SavedObject)
    SavedObject            2 node_id, 3 node_path ("root.layer_with_weights-0"), 4 identifier
                           ("_tf_keras_rnn_layer"), 5 metadata (the layer's JSON: class_name,
                           config, ...)

These are facts only; `grutool.object_names` decides what they mean for the names grutool
shows and the Keras configs it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError
from ..tensors import TensorSource
from .json_text import load_json
from .protobuf_wire import WireError, decode_fields, int_field, message_field, message_fields, signed64

GRAPH_TENSOR = "_CHECKPOINTABLE_OBJECT_GRAPH"
KERAS_METADATA = "keras_metadata.pb"
# A keras_metadata.pb this large is not layer configs.
MAX_METADATA_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Attribute:
    name: str
    full_name: str
    checkpoint_key: str


@dataclass(frozen=True)
class SlotReference:
    original_node: int
    slot_name: str
    slot_node: int


@dataclass
class GraphNode:
    children: list[tuple[int, str]] = field(default_factory=list)  # (node id, local name)
    attributes: list[Attribute] = field(default_factory=list)
    slot_variables: list[SlotReference] = field(default_factory=list)


@dataclass
class ObjectGraph:
    nodes: list[GraphNode]

    def child(self, node: int, local_name: str) -> int | None:
        if not 0 <= node < len(self.nodes):
            return None
        for child, name in self.nodes[node].children:
            if name == local_name:
                return child
        return None

    def resolve(self, path: str) -> int | None:
        """The node at `root.a.b` (a SavedModel node path), or None."""
        parts = path.split(".")
        if not self.nodes or parts[:1] != ["root"]:
            return None
        node: int | None = 0
        for part in parts[1:]:
            node = self.child(node, part) if node is not None else None
        return node if node is not None and 0 <= node < len(self.nodes) else None

    def breadth_first(self, start: int = 0) -> list[int]:
        """Node ids reachable from `start`, nearest first, children in stored order."""
        if not 0 <= start < len(self.nodes):
            return []
        order, seen, position = [start], {start}, 0
        while position < len(order):
            for child, _ in self.nodes[order[position]].children:
                if child not in seen and 0 <= child < len(self.nodes):
                    seen.add(child)
                    order.append(child)
            position += 1
        return order


    def depth_first(self, start: int = 0) -> list[int]:
        """Node ids reachable from `start` in pre-order, children in stored order: a Keras
        model's layers come out in the model's order, each with everything under it."""
        if not 0 <= start < len(self.nodes):
            return []
        order, seen, stack = [], {start}, [start]
        while stack:
            node = stack.pop()
            order.append(node)
            children = [child for child, _ in self.nodes[node].children
                        if child not in seen and 0 <= child < len(self.nodes)]
            seen.update(children)
            stack.extend(reversed(children))
        return order


@dataclass(frozen=True)
class MetadataNode:
    node_id: int
    node_path: str
    identifier: str
    metadata: dict[str, Any] | None


def _text(value: bytes) -> str:
    return bytes(value).decode("utf-8", "replace")


def decode_object_graph(data: bytes) -> ObjectGraph:
    """Raises ValueError (with what is wrong) when `data` is not a TrackableObjectGraph."""
    try:
        nodes = []
        for message in message_fields(decode_fields(data), 1):
            fields = decode_fields(message)
            node = GraphNode()
            for reference in message_fields(fields, 1):
                ref = decode_fields(reference)
                node.children.append((signed64(int_field(ref, 1)), _text(message_field(ref, 2))))
            for attribute in message_fields(fields, 2):
                attr = decode_fields(attribute)
                node.attributes.append(Attribute(_text(message_field(attr, 1)), _text(message_field(attr, 2)),
                                                 _text(message_field(attr, 3))))
            for slot in message_fields(fields, 3):
                ref = decode_fields(slot)
                node.slot_variables.append(SlotReference(
                    signed64(int_field(ref, 1)), _text(message_field(ref, 2)), signed64(int_field(ref, 3))))
            nodes.append(node)
    except WireError as exc:
        raise ValueError(str(exc)) from exc
    return ObjectGraph(nodes)


def object_graph(source: TensorSource) -> ObjectGraph | None:
    """The object graph of a TF 2 checkpoint, None when it has none. A graph that does not
    parse raises ValueError; the caller decides whether that matters."""
    info = source.infos.get(GRAPH_TENSOR)
    if info is None or info.dtype not in ("string", "object", "bytes") or info.shape != ():
        return None
    read_strings = getattr(source, "read_strings", None)
    if read_strings is not None:
        (data,) = read_strings(GRAPH_TENSOR)
    else:  # TensorFlow's reader returns the scalar string as bytes
        value = source.read(GRAPH_TENSOR)
        data = value.item() if hasattr(value, "item") else value
    if isinstance(data, str):
        data = data.encode("latin-1")
    return decode_object_graph(bytes(data))


def saved_model_directory(source: TensorSource) -> Path | None:
    """The SavedModel directory whose `variables/variables` checkpoint `source` is."""
    prefix = source.path
    if source.format != "tf-checkpoint" or prefix.name != "variables" \
            or prefix.parent.name != "variables":
        return None
    directory = prefix.parent.parent
    return directory if (directory / "saved_model.pb").is_file() else None


def keras_metadata(directory: Path) -> list[MetadataNode] | None:
    """The layer records of `directory/keras_metadata.pb`, or None when there is none."""
    path = directory / KERAS_METADATA
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise CorruptFileError(f"{path.stat().st_size} bytes is too large for Keras "
                                   "metadata", path)
        data = path.read_bytes()
    except OSError as exc:
        raise CorruptFileError(f"cannot read the file: {exc.strerror or exc}", path) from exc
    try:
        records = []
        for message in message_fields(decode_fields(data), 1):
            fields = decode_fields(message)
            text = message_field(fields, 5)
            metadata = load_json(bytes(text), KERAS_METADATA, path) if text else None
            records.append(MetadataNode(signed64(int_field(fields, 2)), _text(message_field(fields, 3)),
                                        _text(message_field(fields, 4)),
                                        metadata if isinstance(metadata, dict) else None))
    except WireError as exc:
        raise CorruptFileError(f"not a Keras SavedMetadata proto: {exc}", path) from exc
    return records
