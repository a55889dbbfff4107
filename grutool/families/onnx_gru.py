"""The ONNX `GRU` operator, from the GRU nodes the ONNX reader records in `layer_configs`.

    W [D, 3H, I]   rows: z | r | h, applied as W @ x     D = 2 when bidirectional:
    R [D, 3H, H]                                         index 0 forward, 1 reverse
    B [D, 6H]      Wb (z | r | h) then Rb (z | r | h)    optional, zero when absent

`linear_before_reset = 1` computes h~ = g(x Wh + Wbh + r * (h Rh + Rbh)) (reset after, as
PyTorch exports it); 0, the default, computes g(x Wh + (r * h) Rh + Rbh + Wbh) (reset before).
`layout` only changes how X and Y are laid out, never the weights. `clip` has no canonical
equivalent, so a clipped node is reported and skipped.

A stacked recurrent layer is exported as one GRU node per layer, each fed the previous
node's Y through Transpose/Reshape: such a chain is one module, layer k being the k-th node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cells import FORWARD, REVERSE, GruCell, Recognition
from ..where import Where, gate_blocks

if TYPE_CHECKING:
    import numpy as np

    from ..tensors import TensorInfo, TensorSource

LAYOUTS = ("onnx-gru",)
# ONNX activation names that the canonical cell (grutool.gru.ACTIVATIONS) computes exactly.
# HardSigmoid only with its default alpha 0.2 and beta 0.5, which is Keras 2's hard_sigmoid.
ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu",
               "hardsigmoid": "hard_sigmoid"}
DEFAULT_ACTIVATIONS = ["Sigmoid", "Tanh"]


def recognise(source: "TensorSource", unclaimed: list["TensorInfo"]) -> Recognition:
    infos = {info.name: info for info in unclaimed}
    result = Recognition()
    nodes = {name: config for name, config in source.layer_configs.items()
             if config.get("op_type") == "GRU"}
    cells_by_node: dict[str, list[GruCell]] = {}
    for node_name, config in nodes.items():
        cells = _cells_of_node(node_name, config, infos, result)
        if cells:
            cells_by_node[node_name] = cells
    for chain in _chains(nodes, cells_by_node):
        module = chain[0]
        for layer, node_name in enumerate(chain):
            for cell in cells_by_node[node_name]:
                cell.module, cell.layer = module, layer
                result.cells.append(cell)
    return result


def _cells_of_node(node_name: str, config: dict[str, Any], infos: dict[str, "TensorInfo"],
                   result: Recognition) -> list[GruCell]:
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
    if problem:
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
        name = node_name if cell_direction == FORWARD else f"{node_name}_reverse"
        cells.append(GruCell(
            name=name, module=node_name, layer=0, direction=cell_direction, layout=LAYOUTS[0],
            input_size=w.shape[2], hidden_size=hidden,
            reset_after=bool(attributes.get("linear_before_reset", 0)), dtype=w.dtype,
            source_tensors=list(tensors.values()), roles=dict(tensors),
            extra={"direction_index": index, "node": node_name,
                   "layout": int(attributes.get("layout") or 0)},
            variant="ONNX GRU node", activation=activation,
            recurrent_activation=recurrent_activation,
        ))
    return cells


def _problem(w: "TensorInfo", r: "TensorInfo", b: "TensorInfo | None",
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


def _activations(attributes: dict[str, Any], count: int) -> list[tuple[str, str]] | str:
    """(gate activation, candidate activation) per direction, or why they cannot be honoured."""
    names = attributes.get("activations") or DEFAULT_ACTIVATIONS * count
    if len(names) != 2 * count:
        return f"lists {len(names)} activations for {count} direction(s)"
    lowered = [str(name).lower() for name in names]
    unknown = [name for name, low in zip(names, lowered) if low not in ACTIVATIONS]
    if unknown:
        return f"uses activations {unknown} that grutool's GRU does not compute"
    if attributes.get("activation_alpha") or attributes.get("activation_beta"):
        return "sets activation_alpha/activation_beta, which grutool's GRU does not compute"
    return [(ACTIVATIONS[lowered[2 * i]], ACTIVATIONS[lowered[2 * i + 1]]) for i in range(count)]


def _chains(nodes: dict[str, dict[str, Any]], cells_by_node: dict[str, list[GruCell]]) -> list[list[str]]:
    """Group nodes into stacks: B follows A when B's input comes from A's Y, A feeds no other
    GRU, and the sizes fit (B's input = A's directions x hidden)."""
    feeds: dict[str, list[str]] = {}
    for name in cells_by_node:
        upstream = nodes[name].get("input_from_gru")
        if upstream in cells_by_node:
            feeds.setdefault(upstream, []).append(name)
    successor: dict[str, str] = {}
    for upstream, downstream in feeds.items():
        if len(downstream) == 1 and _fits(cells_by_node[upstream], cells_by_node[downstream[0]]):
            successor[upstream] = downstream[0]
    has_predecessor = set(successor.values())
    order = sorted(cells_by_node, key=lambda n: nodes[n].get("node_index", 0))
    chains = []
    for name in order:
        if name in has_predecessor:
            continue
        chain = [name]
        while chain[-1] in successor and len(chain) <= len(order):
            chain.append(successor[chain[-1]])
        chains.append(chain)
    return chains


def _fits(lower: list[GruCell], upper: list[GruCell]) -> bool:
    width = sum(cell.hidden_size for cell in lower)
    return (all(cell.input_size == width for cell in upper)
            and {c.direction for c in lower} == {c.direction for c in upper}
            and lower[0].hidden_size == upper[0].hidden_size)


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
