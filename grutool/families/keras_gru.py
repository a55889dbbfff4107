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
    Keras 2 .h5 (tf_keras)         [model_weights/]gru/gru/gru_cell/kernel:0, recurrent_kernel:0, bias:0
                                   bidirectional/bidirectional/forward_gru/gru_cell/…, backward_gru
                                   rnn/rnn/stacked_rnn_cells/gru_cell_1/…, cu_dnngru/cu_dnngru/kernel:0
    TF 2 object checkpoints        [model/]layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE
                                   model/_operations/1/forward_layer/cell/…, …/cell/cells/0/…
    plain names (TF 1 graphs, npz) gru/gru_cell/kernel, …; or bare kernel, recurrent_kernel, bias

A layer's config (a `.keras` archive's `config.json`, a Keras 2 `.h5`'s `model_config`, in
`source.layer_configs`) outranks the shapes: reset_after when there is no bias, activations,
go_backwards. `layer_configs["*"]` forces a reading on files that cannot tell
(`{"layout": "keras-cudnn-gru"}`, `{"reset_after": False, "activation": "relu"}`, …).

A Keras GRU with `go_backwards=True` outside `Bidirectional` returns its sequence in the order
it read it (last input step first); grutool's reverse cells, like Bidirectional, align outputs
with the input's time order. The final state is the same; such cells carry
`outputs_time_reversed = True`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..cells import FORWARD, REVERSE, GruCell, Recognition
from ..where import Where, gate_blocks
from ..gru import ACTIVATIONS

if TYPE_CHECKING:
    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("keras-gru", "keras-cudnn-gru")
KERAS_GRU, KERAS_CUDNN_GRU = LAYOUTS
FORCED_KEY = "*"
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


@dataclass
class _Found:
    """A scope holding a kernel and a recurrent kernel, before it is placed in a module."""

    scope: str
    variant: str
    tensors: dict[str, str]
    name: str = ""
    module: str = ""
    direction: str = FORWARD
    stack_member: str | None = None
    layer: int = 0


def recognise(source: "TensorSource", unclaimed: list["TensorInfo"]) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    names = set(infos)
    forced = source.layer_configs.get(FORCED_KEY) or {}
    result = Recognition()
    if forced.get("layout") not in (None, *LAYOUTS):
        return result  # the user named another family's layout
    found = _find_scopes(infos, result)
    _place_all(found)
    for item in found:
        present = [tensor for tensor in item.tensors.values() if tensor in infos]
        result.claimed.update(present)
        result.claimed |= _slots(names, item)
        cell = _cell(item, infos, source, forced, result.warnings)
        if cell is not None:
            result.cells.append(cell)
    return result


def _find_scopes(infos: dict[str, "TensorInfo"], result: Recognition) -> list[_Found]:
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
            tensors = {role: _join(scope, suffix) for role, suffix in zip(ROLES, suffixes)}
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


def _looks_like_gru_recurrent(info: "TensorInfo") -> bool:
    return info.ndim == 2 and info.shape[0] > 0 and info.shape[1] == 3 * info.shape[0]


def _slots(names: set[str], item: _Found) -> set[str]:
    """Optimizer state filed under a weight: `…/kernel/Adam` (TF 1) or
    `…/kernel/.OPTIMIZER_SLOT/…` (TF 2 object checkpoints)."""
    if item.variant not in (OBJECT_CHECKPOINT, PLAIN):
        return set()
    bases = [_join(item.scope, role) + "/" for role in ROLES]
    return {name for name in names if any(name.startswith(base) for base in bases)}


# --- where a cell sits ---------------------------------------------------------------------

def _place_all(found: list[_Found]) -> None:
    for item in found:
        item.name, rest, item.stack_member = _cell_name_and_rest(item)
        item.module = "/".join(rest)
    _set_directions(found)
    for item in found:
        if not item.module:
            item.module = item.name
    _rank_stack_members(found)


def _cell_name_and_rest(item: _Found) -> tuple[str, list[str], str | None]:
    """The cell's name, the segments of its layer, and its name inside a StackedRNNCells."""
    segments = item.scope.split("/") if item.scope else []
    if item.variant == KERAS2_HDF5:
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
            item.module = head
            continue
        # Keras 2 names a Bidirectional's layers `forward_<name>` and `backward_<name>`; a
        # layer merely named `forward_x` has no twin, and keeps its name.
        for prefix, twin, direction in (("forward_", "backward_", FORWARD),
                                        ("backward_", "forward_", REVERSE)):
            if head and last.startswith(prefix) and f"{head}/{twin}{last[len(prefix):]}" in modules:
                item.direction = direction
                item.module = head


