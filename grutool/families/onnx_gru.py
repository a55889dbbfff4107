"""The ONNX `GRU` operator, from the GRU nodes of the graph the ONNX reader lists (`source.graph`).

    W [D, 3H, I]   rows: z | r | h, applied as W @ x     D = 2 when bidirectional:
    R [D, 3H, H]                                         index 0 forward, 1 reverse
    B [D, 6H]      Wb (z | r | h) then Rb (z | r | h)    optional, zero when absent

`linear_before_reset = 1` computes h~ = g(x Wh + Wbh + r * (h Rh + Rbh)) (reset after, as
PyTorch exports it); 0, the default, computes g(x Wh + (r * h) Rh + Rbh + Wbh) (reset before).
`layout` only changes how X and Y are laid out, never the weights. `clip` has no canonical
equivalent, so a clipped node is reported and skipped.

Names. A node's forward cell is named after the node, its reverse cell `<node>_reverse`,
and a module after its bottom node; the node name is used without its leading `/` and
without empty or `.` parts (torch's exporter writes `/GRU`, `/rnn/GRU_1`: the cells are
`GRU`, `GRU_reverse`, `rnn/GRU_1`), so that `<cell name>/W_ir` is a key every split format
keeps as written. `source_tensors` keep the file's own names.

Activations. `activations` lists f (the z and r gates: grutool's recurrent activation) and
g (the candidate: grutool's activation) per direction. `activation_alpha` and
`activation_beta` are consumed in order, each value by the next activation that takes that
parameter (HardSigmoid, Affine, ScaledTanh take alpha and beta; LeakyRelu, ThresholdedRelu,
Elu alpha only; the others none), as onnxruntime does. When a list runs out, LeakyRelu
(0.01), HardSigmoid (0.2, 0.5) and Elu (1.0) take the defaults the ONNX spec and
onnxruntime agree on; Affine, ScaledTanh and ThresholdedRelu have none they agree on, so such
a node is reported and skipped, as is one with values left over or another activation.
Parameters are stored as float32: grutool reads each as the shortest decimal that float32
stands for, and HardSigmoid's alpha float32(1/6) as 1/6 (Keras 3's hard sigmoid, x/6 + 1/2).

Structure. The graph says how nodes connect, and only the patterns exporters write (and
grutool's own ONNX target) are read as structure; anything else between two nodes leaves
them separate modules:

- Layers. Node B is the layer above node A when B's `X` is computed from A's `Y` by exactly
  one of: Transpose perm=[0,2,1,3] then Reshape to [0, 0, -1] (torch, both D; the
  directions concatenated); Squeeze of axis 1 (torch, D = 1); ReduceSum, ReduceMean or
  ReduceProd over axis 1 with keepdims=0 (D = 2: the directions summed, averaged or
  multiplied: grutool's target for Keras's merge modes); each optionally with Identity or
  an inference Dropout in between, and at most one Slice that reverses the time axis
  (starts -1, ends below -2^31, step -1 on axis 0: the outputs run last-read first). A's `Y`
  must feed no other GRU node, and B must read exactly A's output width.
- The top layer's output. The same patterns after the top node's `Y` (as far as they go)
  give the module's merge and whether its outputs run last-read first.
- A bidirectional module's merge: that of its links and of its top node's output, which must
  agree (a link or top that merges otherwise starts a new module); a `Y` that no pattern
  merges counts as `concat`, as an ONNX GRU's `Y` holds both directions' outputs side by side.

Modules come in the graph's node order (ONNX keeps nodes topologically sorted); cells by
layer, forward before reverse. Every cell records `structure_from_file`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..activations import UNKNOWN, named
from ..cells import FORWARD, REVERSE, GruCell, Recognition
from ..where import Where, gate_blocks

if TYPE_CHECKING:
    from ..cells import RecognitionHints
    from ..tensors import GraphNode, ModelGraph, TensorInfo, TensorSource

LAYOUTS = ("onnx-gru",)
DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh"]
# ONNX activation (lower case) -> (grutool's family name, the parameters it takes, in order).
ACTIVATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sigmoid": ("sigmoid", ()), "tanh": ("tanh", ()), "relu": ("relu", ()),
    "softsign": ("softsign", ()), "softplus": ("softplus", ()),
    "hardsigmoid": ("hard_sigmoid", ("alpha", "beta")),
    "leakyrelu": ("leaky_relu", ("alpha",)),
    "thresholdedrelu": ("thresholded_relu", ("alpha",)),
    "elu": ("elu", ("alpha",)),
    "scaledtanh": ("scaled_tanh", ("alpha", "beta")),
    "affine": ("affine", ("alpha", "beta")),
}
# Defaults for a parameter the lists do not give, where the ONNX spec (the defaults of the
# op of that name) and onnxruntime (rnn_helpers.cc) agree.
AGREED_DEFAULTS = {"hardsigmoid": {"alpha": 0.2, "beta": 0.5}, "leakyrelu": {"alpha": 0.01},
                   "elu": {"alpha": 1.0}}
# Parametrised ONNX activations that are exactly a plain one: one function, one name.
PLAIN_EQUIVALENTS = {("affine", (1.0, 0.0)): "linear", ("scaled_tanh", (1.0, 1.0)): "tanh",
                     ("leaky_relu", (0.0,)): "relu", ("thresholded_relu", (0.0,)): "relu"}
# A time-reversing Slice starts at the last step and ends before the first, whatever the
# length: -1 (or any start at or past INT32_MAX) to any end at or below INT32_MIN.
_FAR = 2**31 - 1


def recognise(source: TensorSource, unclaimed: list[TensorInfo],
              hints: RecognitionHints | None = None) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    nodes = gru_nodes(source.graph)
    order = sorted(nodes, key=lambda n: nodes[n].get("node_index", 0))
    cells_by_node: dict[str, list[GruCell]] = {}
    bases: dict[str, str] = {}
    for node_name in order:
        base = cell_base(node_name)
        # Two node names may differ only in what the cell name drops ("a//b", "a/b").
        count = 1
        while base in bases.values():
            count += 1
            base = f"{cell_base(node_name)}#{count}"
        bases[node_name] = base
        cells = _cells_of_node(node_name, base, nodes[node_name], infos, result)
        if cells:
            cells_by_node[node_name] = cells
    for chain, links in _chains(nodes, cells_by_node, order):
        top = chain[-1]
        top_reading = _longest(_readings(_ops(nodes[top], "output_path"),
                                         len(cells_by_node[top]), nodes[top].get("opset")))
        module = bases[chain[0]]
        for layer, node_name in enumerate(chain):
            reading = links[layer] if layer < len(links) else top_reading
            for cell in cells_by_node[node_name]:
                cell.module, cell.layer = module, layer
                cell.outputs_time_reversed = reading.reversed
                result.cells.append(cell)
        if len(cells_by_node[chain[0]]) == 2:
            merges = [reading.merge for reading in [*links, top_reading] if reading.merge]
            result.merges[module] = merges[0] if merges else "concat"
    return result


def cell_base(node_name: str) -> str:
    """The node's name as grutool names its forward cell (the reverse one adds `_reverse`):
    no leading `/`, no empty or `.` parts."""
    parts = [part for part in node_name.split("/") if part not in ("", ".")]
    return "/".join(parts) or "GRU"


def _cells_of_node(node_name: str, base: str, config: dict[str, Any],
                   infos: dict[str, TensorInfo], result: Recognition) -> list[GruCell]:
    inputs, attributes = config["inputs"], config["attributes"]
    tensors = {role: inputs[role] for role in ("W", "R", "B") if inputs.get(role)}
    missing = [f"{role} ({tensors[role]})" for role in ("W", "R") if role in tensors
               and tensors[role] not in infos] + [role for role in ("W", "R") if role not in tensors]
    if "B" in tensors and tensors["B"] not in infos:
        missing.append(f"B ({tensors['B']})")
    if missing:
        result.warnings.append(f"{node_name}: GRU node whose {', '.join(missing)} is not a "
                               "constant grutool can read (computed at run time?); skipped")
        return []
    result.claimed.update(tensors.values())
    w, r = infos[tensors["W"]], infos[tensors["R"]]
    b = infos.get(tensors.get("B", ""))
    direction = attributes.get("direction") or "forward"
    directions = {"forward": [FORWARD], "reverse": [REVERSE],
                  "bidirectional": [FORWARD, REVERSE]}.get(direction)
    problem = _problem(w, r, b, directions, attributes)
    if directions is None:
        problem = f"direction {direction!r} is not one ONNX defines"
    if problem or directions is None:
        result.warnings.append(f"{node_name}: GRU node {problem}; skipped")
        return []
    hidden = r.shape[2]
    if inputs.get("initial_h") in infos:
        result.warnings.append(f"{node_name}: GRU node starts from a stored initial state "
                               f"{inputs['initial_h']}; the split keeps the weights only")
    activations = _activations(attributes, len(directions))
    if isinstance(activations, str):
        result.warnings.append(f"{node_name}: GRU node {activations}; skipped")
        return []
    cells = []
    for index, cell_direction in enumerate(directions):
        recurrent_activation, activation = activations[index]
        cells.append(GruCell(
            name=base if cell_direction == FORWARD else f"{base}_reverse", module=base, layer=0,
            direction=cell_direction,
            layout=LAYOUTS[0], input_size=w.shape[2], hidden_size=hidden,
            reset_after=bool(attributes.get("linear_before_reset", 0)), dtype=w.dtype,
            source_tensors=list(tensors.values()), roles=dict(tensors),
            extra={"direction_index": index, "structure_from_file": True},
            variant="ONNX GRU node", activation=activation,
            recurrent_activation=recurrent_activation,
        ))
    return cells


def _problem(w: TensorInfo, r: TensorInfo, b: TensorInfo | None,
             directions: list[str] | None, attributes: dict[str, Any]) -> str | None:
    if attributes.get("clip") is not None:
        return (f"clips its gate inputs at {attributes['clip']}, which the canonical GRU "
                "cannot express")
    if w.ndim != 3 or r.ndim != 3:
        return f"has W {list(w.shape)} and R {list(r.shape)}, not 3-D"
    hidden = r.shape[2]
    count = len(directions or [FORWARD])
    if r.shape != (count, 3 * hidden, hidden):
        return f"has R {list(r.shape)}, not [{count}, {3 * hidden}, {hidden}]"
    if w.shape[:2] != (count, 3 * hidden):
        return f"has W {list(w.shape)}, not [{count}, {3 * hidden}, input_size]"
    if b is not None and b.shape != (count, 6 * hidden):
        return f"has B {list(b.shape)}, not [{count}, {6 * hidden}]"
    declared = attributes.get("hidden_size")
    if declared is not None and int(declared) != hidden:
        return f"declares hidden_size={declared} but R is {list(r.shape)}"
    return None


# --- activations -------------------------------------------------------------------------


def _activations(attributes: dict[str, Any], count: int) -> list[tuple[str, str]] | str:
    """(gate activation, candidate activation) per direction, or why they cannot be honoured."""
    names = attributes.get("activations") or DEFAULT_ACTIVATIONS * count
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return f"lists activations {names!r}, which are not names"
    if len(names) != 2 * count:
        return f"lists {len(names)} activations for {count} direction(s)"
    lowered = [str(name).lower() for name in names]
    unknown = [name for name, low in zip(names, lowered, strict=True) if low not in ACTIVATIONS]
    if unknown:
        return f"uses activations {unknown} that grutool's GRU does not compute"
    supplied = {key: attributes.get(f"activation_{key}") or [] for key in ("alpha", "beta")}
    for key, listed in supplied.items():
        if not isinstance(listed, list) or not all(
                isinstance(value, (int, float)) and not isinstance(value, bool)
                for value in listed):
            return f"lists activation_{key} {listed!r}, which are not numbers"
    taken = {"alpha": 0, "beta": 0}
    found = []
    for original, low in zip(names, lowered, strict=True):
        family, parameters = ACTIVATIONS[low]
        values: dict[str, float] = {}
        for parameter in parameters:
            if taken[parameter] < len(supplied[parameter]):
                values[parameter] = _from_float32(supplied[parameter][taken[parameter]],
                                                  family, parameter)
                taken[parameter] += 1
            elif parameter in AGREED_DEFAULTS.get(low, {}):
                values[parameter] = AGREED_DEFAULTS[low][parameter]
            else:
                return (f"uses {original} without its activation_{parameter}, whose default "
                        "the ONNX spec and onnxruntime do not agree on")
        name = PLAIN_EQUIVALENTS.get((family, tuple(values[p] for p in parameters))) \
            or named(family, **values)
        if name == UNKNOWN:
            return f"uses {original} with {values}, which grutool's GRU does not compute"
        found.append(name)
    for parameter, listed in supplied.items():
        if taken[parameter] < len(listed):
            return (f"lists {len(listed)} activation_{parameter} values but its activations "
                    f"take {taken[parameter]}; which value is whose is not clear")
    return [(found[2 * i], found[2 * i + 1]) for i in range(count)]


def _from_float32(value: Any, family: str, parameter: str) -> float:
    """An attribute float (stored as float32) as the number it was written for."""
    single = np.float32(value)
    if family == "hard_sigmoid" and parameter == "alpha" and single == np.float32(1.0 / 6.0):
        return 1.0 / 6.0
    return float(str(single))


# --- structure: which paths join nodes, and what they do to the outputs -------------------


@dataclass(frozen=True)
class _Reading:
    """How far a path matches the patterns, and what it does: `length` ops read; `merged`
    when the direction axis is gone (merge: concat, sum, mul, ave for two directions, None
    for one); `reversed` when the time axis runs backwards."""

    length: int
    merged: bool = False
    merge: str | None = None
    reversed: bool = False


_REDUCTIONS = {"ReduceSum": "sum", "ReduceMean": "ave", "ReduceProd": "mul"}


def _ops(config: dict[str, Any], key: str) -> list[dict[str, Any]]:
    path = config.get(key) or {}
    ops = path.get("ops") if isinstance(path, dict) else None
    return ops if isinstance(ops, list) else []


def _readings(ops: list[dict[str, Any]], count: int, opset: int | None) -> list[_Reading]:
    """Every prefix of `ops` that ends between two whole patterns, shortest first."""
    readings = [_Reading(0)]
    index, merged, merge, reversed_ = 0, False, None, False
    while index < len(ops):
        op = ops[index]
        if _passes_through(op, opset):
            index += 1
        elif not reversed_ and _reverses_time(op, rank=3 if merged else 4):
            reversed_, index = True, index + 1
        elif not merged and _transposes_directions(op):
            after = index + 1
            while after < len(ops) and _passes_through(ops[after], opset):
                after += 1
            if after == len(ops) or not _flattens_directions(ops[after]):
                break
            merged, merge, index = True, "concat" if count == 2 else None, after + 1
        elif not merged and count == 1 and _squeezes_directions(op):
            merged, index = True, index + 1
        elif not merged and count == 2 and _reduces_directions(op):
            merged, merge, index = True, _REDUCTIONS[op["op_type"]], index + 1
        else:
            break
        readings.append(_Reading(index, merged, merge, reversed_))
    return readings


def _longest(readings: list[_Reading]) -> _Reading:
    return readings[-1]


def _link(ops: list[dict[str, Any]], count: int, opset: int | None) -> _Reading | None:
    """The reading of a whole path from one node's Y to the next node's X, if it is one."""
    last = _readings(ops, count, opset)[-1]
    return last if last.length == len(ops) and last.merged else None


def _constant(op: dict[str, Any], position: int) -> Any:
    """The value of the op's input `position` (1 = its second input), or None."""
    constants = op.get("constants") or []
    entry = constants[position - 1] if 0 < position <= len(constants) else None
    return entry.get("value") if isinstance(entry, dict) else None


