"""Where a TF 1 RNN cell sits: its module, layer and direction from its variable scope.

TF 1 nests cells as `…/rnn/multi_rnn_cell/cell_K/<cell>` (stacks, layer K),
`…/bidirectional_rnn/fw|bw/<cell>` (pairs), `stack_bidirectional_rnn/cell_K/bidirectional_rnn/fw/…`,
and in TF 0.x as `…/MultiRNNCell/CellK/GRUCell`, `BiRNN/FW/GRUCell`.
"""

from __future__ import annotations

import re

from ..cells import FORWARD, REVERSE

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
    layer, direction, first_marker = 0, FORWARD, None
    for index, segment in enumerate(segments):
        layer_match = _LAYER.match(segment)
        if layer_match:
            layer = int(layer_match.group(1))
        elif segment in _DIRECTIONS:
            direction = _DIRECTIONS[segment]
        else:
            continue
        if first_marker is None:
            first_marker = index
    if not first_marker:  # no marker, or a marker at the very top: the cell stands alone
        return scope, layer, direction
    return "/".join(segments[:first_marker]), layer, direction


def scopes_with_suffix(names: set[str], suffix: str) -> list[str]:
    """Scopes `s` for which `s + suffix` is a tensor name, skipping optimizer slots."""
    return sorted(
        name[: -len(suffix)]
        for name in names
        if name.endswith(suffix) and OPTIMIZER_SLOT_MARK not in name and len(name) > len(suffix)
    )


def slots_of(names: set[str], tensor: str) -> set[str]:
    """Optimizer slots of `tensor` (`tensor/Adam`, `tensor/Momentum`, …)."""
    prefix = tensor + "/"
    return {name for name in names if name.startswith(prefix)}
