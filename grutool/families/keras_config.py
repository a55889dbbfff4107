"""What a Keras model config states about its recurrent layers, in the one form the Keras
GRU family reads: from the config a reader found (`TensorSource.keras_config`: a `.keras`
archive's `config.json`, a Keras 2 full model's `model_config`) and from the TF 2
object-graph names (`keras_metadata.pb`). It holds the config's facts (layer order, class,
units, reset placement, activations as written, go_backwards, merge_mode, stack members);
what they mean for a GRU cell is `keras_gru`'s to decide.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import CorruptFileError, first_line
from ..tensors import TensorSource

GRU_CLASSES = ("GRU", "CuDNNGRU", "GRUCell")


def source_layer_configs(source: TensorSource) -> dict[str, dict[str, Any]]:
    """The recurrent-layer configs of the Keras model config `source` carries, keyed by the
    weights group each layer's tensors sit under; {} when it carries none. A config the walk
    cannot make sense of (a list where a name belongs, layers nested past Python's recursion
    limit) is a damaged file."""
    config = source.keras_config
    if config is None:
        return {}
    try:
        if config.weights_group is not None:
            return keras2_layer_configs(config.raw, config.weights_group, config.keras3)
        return keras3_layer_configs(config.raw, getattr(source, "group_names", None),
                                    config.keras3)
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        raise CorruptFileError(f"{config.source_member} is not a Keras model config grutool "
                               f"can read ({type(exc).__name__}: {first_line(exc)})",
                               source.path) from exc


# --- configs -------------------------------------------------------------------------------
#
# What a Keras config says of its recurrent layers, as plain facts keyed by the weights group
# the layer's tensors sit under. The values stay as Keras serialised them (an activation is a
# string, a function dict, a layer object or None); the Keras GRU family says what they mean.
#
#   GRU-like       {"class_name": "GRU" | "CuDNNGRU" | "GRUCell", "name", "units",
#                   "reset_after" (None when unsaid), "activation", "recurrent_activation",
#                   "go_backwards", "use_bias"}
#   Bidirectional  {"class_name": "Bidirectional", "name", "merge_mode" (as written; "concat",
#                   Keras's default, when absent), "forward", "backward" (GRU-like, a stack,
#                   or None)}
#   stack          {"class_name": "RNN", "name", "go_backwards", "cells": [GRU-like with
#                   "member" | None, … in the config's order, bottom first], "cell_classes"}
#
# Every top-level entry also has "keras" (2 or 3: the version that wrote the file, whose
# `hard_sigmoid` differs) and "order" (the layer's place in the model's layer list, nested
# models walked in place). A stack cell's "member" names the group its weights sit in:
# the cell's own name in a Keras 2 HDF5 file (`…/stacked_rnn_cells/zeta`), Keras's per-class
# counter in a `.keras` archive (`…/cell/cells/gru_cell_1`).

def to_snake_case(name: str) -> str:
    """Keras 3's rule for the HDF5 group of an object it saves (`GRU` -> `gru`,
    `StackedRNNCells` -> `stacked_rnn_cells`)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_layer_configs(config: dict[str, Any] | None,
                         group_names: dict[str, str] | None = None,
                         keras3: bool = True) -> dict[str, dict[str, Any]]:
    """Normalised recurrent-layer configs of a `.keras` archive's model, keyed by the weights
    group.

    `group_names` maps an HDF5 group to the layer name Keras 3 stores in its `vars` group's
    `name` attribute; it pins each config to its group. Without it (tf_keras writes no names)
    the group is found as Keras names it: the class name in snake case, numbered per class.
    `keras3`: the archive was written by Keras 3 (not tf_keras).
    """
    found: dict[str, dict[str, Any]] = {}
    if config:
        _walk_keras3(config, "", group_names or {}, found, 3 if keras3 else 2, [0])
    return found