def _axes(op: dict[str, Any]) -> Any:
    axes = op.get("attributes", {}).get("axes")
    return axes if axes is not None else _constant(op, 1)


def _plain(op: dict[str, Any], op_type: str) -> bool:
    return op.get("op_type") == op_type and op.get("domain") in ("", "ai.onnx", None)


def _passes_through(op: dict[str, Any], opset: int | None) -> bool:
    if _plain(op, "Identity"):
        return True
    if not _plain(op, "Dropout"):
        return False
    # Dropout is the identity at inference: from opset 12 unless its training_mode input is
    # true; in opsets 7 to 11 always; before 7 only with is_test=1.
    if opset is not None and opset < 7:
        return op.get("attributes", {}).get("is_test") == 1
    training = _constant(op, 2)
    constants = op.get("constants") or []
    absent = len(constants) < 2 or constants[1] is None
    return absent or training in (False, 0, [False], [0])


def _reverses_time(op: dict[str, Any], rank: int) -> bool:
    if not _plain(op, "Slice") or op.get("attributes"):
        return False
    starts, ends, axes, steps = (_constant(op, k) for k in (1, 2, 3, 4))
    constants = op.get("constants") or []
    axes_absent = len(constants) < 3 or constants[2] is None
    if not all(isinstance(v, list) and len(v) == 1 for v in (starts, ends, steps)):
        return False
    if not (axes_absent or axes in ([0], [-rank])):
        return False
    start, end, step = starts[0], ends[0], steps[0]
    return step == -1 and (start == -1 or start >= _FAR) and end <= -_FAR - 1


