"""Where a TF 1 RNN cell sits: its module, layer and direction from its variable scope.

TF 1 nests cells as `…/rnn/multi_rnn_cell/cell_K/<cell>` (stacks, layer K),
`…/bidirectional_rnn/fw|bw/<cell>` (pairs), `stack_bidirectional_rnn/cell_K/bidirectional_rnn/fw/…`,
and in TF 0.x as `…/MultiRNNCell/CellK/GRUCell`, `BiRNN/FW/GRUCell`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..cells import FORWARD, REVERSE, natural_key

if TYPE_CHECKING:
    from ..cells import GruCell, Recognition
    from ..tensors import TensorInfo
    from ..where import Where

    CellMaker = Callable[[str, dict[str, str], dict[str, TensorInfo], list[str]], GruCell | None]

_LAYER = re.compile(r"^(?:cell_|Cell)(\d+)$")
_DIRECTIONS = {"fw": FORWARD, "FW": FORWARD, "bw": REVERSE, "BW": REVERSE}

# Optimizer slot variables sit under the weight's own name (`…/kernel/Adam`, `…/kernel/Adam_1`)
# or, in TF 2 object checkpoints, under `.OPTIMIZER_SLOT`; they are never weights.
OPTIMIZER_SLOT_MARK = "/.OPTIMIZER_SLOT/"


def place(scope: str) -> tuple[str, int, str]:
    """(module, layer, direction) of the cell whose variable scope is `scope`.

    The module is the scope up to the first layer or direction marker; a cell with neither is
    a module of its own, named like the cell.
    """
    segments = scope.split("/")
    layer, direction = 0, FORWARD
    first_layer_marker = first_direction_marker = None
    for index, segment in enumerate(segments):
        layer_match = _LAYER.match(segment)
        if layer_match:
            layer = int(layer_match.group(1))
            first_layer_marker = index if first_layer_marker is None else first_layer_marker
        elif segment in _DIRECTIONS:
            direction = _DIRECTIONS[segment]
            first_direction_marker = index if first_direction_marker is None else first_direction_marker
    markers = [m for m in (first_layer_marker, first_direction_marker) if m is not None]
    if not markers or min(markers) == 0:  # no marker, or one at the very top: a lone cell
        return scope, layer, direction
    if first_direction_marker is not None and first_layer_marker is not None \
            and first_direction_marker < first_layer_marker:
        # `bidirectional_rnn/fw/multi_rnn_cell/cell_K`: each direction is a stack of its own,
        # whose layer K+1 reads only its own layer K, not both directions as nn.GRU would.
        return "/".join(segments[:first_layer_marker]), layer, direction
    return "/".join(segments[:min(markers)]), layer, direction


def scopes_with_suffix(names: set[str], suffix: str) -> list[str]:
    """Scopes `s` for which `s + suffix` is a tensor name, skipping optimizer slots, in
    natural order (a TF checkpoint keeps its names sorted as strings, which would put
    `cell_10` before `cell_2`)."""
    return sorted(
        (name[: -len(suffix)]
         for name in names
         if name.endswith(suffix) and OPTIMIZER_SLOT_MARK not in name and len(name) > len(suffix)),
        key=natural_key)


def slots_of(names: list[str], tensor: str) -> set[str]:
    """Optimizer slots of `tensor` (`tensor/Adam`, `tensor/Momentum`, …). `names` sorted:
    the slots are the run of names between `tensor/` and `tensor0` ("0" follows "/"), found
    by bisection, so that a file of thousands of cells is not searched once per tensor."""
    start = bisect.bisect_left(names, tensor + "/")
    return set(names[start:bisect.bisect_left(names, tensor + "0", start)])


def recognise_scoped(unclaimed: list[TensorInfo], suffixes: dict[str, str], anchor: str,
                     family: str, make_cell: CellMaker) -> Recognition:
    """The loop every TF 1 cell family shares: for each scope holding the `anchor` role's
    tensor, name the cell's tensors by role, warn when some are missing, let `make_cell`
    check the shapes and build the cell, and claim the tensors and their optimizer slots
    (also when they do not fit, so that no later family misreads them)."""
    from ..cells import Recognition

    infos = {info.name: info for info in unclaimed}
    names = set(infos)
    sorted_names = sorted(names)
    result = Recognition()
    for scope in scopes_with_suffix(names, "/" + suffixes[anchor]):
        tensors = {role: f"{scope}/{suffix}" for role, suffix in suffixes.items()}
        present = [name for name in tensors.values() if name in infos]
        if len(present) < len(tensors):
            missing = ", ".join(name for name in tensors.values() if name not in infos)
            result.warnings.append(f"{scope}: looks like a {family} but {missing} is missing; "
                                   "skipped")
        else:
            cell = make_cell(scope, tensors, infos, result.warnings)
            if cell is not None:
                result.cells.append(cell)
        result.claimed.update(present)
        for tensor in present:
            result.claimed |= slots_of(sorted_names, tensor)
    return result


def gates_where(cell: GruCell) -> dict[str, Where]:
    """W_ir, W_iz, W_hr, W_hz, b_ir, b_iz in a TF 1 `gates` kernel [I+H, 2H] (rows x then h,
    columns r | u) and its bias [2H]: GRUCell, GRUBlockCell and CudnnCompatibleGRUCell share it."""
    from ..where import Where

    inputs, hidden = cell.input_size, cell.hidden_size
    kernel, bias = cell.roles["gates_kernel"], cell.roles["gates_bias"]
    rows = {"i": (0, inputs), "h": (inputs, inputs + hidden)}
    columns = {"r": (0, hidden), "z": (hidden, 2 * hidden)}
    wheres = {f"W_{side}{gate}": Where(kernel, (rows[side], columns[gate]))
              for side in "ih" for gate in "rz"}
    wheres.update({f"b_i{gate}": Where(bias, (columns[gate],)) for gate in "rz"})
    return wheres


def candidate_where(cell: GruCell, kernel: str) -> dict[str, Where]:
    """W_in and W_hn in a candidate kernel [I+H, H] applied to concat([x, r * h])."""
    from ..where import Where

    inputs, hidden = cell.input_size, cell.hidden_size
    return {"W_in": Where(kernel, ((0, inputs), (0, hidden))),
            "W_hn": Where(kernel, ((inputs, inputs + hidden), (0, hidden)))}