def _counted_groups(container: str, items: list[Any], group_names: dict[str, str]) -> list[str]:
    """The group each object of a saved list sits in: the one whose `vars` carry the object's
    name (Keras 3), else `<class in snake case>[_N]`, N counting per class in list order."""
    by_name = {name: group for group, name in group_names.items()
               if group.rsplit("/", 1)[0] == container}
    used: dict[str, int] = {}
    groups = []
    for item in items:
        class_name = str(item.get("class_name", "")) if isinstance(item, dict) else ""
        snake = to_snake_case(class_name)
        used[snake] = used.get(snake, -1) + 1
        counted = f"{container}/{snake}" + (f"_{used[snake]}" if used[snake] else "")
        inner = item.get("config") if isinstance(item, dict) else None
        name = inner.get("name") if isinstance(inner, dict) else None
        groups.append(by_name.get(name, counted) if isinstance(name, str) else counted)
    return groups


def _walk_keras3(model: dict[str, Any], prefix: str, group_names: dict[str, str],
                 found: dict[str, dict[str, Any]], keras: int, order: list[int]) -> None:
    layers = _model_layers(model)
    if layers is None:
        return
    container = f"{prefix}/layers" if prefix else "layers"
    for layer, group in zip(layers, _counted_groups(container, layers, group_names), strict=True):
        if not isinstance(layer, dict):
            continue
        if _model_layers(layer) is not None:
            _walk_keras3(layer, group, group_names, found, keras, order)
            continue
        entry = normalise_layer(layer)
        if entry is not None:
            _keras3_members(entry, group, group_names)
            found[group] = dict(entry, keras=keras, order=order[0])
        order[0] += 1


def _keras3_members(entry: dict[str, Any], group: str, group_names: dict[str, str]) -> None:
    """Point each stack cell at its group: `<rnn>/cell/cells/<counted>` in a `.keras` archive
    (`<bidirectional>/forward_layer/…` inside a Bidirectional)."""
    if entry.get("class_name") == "Bidirectional":
        for side in ("forward", "backward"):
            if isinstance(entry.get(side), dict):
                _keras3_members(entry[side], f"{group}/{side}_layer", group_names)
        return
    if "cells" not in entry:
        return
    container = f"{group}/cell/cells"
    stand_ins = [{"class_name": name, "config": {"name": cell.get("name") if cell else None}}
                 for name, cell in zip(entry["cell_classes"], entry["cells"], strict=True)]
    members = _counted_groups(container, stand_ins, group_names)
    for cell, member in zip(entry["cells"], members, strict=True):
        if cell is not None:
            cell["member"] = member.rsplit("/", 1)[1]


def keras2_layer_configs(model_config: dict[str, Any] | None, prefix: str = "model_weights",
                         keras3: bool = False) -> dict[str, dict[str, Any]]:
    """Normalised recurrent-layer configs of a Keras 2 / tf_keras full-model `.h5` (or one
    Keras 3 saved in that legacy format: `keras3`).

    Each top-level layer's weights sit in the group named after it; a nested model's layers
    sit in that model's group under their own names (their weight names begin with them).
    """
    found: dict[str, dict[str, Any]] = {}
    keras = 3 if keras3 else 2
    order = 0
    for layer in _model_layers(model_config or {}) or []:
        if not isinstance(layer, dict):
            continue
        name = _layer_name(layer)
        if name is None:
            continue
        group = f"{prefix}/{name}" if prefix else name
        leaves = _leaf_layers(layer) if _model_layers(layer) is not None else [layer]
        for leaf in leaves:
            entry = normalise_layer(leaf)
            leaf_name = _layer_name(leaf)
            if entry is None or leaf_name is None:
                order += 1
                continue
            key = group if leaf is layer else f"{group}/{leaf_name}"
            found[key] = dict(entry, keras=keras, order=order)
            order += 1
    return found


def _model_layers(layer: dict[str, Any]) -> list[Any] | None:
    inner = layer.get("config")
    if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
        return inner["layers"]
    if isinstance(inner, list):  # very old Keras Sequential configs: a bare list of layers
        return inner
    return None


def _leaf_layers(model: dict[str, Any]) -> list[dict[str, Any]]:
    leaves: list[dict[str, Any]] = []
    for layer in _model_layers(model) or []:
        if isinstance(layer, dict):
            leaves.extend(_leaf_layers(layer) if _model_layers(layer) is not None else [layer])
    return leaves