def _transposes_directions(op: dict[str, Any]) -> bool:
    return _plain(op, "Transpose") and op.get("attributes", {}).get("perm") == [0, 2, 1, 3]


def _flattens_directions(op: dict[str, Any]) -> bool:
    return (_plain(op, "Reshape") and _constant(op, 1) == [0, 0, -1]
            and not op.get("attributes", {}).get("allowzero", 0))


def _squeezes_directions(op: dict[str, Any]) -> bool:
    return _plain(op, "Squeeze") and _axes(op) in ([1], [-3])


def _reduces_directions(op: dict[str, Any]) -> bool:
    return (op.get("op_type") in _REDUCTIONS and _plain(op, op["op_type"])
            and _axes(op) in ([1], [-3]) and op.get("attributes", {}).get("keepdims") == 0)


def _chains(nodes: dict[str, dict[str, Any]], cells_by_node: dict[str, list[GruCell]],
            order: list[str]) -> list[tuple[list[str], list[_Reading]]]:
    """Group nodes into modules: (nodes bottom first, the reading of each link)."""
    fed: dict[str, list[str]] = {}
    for name in order:
        if name not in cells_by_node:
            continue
        path = nodes[name].get("input_path") or {}
        source = path.get("from") if isinstance(path, dict) else None
        if isinstance(source, dict) and source.get("node") in cells_by_node:
            fed.setdefault(source["node"], []).append(name)
    successor: dict[str, tuple[str, _Reading]] = {}
    for lower, uppers in fed.items():
        if len(uppers) != 1:
            continue  # a branch point, not one stack
        upper = uppers[0]
        if nodes[upper]["input_path"]["from"].get("output") != "Y":
            continue
        reading = _link(_ops(nodes[upper], "input_path"), len(cells_by_node[lower]),
                        nodes[lower].get("opset"))
        if reading and _fits(cells_by_node[lower], cells_by_node[upper], reading):
            successor[lower] = (upper, reading)
    chains: list[tuple[list[str], list[_Reading]]] = []
    placed: set[str] = set()
    for name in order:
        if name not in cells_by_node or name in placed:
            continue
        chain = [name]
        links: list[_Reading] = []
        while chain[-1] in successor and len(chain) <= len(order):
            upper, reading = successor[chain[-1]]
            if links and reading.merge != links[0].merge:
                break  # merged otherwise: the next module starts here
            chain.append(upper)
            links.append(reading)
        if links and links[0].merge:
            # One merge for the whole module: a top node whose output is merged otherwise
            # (its raw Y counts as concatenated) is a module of its own.
            top = chain[-1]
            tail = _longest(_readings(_ops(nodes[top], "output_path"),
                                      len(cells_by_node[top]), nodes[top].get("opset")))
            if (tail.merge if tail.merged else "concat") != links[0].merge:
                chain.pop()
                links.pop()
        placed.update(chain)
        chains.append((chain, links))
    return chains


