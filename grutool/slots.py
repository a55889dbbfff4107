"""Per-variable copies of a weight: moving averages and optimizer slots, and `--slot NAME`.

A checkpoint often holds, beside each weight, copies of the same shape that are not the weight:

    TF 1                `<weight>/ExponentialMovingAverage`, `<weight>/Adam`, `<weight>/Adam_1`,
                        `<weight>/Momentum`, `<weight>/RMSProp`, ...        -> the last segment
    TF 2 (OptimizerV2)  `<object path>/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE`,
                        tied to its weight by the object graph's slot references  -> `m`, `v`
    tf_keras optimizer  `Adam/m/<weight>`, `Adam/v/<weight>`                      -> `m`, `v`
    Keras 3 optimizer   `adam/<weight with / as _>_momentum`, `..._velocity`      -> `momentum`, ...

The moving averages are often the weights that were evaluated. grutool keeps every copy out of
recognition (an `Adam/m/gru/gru_cell` scope is not a GRU), lists per cell the copies that
exist for all of its tensors, and `--slot NAME` reads that copy instead of each weight.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from .cells import GruCell
    from .renaming import NameView
    from .tensors import TensorInfo

Copies = dict[str, dict[str, str]]  # weight name -> slot name -> copy name (names as seen)

_OBJECT_SLOT = re.compile(r"^(?P<weight>.+)/\.OPTIMIZER_SLOT/[^/]+/(?P<slot>[^/]+)"
                          r"/\.ATTRIBUTES/VARIABLE_VALUE$")
_ATTRIBUTE = "/.ATTRIBUTES/VARIABLE_VALUE"
# Keras names an optimizer's variables after the optimizer (its class name unless the user named
# it): only these count, so that a nested model's `layers/sequential/layers/gru/...` is no copy.
_OPTIMIZER = (r"(?i:adam|adamw|adamax|nadam|sgd|rmsprop|adagrad|adadelta|ftrl|lion|lamb|"
              r"adafactor|optimizer|loss_scale_optimizer)(?:_\d+)?")
_KERAS_OPTIMIZER = re.compile(rf"^(?P<optimizer>{_OPTIMIZER})/(?P<slot>[^/]+)/(?P<weight>.+)$")
_KERAS3_OPTIMIZER = re.compile(rf"^(?P<optimizer>{_OPTIMIZER})/(?P<flat>[^/]+)$")


def find_copies(infos: list[TensorInfo], ties: dict[str, tuple[str, str]] | None = None) -> Copies:
    """Every copy among `infos`: the shape of a weight, and named as a copy of it.

    `ties` (copy name -> (weight name, slot name)) are the object graph's own slot references,
    which outrank names."""
    by_name = {info.name: info for info in infos}
    flat: dict[str, list[str]] = {}  # Keras 3 flattens a weight's path with `_`
    for info in infos:
        flat.setdefault(info.name.replace("/", "_"), []).append(info.name)
    copies: Copies = {}

    def add(weight: str, slot: str, copy: str) -> None:
        original, duplicate = by_name.get(weight), by_name[copy]
        if original is None or original.shape != duplicate.shape or weight == copy:
            return
        copies.setdefault(weight, {}).setdefault(slot, copy)

    for copy, (weight, slot) in (ties or {}).items():
        if copy in by_name:
            add(weight, slot, copy)
    for name in by_name:
        match = _OBJECT_SLOT.match(name)
        if match:
            add(match.group("weight") + _ATTRIBUTE, match.group("slot"), name)
            continue
        head, _, last = name.rpartition("/")
        if head in by_name:
            add(head, last, name)
            continue
        match = _KERAS_OPTIMIZER.match(name)
        if match and match.group("weight") in by_name:
            add(match.group("weight"), match.group("slot"), name)
            continue
        match = _KERAS3_OPTIMIZER.match(name)
        if match:
            text = match.group("flat")
            # The longest flattened weight name that the copy's name begins with, then `_slot`.
            for cut in [m.start() for m in re.finditer("_", text)][::-1]:
                weights = flat.get(text[:cut], [])
                if len(weights) == 1 and weights[0] != name:
                    add(weights[0], text[cut + 1:], name)
                    break
    # A copy's own copies (TF 1's `kernel/Adam/ExponentialMovingAverage`) are not the weight's.
    copy_names = {copy for slots in copies.values() for copy in slots.values()}
    return {weight: slots for weight, slots in copies.items() if weight not in copy_names}


def copy_names(copies: Copies) -> set[str]:
    return {copy for slots in copies.values() for copy in slots.values()}


def cell_copies(cell: GruCell, copies: Copies) -> dict[str, list[str]]:
    """Slot name -> the copies of the cell's tensors, for the slots every tensor has."""
    tensors = list(cell.roles.values())
    if not tensors:
        return {}
    common = set.intersection(*(set(copies.get(name, {})) for name in tensors))
    return {slot: [copies[name][slot] for name in tensors] for slot in sorted(common)}


def select_slot(view: NameView, cells: list[GruCell], copies: Copies, slot: str) -> None:
    """Send every read of a cell's weight to its copy `slot`; exit 2 when a cell has none."""
    present: dict[str, list[str]] = {}
    for cell in cells:
        for name in cell_copies(cell, copies):
            present.setdefault(name, []).append(cell.name)
    lacking = [cell.name for cell in cells if cell.name not in present.get(slot, [])]
    if lacking:
        if present:
            listed = "; ".join(f"{name} ({len(owners)} of {len(cells)} cells)"
                               for name, owners in sorted(present.items()))
            hint = f"copies present: {listed}"
        else:
            hint = "the file holds no copies of the cells' weights"
        raise UsageError(f"no copy {slot!r} of the weights of {', '.join(lacking[:3])}"
                         f"{' and more' if len(lacking) > 3 else ''}", view.path, hint=hint)
    for cell in cells:
        for name in cell.roles.values():
            view.redirects[name] = view.own_name(copies[name][slot])