def _layer_name(layer: dict[str, Any]) -> str | None:
    inner = layer.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    return str(name) if name is not None else layer.get("name")


def normalise_layer(layer: dict[str, Any]) -> dict[str, Any] | None:
    """One recurrent layer's facts in the form above, or None for another kind of layer."""
    class_name = layer.get("class_name")
    config = layer.get("config")
    if not isinstance(config, dict):
        return None
    if class_name in GRU_CLASSES:
        return _gru_like(class_name, config, bool(config.get("go_backwards", False)))
    if class_name == "Bidirectional":
        return _bidirectional(config)
    if class_name == "RNN":
        return _rnn(config)
    return None


def _bidirectional(config: dict[str, Any]) -> dict[str, Any] | None:
    forward_layer = config.get("layer")
    if not isinstance(forward_layer, dict):
        return None
    forward = normalise_layer(forward_layer)
    backward_layer = config.get("backward_layer")
    if isinstance(backward_layer, dict):
        backward = normalise_layer(backward_layer)
    elif forward is not None:
        # Without an explicit backward layer Keras copies the forward one and flips
        # go_backwards.
        backward = _copy(forward)
        backward["go_backwards"] = not forward["go_backwards"]
        for cell in backward.get("cells") or []:
            if cell is not None:
                cell["go_backwards"] = backward["go_backwards"]
    else:
        backward = None
    if forward is None and backward is None:
        return None
    merge_mode = config.get("merge_mode", "concat")
    return {"class_name": "Bidirectional", "name": _text(config.get("name")),
            "merge_mode": merge_mode if merge_mode is None or isinstance(merge_mode, str)
            else str(merge_mode),
            "forward": forward, "backward": backward}


def _rnn(config: dict[str, Any]) -> dict[str, Any] | None:
    cell = config.get("cell")
    go_backwards = bool(config.get("go_backwards", False))
    if not isinstance(cell, dict) or not isinstance(cell.get("config"), dict):
        return None
    if cell.get("class_name") in GRU_CLASSES:
        return _gru_like(cell["class_name"], cell["config"], go_backwards)
    if cell.get("class_name") != "StackedRNNCells":
        return None
    items = cell["config"].get("cells", [])
    if not isinstance(items, list):
        return None
    cells: list[dict[str, Any] | None] = []
    for item in items:
        if isinstance(item, dict) and item.get("class_name") in GRU_CLASSES \
                and isinstance(item.get("config"), dict):
            facts = _gru_like(item["class_name"], item["config"], go_backwards)
            facts["member"] = facts["name"]  # Keras 2 HDF5 files file a cell under its name
            cells.append(facts)
        else:
            cells.append(None)
    if not any(cells):
        return None
    return {"class_name": "RNN", "name": _text(config.get("name")), "go_backwards": go_backwards,
            "cells": cells,
            "cell_classes": [str(item.get("class_name", "")) if isinstance(item, dict) else ""
                             for item in items]}


def _copy(entry: dict[str, Any]) -> dict[str, Any]:
    copied = dict(entry)
    if isinstance(entry.get("cells"), list):
        copied["cells"] = [dict(cell) if cell is not None else None for cell in entry["cells"]]
    return copied


def _gru_like(class_name: str, config: dict[str, Any], go_backwards: bool) -> dict[str, Any]:
    cudnn = class_name == "CuDNNGRU"
    reset_after = True if cudnn else config.get("reset_after")
    units = config.get("units")
    return {
        "class_name": class_name,
        "name": _text(config.get("name")),
        # A number only: the family compares it with shapes.
        "units": units if isinstance(units, int) and not isinstance(units, bool) else None,
        "reset_after": bool(reset_after) if reset_after is not None else None,
        # As serialised; a key left out is Keras's default. CuDNNGRU's are fixed.
        "activation": "tanh" if cudnn else config.get("activation", "tanh"),
        "recurrent_activation": "sigmoid" if cudnn else config.get("recurrent_activation",
                                                                   "sigmoid"),
        "go_backwards": go_backwards,
        "use_bias": bool(config.get("use_bias", True)),
    }


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)