def _fits(lower: list[GruCell], upper: list[GruCell], reading: _Reading) -> bool:
    """The upper node reads exactly what the lower one gives, and runs the same directions."""
    hidden = lower[0].hidden_size
    width = len(lower) * hidden if reading.merge in (None, "concat") else hidden
    return (all(cell.input_size == width for cell in upper)
            and [c.direction for c in lower] == [c.direction for c in upper]
            and upper[0].hidden_size == hidden)


def where(cell: GruCell) -> dict[str, Where]:
    """W [D, 3H, I] and R [D, 3H, H], rows z | r | h stored W @ x; B [D, 6H], W's biases then
    R's; this cell's direction is index d of the first axis."""
    inputs, hidden = cell.input_size, cell.hidden_size
    direction = (cell.extra["direction_index"],)
    wheres = {**gate_blocks(cell.roles["W"], (3 * hidden, inputs), "zrn", "W_i",
                            stored_w_at_x=True, fixed=direction),
              **gate_blocks(cell.roles["R"], (3 * hidden, hidden), "zrn", "W_h",
                            stored_w_at_x=True, fixed=direction)}
    if "B" in cell.roles:
        wheres.update(gate_blocks(cell.roles["B"], (3 * hidden,), "zrn", "b_i", fixed=direction))
        wheres.update(gate_blocks(cell.roles["B"], (3 * hidden,), "zrn", "b_h", fixed=direction,
                                  offset=3 * hidden))
    return wheres


