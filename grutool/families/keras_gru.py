"""Keras `GRU` (Keras 2, tf.keras / tf_keras, Keras 3) and Keras 2 `CuDNNGRU`.

Per cell three tensors, gate blocks in the order z, r, h along the last axis:

    kernel            [I, 3H]
    recurrent_kernel  [H, 3H]
    bias              [3H]      reset_after=False: one bias per gate (b_i*)
                      [2, 3H]   reset_after=True: row 0 input biases, row 1 recurrent
                      [6H]      CuDNNGRU: input biases, then recurrent (always reset after)
                      absent    use_bias=False

A GRU's blocks are `x @ W` matrices. A CuDNNGRU hands its blocks to cuDNN unchanged, which
reads each flat block as a row-major `[H, I]` matrix applied as `W @ x`: the `x @ W` matrix is
`block.reshape(H, I).T` (tf_keras converts CuDNNGRU weights for a GRU in the same way).

The same three tensors appear under every Keras naming scheme:

    Keras 3 .weights.h5 / .keras   layers/gru/cell/vars/0, 1, 2
                                   layers/bidirectional/forward_layer/cell/vars/…, backward_layer
                                   layers/rnn/cell/cells/gru_cell_1/vars/…  (StackedRNNCells)
                                   layers/sequential/layers/gru/cell/vars/…  (a model in a model)
    Keras 2 .h5 (tf_keras)         [model_weights/]gru/gru/gru_cell/kernel:0, recurrent_kernel:0, …
                                   bidirectional/bidirectional/forward_gru/gru_cell/…, backward_gru
                                   rnn/rnn/stacked_rnn_cells/<cell name>/…, cu_dnngru/cu_dnngru/…
    Keras 3 legacy .h5             model_weights/gru/gru/gru_cell/kernel (no `:0`)
    TF 2 object checkpoints        [model/]layer_with_weights-0/cell/kernel/.ATTRIBUTES/…
                                   model/_operations/1/forward_layer/cell/…, …/cell/cells/0/…
    plain names (TF 1 graphs, npz) gru/gru_cell/kernel, …; or bare kernel, recurrent_kernel, bias

Structure comes from the file, never from sorting names:
- A layer's config (a `.keras` archive's `config.json`, a Keras 2 `.h5`'s `model_config`:
  `source.keras_config`, read by `keras_config`; a SavedModel's `keras_metadata.pb`:
  `hints.keras_layers`) outranks the shapes: reset_after when there is no bias, activations,
  go_backwards, a Bidirectional's merge_mode, and the order of a StackedRNNCells' cells (its
  cell list, each cell found by its name or Keras's per-class counter). `hints.layout` (the
  user's `--layout`) forces a reading on files that cannot tell (`keras-cudnn-gru`).
- Model order: the config's layer list (nested models in place); a Keras 2 style `.h5`'s
  `layer_names` and `weight_names` (the reader's `weight_order`), with or without a config;
  the numbers a TF 2 object checkpoint gives its layers and cells (`layer_with_weights-N`,
  `cells/N`); Keras 3's per-class counters (`gru`, `gru_1`; `gru_cell`, `gru_cell_1`). Where
  none of these decides, the order is inferred from the names (`cell_2` before `cell_10`),
  the modules concerned go to `order_assumed`, and a warning says so.
- A stack's sizes must chain (layer k+1 reads layer k's units); a stack whose order
  contradicts its shapes is warned about and its cells listed as separate modules.
- Activations map to grutool's names (`grutool.activations`), by the version of Keras that
  wrote the file (Keras 2's `hard_sigmoid` is 0.2x + 0.5, Keras 3's x/6 + 0.5): strings,
  function dicts, layer objects with parameters (`ReLU(max_value=6)`). Anything else is
  `unknown`, with a warning; no conversion or check can use it.

A Keras GRU with `go_backwards=True` outside `Bidirectional` returns its sequence in the order
it read it (last input step first); grutool's reverse cells, like Bidirectional, align outputs
with the input's time order. The final state is the same; such cells carry
`outputs_time_reversed = True` (in a stack, only the top cell: the cells below hand each other
aligned sequences).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..activations import UNKNOWN, known, named
from ..cells import FORWARD, MERGES, REVERSE, GruCell, Recognition, RecognitionHints, natural_key
from ..where import Where, gate_blocks
from .keras_config import source_layer_configs

if TYPE_CHECKING:
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("keras-gru", "keras-cudnn-gru")
KERAS_GRU, KERAS_CUDNN_GRU = LAYOUTS
ROLES = ("kernel", "recurrent_kernel", "bias")

KERAS3 = "Keras 3 weights"
OBJECT_CHECKPOINT = "TF 2 object checkpoint"
KERAS2_HDF5 = "Keras 2 HDF5"
PLAIN = "plain names"
# (variant, suffix per role), tried in this order.
NAMING_SCHEMES = (
    (KERAS3, ("vars/0", "vars/1", "vars/2")),
    (OBJECT_CHECKPOINT, ("kernel/.ATTRIBUTES/VARIABLE_VALUE",
                         "recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE",
                         "bias/.ATTRIBUTES/VARIABLE_VALUE")),
    (KERAS2_HDF5, ("kernel:0", "recurrent_kernel:0", "bias:0")),
    (PLAIN, ("kernel", "recurrent_kernel", "bias")),
)
BARE_CELL_NAME = "gru"
# A Keras 2 full-model .h5 keeps the optimizer's moments under the weights' own names here.
KERAS2_OPTIMIZER_GROUP = "optimizer_weights/"

_KERAS2_CELL = re.compile(r"^gru_cell(_\d+)?$")
_KERAS2_STACK = re.compile(r"^stacked_rnn_cells(_\d+)?$")
_NUMBERED = re.compile(r"^(.*?)(?:_(\d+))?$")

# --- activations -----------------------------------------------------------------------------
# Keras's activation names, per major version, as grutool names them. Each entry is checked
# against the framework's own function by tests/test_keras_gru.py.
_COMMON_ACTIVATIONS = {
    "tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu", "linear": "linear",
    "relu6": named("relu", max_value=6), "leaky_relu": named("leaky_relu", alpha=0.2),
    "elu": "elu", "selu": "selu", "softplus": "softplus", "softsign": "softsign",
    "exponential": "exponential", "silu": "silu", "swish": "silu",
}
KERAS2_ACTIVATIONS = {**_COMMON_ACTIVATIONS, "hard_sigmoid": "hard_sigmoid"}
KERAS3_ACTIVATIONS = {**_COMMON_ACTIVATIONS, "hard_sigmoid": "hard_sigmoid_keras3",
                      "celu": "elu"}  # celu's default alpha of 1 makes it elu
# Keras layers usable as activations, by class: (grutool family, {Keras parameter: grutool
# parameter}, Keras's defaults where they differ from grutool's).
_LAYER_ACTIVATIONS = {
    "ReLU": ("relu", {"max_value": "max_value", "negative_slope": "negative_slope",
                      "threshold": "threshold"}, {}),
    # Keras 3 says negative_slope, Keras 2 alpha; both default to 0.3.
    "LeakyReLU": ("leaky_relu", {"negative_slope": "alpha", "alpha": "alpha"}, {"alpha": 0.3}),
    "ELU": ("elu", {"alpha": "alpha"}, {}),
    "ThresholdedReLU": ("thresholded_relu", {"theta": "alpha"}, {"alpha": 1.0}),
}


def keras_activation(value: Any, keras: int | None) -> str:
    """grutool's name for an activation as Keras serialised it (`keras`: the major version
    that wrote it, None for a reading the user forced), or UNKNOWN."""
    table = KERAS3_ACTIVATIONS if keras == 3 else KERAS2_ACTIVATIONS
    if value is None:
        return "linear"
    if isinstance(value, str):
        if value in table:
            return table[value]
        return value if keras is None and known(value) else UNKNOWN
    if not isinstance(value, dict):
        return UNKNOWN
    module = value.get("module")
    if module is not None and not (isinstance(module, str) and (
            module in ("builtins", "keras", "tf_keras")
            or module.startswith(("keras.", "tf_keras.")))):
        return UNKNOWN  # a function or layer of the user's own
    class_name, inner = value.get("class_name"), value.get("config")
    if class_name == "function":
        # Keras's own functions as function objects; `builtins` is what Keras writes for them
        # (and for a user's function, whose name then is not one of Keras's).
        return table.get(inner, UNKNOWN) if isinstance(inner, str) else UNKNOWN
    if not isinstance(inner, dict):
        return UNKNOWN
    if class_name == "Activation":
        return keras_activation(inner.get("activation"), keras)
    if class_name not in _LAYER_ACTIVATIONS:
        return UNKNOWN
    family, parameters, defaults = _LAYER_ACTIVATIONS[class_name]
    params: dict[str, Any] = dict(defaults)
    for key, target in parameters.items():
        if inner.get(key) is not None:
            params[target] = _as_written(inner[key])
    if family == "relu" and params.get("threshold", 0) != 0:
        # Keras's ReLU with a threshold gives 0 at x == threshold, and clips (threshold, 0)
        # to 0 under a max_value; grutool's relu family does neither.
        return UNKNOWN
    return named(family, **params)


def _as_written(value: Any) -> Any:
    """A parameter as the user wrote it: tf_keras saves `LeakyReLU(alpha=0.1)`'s float32
    alpha as 0.10000000149011612, Keras 3 as 0.1; both compute with float32(0.1). A float
    that is exactly a float32 is read as that float32's shortest decimal, so that one layer
    has one name whichever Keras wrote it."""
    if isinstance(value, float):
        single = np.float32(value)
        if np.isfinite(single) and float(single) == value:
            return float(str(single))
    return value


def _shown(value: Any, limit: int = 200) -> str:
    """A serialised activation for a warning (without Keras's per-save object ids)."""
    if isinstance(value, dict):
        value = {key: item for key, item in value.items() if key != "shared_object_id"}
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class _Found:
    """A scope holding a kernel and a recurrent kernel, before it is placed in a module."""

    scope: str
    variant: str
    tensors: dict[str, str]
    name: str = ""
    module: str = ""
    direction: str = FORWARD
    # The path segment that gave the direction (`forward_layer`, `backward_gru`), if any.
    side: str | None = None
    stack_member: str | None = None
    layer: int = 0
    # The file's config: the whole layer (GRU, Bidirectional or stack), this cell's own
    # GRU-like part of it, and the cell's index in a stack's cell list.
    layer_config: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    member_index: int | None = None
    # Where the model runs this cell among the others (a sort key), and whether the file
    # states that place or it was inferred from names.
    position: tuple = ()
    stated: bool = False


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    names = set(infos)
    hints = hints or RecognitionHints()
    result = Recognition()
    if hints.layout not in (None, *LAYOUTS):
        return result  # the user named another family's layout
    layer_configs = {**source_layer_configs(source), **hints.keras_layers}
    weight_order: dict[str, tuple[int, int]] = getattr(source, "weight_order", None) or {}
    found = _find_scopes(infos, result)
    for item in found:
        result.claimed.update(tensor for tensor in item.tensors.values() if tensor in infos)
        result.claimed |= _slots(names, item)
    _place_all(found, weight_order)
    _attach_configs(found, layer_configs)
    _split_bidirectional_stacks(found, result.warnings)
    described = _Lazy(lambda: _described_by_metadata(source))
    _order_stacks(found, weight_order, result, described)
    _order_modules(found, weight_order, result, described)
    cells: list[GruCell] = []
    for item in found:
        cell = _cell(item, infos, source, hints.layout, result.warnings, _stack_top(item, found))
        if cell is not None:
            cells.append(cell)
    result.cells.extend(_checked_chains(cells, found, result))
    _merges(found, result, described)
    return result


def _find_scopes(infos: dict[str, TensorInfo], result: Recognition) -> list[_Found]:
    found: list[_Found] = []
    taken: set[str] = set()
    for variant, suffixes in NAMING_SCHEMES:
        kernel_suffix, recurrent_suffix, bias_suffix = suffixes
        for name in sorted(infos):
            if name in taken or not (name == kernel_suffix or name.endswith("/" + kernel_suffix)):
                continue
            scope = name[: -len(kernel_suffix)].rstrip("/")
            if variant == KERAS3 and not _is_keras3_cell_scope(scope):
                continue  # `vars/0` alone is any Keras 3 layer's first weight
            if variant == PLAIN and "/.OPTIMIZER_SLOT/" in name:
                continue
            tensors = {role: _join(scope, suffix) for role, suffix in zip(ROLES, suffixes, strict=True)}
            recurrent = infos.get(tensors["recurrent_kernel"])
            if recurrent is None or not _looks_like_gru_recurrent(recurrent):
                continue  # an LSTM, a SimpleRNN, a Dense: not ours, and left unclaimed
            if tensors["bias"] not in infos:
                del tensors["bias"]
            taken.update(tensors.values())
            if scope.startswith(KERAS2_OPTIMIZER_GROUP):
                result.claimed.update(tensors.values())  # optimizer state, not weights
                continue
            found.append(_Found(scope, variant, tensors))
    return found


def _join(scope: str, suffix: str) -> str:
    return f"{scope}/{suffix}" if scope else suffix


def _is_keras3_cell_scope(scope: str) -> bool:
    segments = scope.split("/")
    return segments[-1] == "cell" or (len(segments) >= 3 and segments[-2] == "cells")


def _looks_like_gru_recurrent(info: TensorInfo) -> bool:
    return info.ndim == 2 and info.shape[0] > 0 and info.shape[1] == 3 * info.shape[0]


def _slots(names: set[str], item: _Found) -> set[str]:
    """Optimizer state filed under a weight: `…/kernel/Adam` (TF 1) or
    `…/kernel/.OPTIMIZER_SLOT/…` (TF 2 object checkpoints)."""
    if item.variant not in (OBJECT_CHECKPOINT, PLAIN):
        return set()
    bases = [_join(item.scope, role) + "/" for role in ROLES]
    return {name for name in names if any(name.startswith(base) for base in bases)}


# --- where a cell sits ---------------------------------------------------------------------

def _place_all(found: list[_Found], weight_order: dict[str, tuple[int, int]]) -> None:
    for item in found:
        item.name, rest, item.stack_member = _cell_name_and_rest(item, weight_order)
        item.module = "/".join(rest)
    _set_directions(found)
    for item in found:
        if not item.module:
            item.module = item.name


def _cell_name_and_rest(item: _Found, weight_order: dict[str, tuple[int, int]]
                        ) -> tuple[str, list[str], str | None]:
    """The cell's name, the segments of its layer, and its name inside a StackedRNNCells."""
    segments = item.scope.split("/") if item.scope else []
    if item.variant == KERAS2_HDF5 or item.tensors["kernel"] in weight_order:
        # `model_weights/<layer>/<weight name>`: the weight name begins with the layer's name
        # again for a top-level layer; say it once.
        if segments[:1] == ["model_weights"]:
            segments = segments[1:]
        if len(segments) >= 2 and segments[0] == segments[1]:
            segments = segments[1:]
    name = "/".join(segments) or BARE_CELL_NAME
    if len(segments) >= 3 and segments[-2] == "cells" and segments[-3] == "cell":
        return name, segments[:-3], segments[-1]
    if len(segments) >= 2 and _KERAS2_STACK.match(segments[-2]):
        return name, segments[:-2], segments[-1]
    if segments and (segments[-1] == "cell" or _KERAS2_CELL.match(segments[-1])):
        return name, segments[:-1], None
    return name, segments, None


def _set_directions(found: list[_Found]) -> None:
    modules = {item.module for item in found}
    for item in found:
        head, _, last = item.module.rpartition("/")
        if last in ("forward_layer", "backward_layer"):
            item.direction = FORWARD if last == "forward_layer" else REVERSE
            item.module, item.side = head, last
            continue
        # Keras 2 names a Bidirectional's layers `forward_<name>` and `backward_<name>`; a
        # layer merely named `forward_x` has no twin, and keeps its name.
        for prefix, twin, direction in (("forward_", "backward_", FORWARD),
                                        ("backward_", "forward_", REVERSE)):
            if head and last.startswith(prefix) and f"{head}/{twin}{last[len(prefix):]}" in modules:
                item.direction = direction
                item.module, item.side = head, last


def _attach_configs(found: list[_Found], layer_configs: dict[str, dict[str, Any]]) -> None:
    """Give each cell its layer's config (the longest layer_configs key that is a prefix of
    its scope), resolved to the direction and, in a stack, to the cell: by the group the
    config says the cell's weights sit in, or by a TF object checkpoint's index."""
    entry: dict[str, Any] | None
    for item in found:
        best = None
        for key, entry in layer_configs.items():
            if "class_name" not in entry:
                continue
            if (item.scope == key or item.scope.startswith(key + "/")) \
                    and (best is None or len(key) > len(best)):
                best = key
        if best is None:
            continue
        item.layer_config = entry = layer_configs[best]
        if entry.get("class_name") == "Bidirectional":
            entry = entry.get("backward" if item.direction == REVERSE else "forward")
            if not isinstance(entry, dict):
                continue
        if isinstance(entry.get("cells"), list):
            item.member_index = _member_index(item, entry["cells"])
            entry = entry["cells"][item.member_index] if item.member_index is not None else None
        elif item.stack_member is not None:
            entry = None  # a stack in the file, one cell in the config: not this config
        item.config = entry if isinstance(entry, dict) else None


def _member_index(item: _Found, cells: list[Any]) -> int | None:
    if item.stack_member is None:
        return None
    for index, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("member") == item.stack_member:
            return index
    if item.variant == OBJECT_CHECKPOINT and item.stack_member.isdigit():
        index = int(item.stack_member)
        return index if index < len(cells) and isinstance(cells[index], dict) else None
    return None


def _split_bidirectional_stacks(found: list[_Found], warnings: list[str]) -> None:
    """`Bidirectional(RNN(StackedRNNCells(…)))` runs each direction's stack whole and merges
    at the end: the upper cells of one direction never see the other's outputs, unlike the
    layers of one bidirectional module. Each direction's stack becomes a module of its own."""
    stacked = {item.module for item in found if item.stack_member is not None and item.side}
    for module in sorted(stacked):
        sides = {item.side for item in found if item.module == module and item.side}
        if len(sides) < 2:
            continue
        for item in found:
            if item.module == module and item.side:
                item.module = f"{module}/{item.side}"
        warnings.append(f"{module}: a Bidirectional over stacked cells runs each direction's "
                        "stack whole and merges them at the end; grutool reads the two stacks "
                        "as modules of their own and does not model their merge")


class _Lazy:
    """A yes/no worked out the first time it is asked (reading metadata costs a read)."""

    def __init__(self, compute: Callable[[], bool]):
        self._compute = compute
        self._value: bool | None = None

    def __bool__(self) -> bool:
        if self._value is None:
            self._value = bool(self._compute())
        return self._value


def _described_by_metadata(source: TensorSource) -> bool:
    """grutool's own metadata places the cells (a converted file); names need not."""
    from .canonical import read_metadata

    return isinstance(read_metadata(source).get("cells"), dict)


# --- order -----------------------------------------------------------------------------------

def _order_stacks(found: list[_Found], weight_order: dict[str, tuple[int, int]],
                  result: Recognition, described: _Lazy) -> None:
    """Number each stack's cells bottom first, in the order the file states."""
    stacks: dict[tuple[str, str], list[_Found]] = {}
    for item in found:
        if item.stack_member is not None:
            stacks.setdefault((item.module, item.direction), []).append(item)
    for (module, _), members in stacks.items():
        key, stated = _member_key(members, weight_order)
        members.sort(key=key)
        for index, item in enumerate(members):
            item.layer = index
        if not stated and len(members) > 1 and not described:
            result.order_assumed.add(module)
            shown = ", ".join(item.stack_member or "" for item in members)
            result.warnings.append(
                f"{module}: the file does not state the order of its stacked cells; inferred "
                f"from their names, bottom first: {shown}")


def _member_key(members: list[_Found], weight_order: dict[str, tuple[int, int]]
                ) -> tuple[Callable[[_Found], Any], bool]:
    """How to order a stack's cells, and whether the file states that order: the config's
    cell list, a Keras 2 file's weight list, a TF object checkpoint's `cells/N`, Keras 3's
    per-class counters (`gru_cell`, `gru_cell_1`: assigned in list order); else the names."""
    if all(item.member_index is not None for item in members):
        return lambda item: item.member_index, True
    if all(item.tensors["kernel"] in weight_order for item in members):
        return lambda item: weight_order[item.tensors["kernel"]], True
    segments = [item.stack_member or "" for item in members]
    if all(item.variant == OBJECT_CHECKPOINT for item in members) \
            and all(segment.isdigit() for segment in segments):
        return lambda item: int(item.stack_member or 0), True
    if all(item.variant == KERAS3 for item in members) and _one_counter(segments):
        return lambda item: _counter(item.stack_member or ""), True
    return lambda item: natural_key(item.stack_member or ""), False


def _counter(segment: str) -> tuple[str, int]:
    match = _NUMBERED.match(segment)
    assert match is not None  # the pattern matches every string
    return match.group(1), int(match.group(2) or 0)


def _one_counter(segments: list[str]) -> bool:
    """Keras's counters of one class (`gru`, `gru_1`, `gru_2`): list order, as Keras 3 names
    what it saves."""
    return len({_counter(segment)[0] for segment in segments}) == 1


def _order_modules(found: list[_Found], weight_order: dict[str, tuple[int, int]],
                   result: Recognition, described: _Lazy) -> None:
    """Sort the cells into model order: modules as the file runs them, each bottom layer
    first, forward before reverse."""
    for item in found:
        item.position, item.stated = _position(item, weight_order)
    modules: dict[str, list[_Found]] = {}
    for item in found:
        modules.setdefault(item.module, []).append(item)
    first = {name: min(item.position for item in items) for name, items in modules.items()}
    found.sort(key=lambda item: (first[item.module], item.module, item.layer,
                                 item.direction != FORWARD))
    guessed = [name for name, items in modules.items() if not all(i.stated for i in items)]
    if len(modules) < 2 or not guessed or described:
        return
    variants = {item.variant for name in guessed for item in modules[name]}
    if not variants & {KERAS3, KERAS2_HDF5}:
        return  # plain names: file order, as for any file that keeps no model of its own
    if len(guessed) == len(modules) and variants == {KERAS3} and _one_container_counter(guessed):
        return
    ordered = sorted(guessed, key=lambda name: first[name])
    result.order_assumed.update(guessed)
    result.warnings.append("the file does not state the order of its layers; the modules "
                           f"{', '.join(ordered)} are listed in an order inferred from their "
                           "names")


def _position(item: _Found, weight_order: dict[str, tuple[int, int]]) -> tuple[tuple, bool]:
    kernel = item.tensors["kernel"]
    if kernel in weight_order:
        return (0, weight_order[kernel]), True
    if item.layer_config is not None and isinstance(item.layer_config.get("order"), int):
        return (0, (item.layer_config["order"], 0)), True
    if item.variant == OBJECT_CHECKPOINT:  # layer_with_weights-N, _operations/N: Keras's own
        return (1, natural_key(item.scope)), True
    return (2, natural_key(item.module)), False


def _one_container_counter(modules: list[str]) -> bool:
    """Keras 3 groups of one class in one container (`layers/gru`, `layers/gru_1`): their
    counters give the layer list's order."""
    containers = {module.rpartition("/")[0] for module in modules}
    return len(containers) == 1 and _one_counter([m.rpartition("/")[2] for m in modules])


def _stack_top(item: _Found, found: list[_Found]) -> bool:
    """Whether the cell is the top of its stack (or no stack member at all)."""
    if item.stack_member is None:
        return True
    return item.layer == max(other.layer for other in found
                             if (other.module, other.direction) == (item.module, item.direction)
                             and other.stack_member is not None)


def _checked_chains(cells: list[GruCell], found: list[_Found],
                    result: Recognition) -> list[GruCell]:
    """Each layer of a stack must read the units of the layer below. A module whose order
    contradicts its shapes cannot run as one: its cells become modules of their own."""
    by_module: dict[str, list[GruCell]] = {}
    for cell in cells:
        by_module.setdefault(cell.module, []).append(cell)
    from_config: dict[str, bool] = {}
    for item in found:
        from_config[item.module] = from_config.get(item.module, False) \
            or item.member_index is not None
    for module, members in by_module.items():
        layers: dict[int, list[GruCell]] = {}
        for cell in members:
            layers.setdefault(cell.layer, []).append(cell)
        ordered = [layers[k] for k in sorted(layers)]
        for below, above in zip(ordered, ordered[1:], strict=False):
            width = sum(cell.hidden_size for cell in below)
            wrong = [cell for cell in above if cell.input_size != width]
            if not wrong:
                continue
            if from_config.get(module):
                source = "the model's config stacks"
            elif module in result.order_assumed:
                source = "the order inferred from the names puts"
            else:
                source = "the file stacks"
            result.warnings.append(
                f"{module}: {source} {wrong[0].name} ({wrong[0].input_size} inputs) on "
                f"{below[0].name} ({width} units), which cannot run; its cells are listed as "
                "modules of their own")
            result.order_assumed.discard(module)
            for cell in members:
                cell.module, cell.layer = cell.name, 0
            break
    return cells


def _merges(found: list[_Found], result: Recognition, described: _Lazy) -> None:
    """A Bidirectional's merge_mode, for modules that hold both its directions."""
    directions: dict[str, set[str]] = {}
    configs: dict[str, dict[str, Any] | None] = {}
    for item in found:
        directions.setdefault(item.module, set()).add(item.direction)
        if item.side is not None:
            configs.setdefault(item.module, item.layer_config)
    for module, config in configs.items():
        if directions.get(module) != {FORWARD, REVERSE}:
            continue
        if config is None or config.get("class_name") != "Bidirectional":
            if described:
                continue  # grutool's metadata says it
            result.warnings.append(f"{module}: the file does not say how the two directions "
                                   "merge (Keras's default is concat); left unstated")
            continue
        mode = config.get("merge_mode", "concat")
        merge = "none" if mode is None else mode
        if merge not in MERGES:
            result.warnings.append(f"{module}: merge_mode {mode!r} is not one grutool knows; "
                                   "left unstated")
            continue
        result.merges[module] = merge


# --- the cell ------------------------------------------------------------------------------

def _cell(item: _Found, infos: dict[str, TensorInfo], source: TensorSource,
          forced_layout: str | None, warnings: list[str], stack_top: bool) -> GruCell | None:
    kernel = infos.get(item.tensors["kernel"])
    recurrent = infos[item.tensors["recurrent_kernel"]]
    bias = infos.get(item.tensors.get("bias", ""))
    hidden = recurrent.shape[0]
    label = item.name
    if kernel is None:
        warnings.append(f"{label}: looks like a Keras GRU but {item.tensors['kernel']} is "
                        "missing; skipped")
        return None
    if kernel.ndim != 2 or kernel.shape[1] != 3 * hidden:
        warnings.append(f"{label}: looks like a Keras GRU but {kernel.name} is "
                        f"{list(kernel.shape)}, not [I, {3 * hidden}] for {hidden} units; skipped")
        return None
    from_config = item.config is not None
    config = item.config or {}
    layout, reset_after, how = _layout_and_reset(item, bias, hidden, config, forced_layout,
                                                 warnings)
    if layout is None:
        return None
    units = config.get("units")
    if from_config and units is not None and units != hidden:
        warnings.append(f"{label}: the config says {units} units but "
                        f"{recurrent.name} is {list(recurrent.shape)}; skipped")
        return None
    keras = (item.layer_config or {}).get("keras", 2) if from_config else None
    activations = {}
    for role, default in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        value = config.get(role, default)
        activations[role] = keras_activation(value, keras)
        if activations[role] == UNKNOWN:
            warnings.append(f"{label}: {role.replace('_', ' ')} {_shown(value)} is not a "
                            f"function grutool can compute exactly; read as {UNKNOWN}, which no "
                            "conversion or check can use")
    direction = item.direction
    extra: dict[str, Any] = {"bias_shape": list(bias.shape) if bias is not None else None}
    if from_config:
        extra["structure_from_file"] = True
    time_reversed = False
    if config.get("go_backwards") and item.direction == FORWARD:
        direction = REVERSE
        # Outputs come last-read first; in a stack the cells below hand each other aligned
        # sequences, and only the top cell's come out reversed.
        time_reversed = stack_top
    if source.format == "npz" and not item.scope and not forced_layout:
        orientation = "cuDNN blocks" if layout == KERAS_CUDNN_GRU else "x @ W"
        warnings.append(f"{label}: bare tensors kernel, recurrent_kernel"
                        f"{', bias' if bias is not None else ''} with nothing to name their "
                        f"framework; assumed {layout} (gate order z, r, h, {orientation}"
                        f"{', reset_after' if reset_after else ', reset before'}); force another "
                        "reading with --layout")
    source_tensors = [item.tensors[role] for role in ROLES if role in item.tensors]
    variant = item.variant + ("" if how in ("config", "cudnn") else f"; reset_after {how}")
    return GruCell(
        name=item.name, module=item.module, layer=item.layer, direction=direction,
        layout=layout, input_size=kernel.shape[0], hidden_size=hidden,
        reset_after=reset_after, dtype=kernel.dtype, source_tensors=source_tensors,
        roles=dict(item.tensors), extra=extra, variant=variant,
        activation=activations["activation"],
        recurrent_activation=activations["recurrent_activation"],
        outputs_time_reversed=time_reversed,
    )


def _layout_and_reset(item: _Found, bias: TensorInfo | None, hidden: int,
                      config: dict[str, Any], forced_layout: str | None,
                      warnings: list[str]) -> tuple[str | None, bool, str]:
    """(layout, reset_after, where reset_after came from), or (None, …) after a warning.
    `config`: the cell's part of its layer's config ({} when the file has none)."""
    label = item.name
    said_cudnn = config.get("class_name") == "CuDNNGRU" or forced_layout == KERAS_CUDNN_GRU
    said_reset = config.get("reset_after")
    if bias is None:
        if said_cudnn:
            warnings.append(f"{label}: a CuDNNGRU always has a bias, and "
                            f"{item.tensors.get('bias', 'bias')} is missing; skipped")
            return None, False, ""
        if said_reset is not None:
            return KERAS_GRU, bool(said_reset), "config"
        warnings.append(f"{label}: no bias and no config to say where the reset gate acts; "
                        "assumed reset_after=True (the Keras default)")
        return KERAS_GRU, True, "assumed (no bias, no config)"
    if bias.shape == (6 * hidden,):
        if said_reset is False:
            warnings.append(f"{label}: the config says reset_after=False but {bias.name} is "
                            f"{list(bias.shape)}, a CuDNNGRU bias; skipped")
            return None, False, ""
        return KERAS_CUDNN_GRU, True, "cudnn"
    if said_cudnn:
        warnings.append(f"{label}: read as a CuDNNGRU but {bias.name} is {list(bias.shape)}, "
                        f"not [{6 * hidden}]; skipped")
        return None, False, ""
    if bias.shape == (2, 3 * hidden):
        shape_says = True
    elif bias.shape == (3 * hidden,):
        shape_says = False
    else:
        warnings.append(f"{label}: looks like a Keras GRU but {bias.name} is "
                        f"{list(bias.shape)}, not [{3 * hidden}], [2, {3 * hidden}] or "
                        f"[{6 * hidden}]; skipped")
        return None, False, ""
    if said_reset is not None and bool(said_reset) != shape_says:
        warnings.append(f"{label}: the config says "
                        f"reset_after={bool(said_reset)} but {bias.name} is "
                        f"{list(bias.shape)}; skipped")
        return None, False, ""
    how = "config" if said_reset is not None else "inferred from the bias shape"
    return KERAS_GRU, shape_says, how


def where(cell: GruCell) -> dict[str, Where]:
    inputs, hidden = cell.input_size, cell.hidden_size
    kernel, recurrent = cell.roles["kernel"], cell.roles["recurrent_kernel"]
    if cell.layout == KERAS_CUDNN_GRU:
        # Each gate block holds cuDNN's row-major [H, rows] matrix, not x @ W.
        wheres = {f"W_{side}{gate}": Where(tensor, ((0, rows), (k * hidden, (k + 1) * hidden)),
                                           reshape=(hidden, rows), transpose=True)
                  for side, tensor, rows in (("i", kernel, inputs), ("h", recurrent, hidden))
                  for k, gate in enumerate("zrn")}
    else:
        wheres = {**gate_blocks(kernel, (inputs, 3 * hidden), "zrn", "W_i"),
                  **gate_blocks(recurrent, (hidden, 3 * hidden), "zrn", "W_h")}
    if "bias" not in cell.roles:
        return wheres
    bias, shape = cell.roles["bias"], tuple(cell.extra.get("bias_shape") or ())
    if shape == (2, 3 * hidden):  # reset_after: row 0 input, row 1 recurrent
        wheres.update(gate_blocks(bias, (3 * hidden,), "zrn", "b_i", fixed=(0,)))
        wheres.update(gate_blocks(bias, (3 * hidden,), "zrn", "b_h", fixed=(1,)))
    elif cell.layout == KERAS_CUDNN_GRU or shape == (6 * hidden,):  # input, then recurrent
        wheres.update(gate_blocks(bias, (3 * hidden,), "zrn", "b_i"))
        wheres.update(gate_blocks(bias, (3 * hidden,), "zrn", "b_h", offset=3 * hidden))
    else:
        wheres.update(gate_blocks(bias, (3 * hidden,), "zrn", "b_i"))
    return wheres
