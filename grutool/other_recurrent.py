"""Recurrent layers that are not GRUs (LSTMs, simple RNNs), found so that a file without a GRU
cell can say what it does hold instead of only "no GRU cell found".

A hint, not a reader: a pure function of the tensors' names and shapes, asked only about the
tensors no GRU family claimed. A recurrent weight is square in H against g·H gates (g = 4 for
an LSTM, 1 for a simple RNN; g = 3 is a GRU in a layout grutool does not know), named as the
frameworks name it: Keras `recurrent_kernel` [H, gH] (Keras 3 `…/vars/1`), PyTorch
`weight_hh_l0` [gH, H], ONNX `R` [D, gH, H]; a TF 1 `lstm_cell/kernel` [I+H, 4H] keeps both
in one tensor and is told by its scope's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .tensors import TensorInfo

KINDS = {4: "LSTM", 1: "simple RNN", 3: "GRU-like layer"}
_RECURRENT = re.compile(
    r"(?:^|[/.])(?:recurrent_kernel|weight_hh(?:_l\d+(?:_reverse)?)?|R|vars/1)(?::0)?$")
_LSTM_SCOPE = re.compile(r"(?:^|[/._])(?:basic_)?lstm(?:_?cell)?(?:_\d+)?(?:[/._]|$)", re.I)
_KERNEL = re.compile(r"(?:^|/)(?:kernel|weights)(?::0)?$")


@dataclass
class OtherRecurrentLayer:
    kind: str           # "LSTM", "simple RNN" or "GRU-like layer"
    scope: str          # the tensor names' common scope
    hidden_size: int
    tensors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "scope": self.scope, "hidden_size": self.hidden_size,
                "tensors": list(self.tensors), "description": self.describe()}

    def describe(self) -> str:
        """"LSTM at encoder/lstm (64 units)"; a layer at the top of the file is named by
        its recurrent tensor: "LSTM (weight_hh_l0, 64 units)"."""
        if self.scope:
            return f"{self.kind} at {self.scope} ({self.hidden_size} units)"
        return f"{self.kind} ({self.tensors[0]}, {self.hidden_size} units)"


def _scope(name: str) -> str:
    name = name[:-2] if name.endswith(":0") else name
    for suffix in ("/vars/1", "/recurrent_kernel", "/kernel", "/weights", "/R"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    match = re.search(r"\.?weight_hh(?:_l\d+(?:_reverse)?)?$", name)
    if match:
        return name[: match.start()]
    return "" if name == "R" else name


def _gates(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(g, H) of a recurrent weight of shape [H, gH], [gH, H] or [D, gH, H], or None."""
    if len(shape) == 3 and shape[0] in (1, 2):
        shape = shape[1:]
    if len(shape) != 2 or min(shape) <= 0:
        return None
    small, large = sorted(shape)
    if large % small:
        return None
    gates = large // small
    return (gates, small) if gates in KINDS else None


def find_other_recurrent(tensors: Iterable[TensorInfo]) -> list[OtherRecurrentLayer]:
    """LSTMs and other non-GRU recurrent layers among `tensors`, in file order, one per scope."""
    found: dict[str, OtherRecurrentLayer] = {}
    for info in tensors:
        gates = None
        if _RECURRENT.search(info.name):
            gates = _gates(info.shape)
        elif info.ndim == 3 and info.shape[0] in (1, 2) and info.shape[1] == 4 * info.shape[2] > 0:
            gates = (4, info.shape[2])  # ONNX LSTM's R [D, 4H, H], whatever its name
        elif (_KERNEL.search(info.name) and _LSTM_SCOPE.search(info.name) and info.ndim == 2
              and info.shape[1] % 4 == 0 and info.shape[0] > info.shape[1] // 4 > 0):
            gates = (4, info.shape[1] // 4)  # TF 1 LSTMCell: [I + H, 4H] in one kernel
        if gates is None:
            continue
        kind = KINDS[gates[0]]
        scope = _scope(info.name)
        if kind == "simple RNN" and _LSTM_SCOPE.search(info.name):
            continue  # a square matrix inside an LSTM's scope is some other part of it
        layer = found.setdefault(scope, OtherRecurrentLayer(kind, scope, gates[1]))
        layer.tensors.append(info.name)
    return list(found.values())


def no_gru_sentence(layers: list[OtherRecurrentLayer], limit: int = 3) -> str | None:
    """What a file without a GRU cell holds instead ("the file holds an LSTM at lstm
    (64 units), not a GRU"), or None when it holds no recurrent layer grutool can see."""
    if not layers:
        return None
    shown = ", ".join(layer.describe() for layer in layers[:limit])
    more = f" and {len(layers) - limit} more" if len(layers) > limit else ""
    if len(layers) == 1:
        what = ("an " if layers[0].kind == "LSTM" else "a ") + shown
    else:
        what = f"{len(layers)} recurrent layers: {shown}{more}"
    if any(layer.kind == "GRU-like layer" for layer in layers):
        return f"the file holds {what}, in a layout grutool does not recognise"
    return f"the file holds {what}, not a GRU"