# --- the GRU nodes of the graph, and the paths around them --------------------------------
#
# Each GRU node becomes a record: its input and output tensor names, attributes (defaults
# filled in), its place in the node list, the model's opset, and two paths of the graph:
#
# - `input_path`: the chain of ops that computes the node's `X`, walked back from `X` through
#   each op's first input while every other input of the op is a constant, up to the GRU
#   output it starts from (`from`: `{"node", "output"}`), or None when it starts elsewhere;
# - `output_path`: the chain of ops that consumes the node's `Y`, walked forward while each
#   tensor has exactly one consumer that takes it as its first input and whose other inputs
#   are constants; `end` says where it stopped (a graph output, another GRU node, or neither).
#
# Each op on a path is `{"op_type", "domain", "name", "attributes", "constants"}`, with
# `constants` one entry per input after the first (`ModelGraph.constant`), or None for an
# absent input.

GRU_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h")
GRU_OUTPUTS = ("Y", "Y_h")
GRU_ATTRIBUTE_DEFAULTS: dict[str, Any] = {
    "hidden_size": None, "direction": "forward", "linear_before_reset": 0,
    "activations": None, "activation_alpha": None, "activation_beta": None,
    "clip": None, "layout": 0,
}
# How far the paths around a GRU node are followed.
MAX_PATH_OPS = 16