def _rank_stack_members(found: list[_Found]) -> None:
    members: dict[tuple[str, str], list[_Found]] = {}
    for item in found:
        if item.stack_member is not None:
            members.setdefault((item.module, item.direction), []).append(item)
    for group in members.values():
        group.sort(key=lambda item: _member_order(item.stack_member or ""))
        for index, item in enumerate(group):
            item.layer = index


def _member_order(member: str) -> tuple[str, int]:
    # `0`, `1`, … in object checkpoints; `gru_cell`, `gru_cell_1`, … in HDF5.
    if member.isdigit():
        return ("", int(member))
    match = _NUMBERED.match(member)
    assert match is not None  # the pattern matches every string
    return (match.group(1), int(match.group(2) or -1))


# --- config --------------------------------------------------------------------------------

def _config_for(item: _Found, layer_configs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The GRU-like config of this cell: the longest layer_configs key that is a prefix of its
    scope, resolved to the direction or stack member."""
    best = None
    for key in layer_configs:
        if key != FORCED_KEY and (item.scope == key or item.scope.startswith(key + "/")):
            if best is None or len(key) > len(best):
                best = key
    if best is None:
        return None
    entry = layer_configs[best]
    if entry.get("class_name") == "Bidirectional":
        entry = entry.get("backward" if item.direction == REVERSE else "forward")
    elif "cells" in entry:
        cells = entry["cells"]
        entry = cells[item.layer] if item.layer < len(cells) else None
    return entry if isinstance(entry, dict) else None


# --- the cell ------------------------------------------------------------------------------

def _cell(item: _Found, infos: dict[str, "TensorInfo"], source: "TensorSource",
          forced: dict[str, Any], warnings: list[str]) -> GruCell | None:
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
    config = _config_for(item, source.layer_configs)
    from_config = config is not None
    config = {**forced, **(config or {})}  # a real config outranks a forced reading
    layout, reset_after, how = _layout_and_reset(item, bias, hidden, config, from_config,
                                                 forced, warnings)
    if layout is None:
        return None
    units = config.get("units")
    if from_config and units is not None and units != hidden:
        warnings.append(f"{label}: the config says {units} units but "
                        f"{recurrent.name} is {list(recurrent.shape)}; skipped")
        return None
    activation = str(config.get("activation", "tanh"))
    recurrent_activation = str(config.get("recurrent_activation", "sigmoid"))
    for role, value in (("activation", activation), ("recurrent_activation", recurrent_activation)):
        if value not in ACTIVATIONS:
            warnings.append(f"{label}: {role} {value!r} is not one grutool's reference GRU "
                            f"computes ({', '.join(ACTIVATIONS)}); its outputs cannot be checked")
    direction = item.direction
    extra: dict[str, Any] = {"bias_shape": list(bias.shape) if bias is not None else None,
                             "reset_after_from": how}
    time_reversed = False
    if config.get("go_backwards") and item.direction == FORWARD:
        direction = REVERSE
        time_reversed = True
    if source.format == "npz" and not item.scope and not forced.get("layout"):
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
        roles=dict(item.tensors), extra=extra, variant=variant, activation=activation,
        recurrent_activation=recurrent_activation, outputs_time_reversed=time_reversed,
    )


def _layout_and_reset(item: _Found, bias: "TensorInfo | None", hidden: int,
                      config: dict[str, Any], from_config: bool, forced: dict[str, Any],
                      warnings: list[str]) -> tuple[str | None, bool, str]:
    """(layout, reset_after, where reset_after came from), or (None, …) after a warning."""
    label = item.name
    said_cudnn = config.get("class_name") == "CuDNNGRU" or forced.get("layout") == KERAS_CUDNN_GRU
    said_reset = config.get("reset_after")
    if bias is None:
        if said_cudnn:
            warnings.append(f"{label}: a CuDNNGRU always has a bias, and "
                            f"{item.tensors.get('bias', 'bias')} is missing; skipped")
            return None, False, ""
        if said_reset is not None:
            return KERAS_GRU, bool(said_reset), "config" if from_config else "forced"
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
        warnings.append(f"{label}: the {'config' if from_config else 'forced reading'} says "
                        f"reset_after={bool(said_reset)} but {bias.name} is "
                        f"{list(bias.shape)}; skipped")
        return None, False, ""
    how = "config" if from_config and said_reset is not None else "inferred from the bias shape"
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
