"""What a TF 2 checkpoint's object graph and a SavedModel's Keras metadata mean for grutool:
the variables' real names, the optimizer slots tied to each weight, and Keras layer configs.

A SavedModel written by Keras 3's `model.export(dir)` or tf_keras's
`model.save(dir, save_format="tf")` keys its variables `variables/0/.ATTRIBUTES/VARIABLE_VALUE`;
their names (`gru/gru_cell/kernel`, `bidirectional/backward_gru/gru_cell/bias`) are the
object graph's `full_name`s, under which the Keras GRU family recognises them. A
`tf.train.Checkpoint` of a Keras model gets the same names (`gru/gru_cell` rather than
`layer_with_weights-0/cell`).

Keras 3's export lists some variables twice (`variables/N` and `_all_variables/M` with the same
full name): the first reached from the root, in the graph's own child order, takes the name;
the other keeps its key. tf_keras's `keras_metadata.pb` gives each layer's config, pinned to the
variables under that layer's node in the graph; Keras 3 writes none, and then reset_after comes
from the bias shape and the rest is assumed (said in a warning).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import CorruptFileError, first_line
from .families.keras_config import normalise_layer
from .readers.tf_object_graph import (
    GRAPH_TENSOR,
    KERAS_METADATA,
    ObjectGraph,
    keras_metadata,
    object_graph,
    saved_model_directory,
)
from .tensors import TensorSource

VARIABLE_VALUE = "VARIABLE_VALUE"
KERAS_LAYER_CLASSES = ("GRU", "CuDNNGRU", "GRUCell", "Bidirectional", "RNN")


@dataclass
class LayerConfig:
    """A Keras layer's normalised config and the checkpoint keys of the variables under it."""

    config: dict[str, Any]
    keys: list[str]


@dataclass
class ObjectNames:
    names: dict[str, str] = field(default_factory=dict)  # checkpoint key -> full name
    ties: dict[str, tuple[str, str]] = field(default_factory=dict)  # slot key -> (weight key, slot)
    layers: list[LayerConfig] = field(default_factory=list)
    # Checkpoint keys in the graph's depth-first order: the model's order of its layers.
    order: list[str] = field(default_factory=list)
    saved_model: bool = False
    has_keras_metadata: bool = False
    warnings: list[str] = field(default_factory=list)

    def layer_configs(self, seen_as: Callable[[str], str]) -> dict[str, dict[str, Any]]:
        """The configs keyed as the Keras family reads them: by the longest scope (path
        segments) that all of the layer's variables share, under the names recognition sees."""
        configs: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            scopes = [seen_as(key).split("/")[:-1] for key in layer.keys]
            common = scopes[0] if scopes else []
            for scope in scopes[1:]:
                size = 0
                while size < min(len(common), len(scope)) and common[size] == scope[size]:
                    size += 1
                common = common[:size]
            if common:
                configs.setdefault("/".join(common), layer.config)
        return configs


def object_names(source: TensorSource) -> ObjectNames | None:
    """None for a file without an object graph (TF 1 checkpoints, every other format)."""
    if source.format != "tf-checkpoint" or GRAPH_TENSOR not in source.infos:
        return None
    try:
        graph = object_graph(source)
    except ValueError as exc:
        return ObjectNames(warnings=[f"the checkpoint's object graph does not parse ({exc}); "
                                     "tensors keep their checkpoint keys"])
    if graph is None:
        return None
    result = ObjectNames()
    keys = set(source.infos)
    variable_key: dict[int, str] = {}
    taken: set[str] = set()
    reached = graph.breadth_first()
    # Slot variables are no object's children: the optimizer's slot references alone name them.
    unreached = sorted(set(range(len(graph.nodes))) - set(reached))
    for node_id in reached + unreached:
        for attribute in graph.nodes[node_id].attributes:
            key = attribute.checkpoint_key
            if attribute.name != VARIABLE_VALUE or key not in keys:
                continue
            variable_key.setdefault(node_id, key)
            name = attribute.full_name.strip("/")
            if not name or name in taken or name in keys or key in result.names:
                continue  # a second copy under the same name keeps its key
            result.names[key] = name
            taken.add(name)
    result.order = [variable_key[node] for node in graph.depth_first() if node in variable_key]
    for node in graph.nodes:
        for slot in node.slot_variables:
            copy, weight = variable_key.get(slot.slot_node), variable_key.get(slot.original_node)
            if copy is not None and weight is not None and slot.slot_name:
                result.ties[copy] = (weight, slot.slot_name)
    directory = saved_model_directory(source)
    if directory is not None:
        result.saved_model = True
        records = keras_metadata(directory)
        if records is not None:
            result.has_keras_metadata = True
            try:
                result.layers = _keras_layers(graph, records, variable_key)
            except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
                raise CorruptFileError(f"{KERAS_METADATA} holds a layer config grutool cannot "
                                       f"read ({type(exc).__name__}: {first_line(exc)})",
                                       directory / KERAS_METADATA) from exc
    return result


def _keras_layers(graph: ObjectGraph, records: list, variable_key: dict[int, str]) -> list[LayerConfig]:
    """The outermost GRU-like layers of the metadata (a Bidirectional, not its halves; a GRU,
    not its cell), each with the variables found under its node."""
    layers: list[LayerConfig] = []
    taken_paths: list[str] = []
    for record in sorted(records, key=lambda r: (r.node_path.count("."), r.node_path)):
        metadata = record.metadata
        if not metadata or metadata.get("class_name") not in KERAS_LAYER_CLASSES:
            continue
        if any(record.node_path.startswith(path + ".") for path in taken_paths):
            continue
        config = normalise_layer({"class_name": metadata.get("class_name"),
                                  "config": metadata.get("config")})
        node = graph.resolve(record.node_path)
        if node is None and 0 <= record.node_id < len(graph.nodes):
            node = record.node_id
        if config is None or node is None:
            continue
        keys = [variable_key[n] for n in graph.breadth_first(node) if n in variable_key]
        if keys:
            taken_paths.append(record.node_path)
            layers.append(LayerConfig(config, keys))
    return layers