def gru_nodes(graph: ModelGraph | None) -> dict[str, dict[str, Any]]:
    """The graph's GRU nodes as records (above), keyed by node name (`GRU_<index>` for a
    node without one; a repeated name gets `_` appended)."""
    if graph is None:
        return {}
    names: dict[int, str] = {}
    for node in graph.nodes:
        if node.op_type != "GRU" or node.domain not in ("", "ai.onnx"):
            continue
        name = node.name or f"GRU_{node.index}"
        while name in names.values():
            name += "_"
        names[node.index] = name
    # Which GRU node (and which of its outputs) produces a tensor.
    gru_outputs: dict[str, dict[str, str]] = {}
    for index, name in names.items():
        for role, tensor in zip(GRU_OUTPUTS, graph.nodes[index].outputs, strict=False):
            if tensor:
                gru_outputs[tensor] = {"node": name, "output": role}
    producers: dict[str, GraphNode] = {}
    consumers: dict[str, list[tuple[int, int]]] = {}
    for node in graph.nodes:
        for output in node.outputs:
            producers[output] = node
        for position, tensor in enumerate(node.inputs):
            if tensor:
                consumers.setdefault(tensor, []).append((node.index, position))
    records: dict[str, dict[str, Any]] = {}
    for index, name in names.items():
        node = graph.nodes[index]
        record: dict[str, Any] = {"op_type": "GRU", "node_index": index, "opset": graph.opset}
        record["inputs"] = {role: (node.inputs[i] if i < len(node.inputs) and node.inputs[i]
                                   else None) for i, role in enumerate(GRU_INPUTS)}
        record["outputs"] = {role: (node.outputs[i] if i < len(node.outputs) and node.outputs[i]
                                    else None) for i, role in enumerate(GRU_OUTPUTS)}
        record["attributes"] = {**GRU_ATTRIBUTE_DEFAULTS, **node.attributes}
        record["input_path"] = _path_to(graph, record["inputs"]["X"], gru_outputs, producers)
        record["output_path"] = _path_from(graph, record["outputs"]["Y"], names, consumers)
        records[name] = record
    return records


def _path_to(graph: ModelGraph, tensor: str | None, gru_outputs: dict[str, dict[str, str]],
             producers: dict[str, GraphNode]) -> dict[str, Any]:
    """The ops computing `tensor`, first op first, back to the GRU output they start
    from (`from`), or `from` None when the chain starts anywhere else."""
    ops: list[dict[str, Any]] = []
    for _ in range(MAX_PATH_OPS + 1):
        if tensor is None:
            break
        if tensor in gru_outputs:
            return {"from": dict(gru_outputs[tensor]), "ops": ops}
        node = producers.get(tensor)
        if node is None or not node.inputs or node.outputs[0] != tensor:
            break
        op = _op_facts(graph, node)
        if op is None:
            break
        ops.insert(0, op)
        tensor = node.inputs[0]
    return {"from": None, "ops": ops}


def _path_from(graph: ModelGraph, tensor: str | None, gru_names: dict[int, str],
               consumers: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    """The ops consuming `tensor`, in order, while the chain is a single line."""
    ops: list[dict[str, Any]] = []
    for _ in range(MAX_PATH_OPS):
        if tensor is None:
            return {"ops": ops, "end": None}
        if tensor in graph.outputs:
            return {"ops": ops, "end": {"graph_output": tensor}}
        users = consumers.get(tensor, [])
        if len(users) != 1:
            return {"ops": ops, "end": {"consumers": len(users)}}
        index, position = users[0]
        if index in gru_names:
            return {"ops": ops, "end": {"node": gru_names[index], "input": position}}
        node = graph.nodes[index]
        op = _op_facts(graph, node) if position == 0 else None
        if op is None or not node.outputs:
            return {"ops": ops, "end": {"op_type": node.op_type}}
        ops.append(op)
        tensor = node.outputs[0]
    return {"ops": ops, "end": None}


def _op_facts(graph: ModelGraph, node: GraphNode) -> dict[str, Any] | None:
    """One op on a path, or None when an input other than its first is computed at run
    time (then the op is not a link in a chain from one tensor)."""
    constants: list[dict[str, Any] | None] = []
    for name in node.inputs[1:]:
        if not name:
            constants.append(None)
            continue
        constant = graph.constant(name)
        if constant is None:
            return None
        constants.append(constant)
    return {"op_type": node.op_type, "domain": node.domain, "name": node.name,
            "attributes": dict(node.attributes), "constants": constants}
