"""When no GRU cell is recognised: which tensors have a GRU's shapes, which layouts they could
be in, and the `--rename` (and `--layout`) options that would read them as each.

Shapes can say that a matrix holds three gate blocks ([3H, I] beside [3H, H], or [I, 3H] beside
[H, 3H]) and how its biases are arranged ([3H] twice, [6H], [2, 3H]). They cannot say the gate
order or the reset placement: a hint lists every layout the shapes allow and picks none. The
user checks a reading against outputs they trust (`grutool verify`), then keeps its options.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .tensors import TensorInfo

W_AT_X, X_AT_W = "W @ x", "x @ W"
FLOATS = ("float16", "float32", "float64", "bfloat16")
# Words in a name that say which side a tensor belongs to.
_RECURRENT_WORDS = re.compile(r"(?:^|[^a-z])(?:hh|h|hidden|recurrent|rec|u|state)(?:[^a-z]|$)",
                              re.I)
_INPUT_WORDS = re.compile(r"(?:^|[^a-z])(?:ih|i|x|input|in|kernel|w)(?:[^a-z]|$)", re.I)
_MAX_HINTS = 20


@dataclass
class Candidate:
    """One way to read a group of tensors: a layout and the options that make grutool read it."""

    layout: str
    gates: str
    reset: str
    renames: list[tuple[str, str]] = field(default_factory=list)  # (file name, new name)
    layout_option: str | None = None
    note: str | None = None

    def options(self) -> list[str]:
        options: list[str] = []
        for old, new in self.renames:
            options += ["--rename", f"^{re.escape(old)}$={new}"]
        if self.layout_option:
            options += ["--layout", self.layout_option]
        return options

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"layout": self.layout, "gates": self.gates, "reset": self.reset,
                                "options": self.options(),
                                "command_line": " ".join(shlex.quote(o) for o in self.options())}
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class Hint:
    tensors: dict[str, str]  # role -> name (as recognition saw it)
    orientation: str
    input_size: int
    hidden_size: int
    readings: list[Candidate]
    caveats: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"tensors": self.tensors, "orientation": self.orientation,
                "input_size": self.input_size, "hidden_size": self.hidden_size,
                "layouts": [reading.layout for reading in self.readings],
                "readings": [reading.to_json() for reading in self.readings],
                "caveats": list(self.caveats)}


def _orientation(info: TensorInfo) -> tuple[str, int] | None:
    """(orientation, H) of a recurrent matrix [3H, H] or [H, 3H]."""
    if info.ndim != 2 or info.dtype not in FLOATS:
        return None
    rows, cols = info.shape
    if rows == 3 * cols and cols > 0:
        return W_AT_X, cols
    if cols == 3 * rows and rows > 0:
        return X_AT_W, rows
    return None


def _similarity(a: str, b: str) -> int:
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix + suffix


def _says_recurrent(name: str) -> bool:
    return bool(_RECURRENT_WORDS.search(name.rsplit("/", 1)[-1].rsplit(".", 1)[-1])) \
        or bool(_RECURRENT_WORDS.search(name))


def find_hints(infos: list[TensorInfo], taken_names: set[str]) -> list[Hint]:
    """Groups of tensors with a GRU's shapes, each with the readings its shapes allow."""
    floats = [info for info in infos if info.dtype in FLOATS and info.ndim in (1, 2)]
    used: set[str] = set()
    hints: list[Hint] = []
    # Recurrent candidates whose names say so first, so that an [3H, H] input of a cell with
    # I = H is not taken for the recurrent matrix.
    candidates = sorted((info for info in floats if _orientation(info)),
                        key=lambda info: (not _says_recurrent(info.name), info.name))
    for recurrent in candidates:
        if recurrent.name in used or len(hints) >= _MAX_HINTS:
            continue
        orientation, hidden = cast("tuple[str, int]", _orientation(recurrent))  # a candidate has one
        axis = 0 if orientation == W_AT_X else 1
        inputs = [info for info in floats if info.ndim == 2 and info.name != recurrent.name
                  and info.name not in used and info.shape[axis] == 3 * hidden]
        if any(info.shape != (2, 3 * hidden) for info in inputs):
            # A [2, 3H] beside another candidate is the bias of a reset-after Keras GRU.
            inputs = [info for info in inputs if info.shape != (2, 3 * hidden)]
        if not inputs:
            continue
        inputs.sort(key=lambda info: (-_similarity(info.name, recurrent.name),
                                      _says_recurrent(info.name), info.name))
        kernel = inputs[0]
        input_size = kernel.shape[1 - axis]
        biases = [info for info in floats if info.name not in used
                  and info.name not in (kernel.name, recurrent.name)
                  and info.shape in ((3 * hidden,), (6 * hidden,), (2, 3 * hidden))]
        biases.sort(key=lambda info: (-max(_similarity(info.name, kernel.name),
                                           _similarity(info.name, recurrent.name)), info.name))
        chosen = _choose_biases(biases, hidden)
        tensors = {"input_matrix": kernel.name, "recurrent_matrix": recurrent.name, **chosen}
        used.update(tensors.values())
        caveats = []
        if input_size == hidden and not _says_recurrent(recurrent.name):
            caveats.append(f"{kernel.name} and {recurrent.name} have the same shape: if "
                           f"{kernel.name} is the recurrent matrix, swap their rules")
        if len(inputs) > 1 and _similarity(inputs[1].name, recurrent.name) \
                == _similarity(kernel.name, recurrent.name):
            caveats.append(f"{inputs[1].name} fits as the input matrix too")
        name = _module_name(list(tensors.values()), taken_names)
        taken_names.add(name)
        readings = _readings(orientation, tensors, {info.name: info for info in floats}, hidden,
                             name)
        if readings:
            hints.append(Hint(tensors, orientation, input_size, hidden, readings, caveats))
    return hints


def _choose_biases(biases: list[TensorInfo], hidden: int) -> dict[str, str]:
    for info in biases:
        if info.shape in ((6 * hidden,), (2, 3 * hidden)):
            return {"bias": info.name}
    vectors = [info for info in biases if info.shape == (3 * hidden,)][:2]
    if len(vectors) == 2:
        first, second = vectors
        if _says_recurrent(first.name) and not _says_recurrent(second.name):
            first, second = second, first
        return {"input_bias": first.name, "recurrent_bias": second.name}
    if vectors:
        return {"bias": vectors[0].name}
    return {}


def _module_name(names: list[str], taken: set[str]) -> str:
    common = names[0]
    for name in names[1:]:
        size = 0
        while size < min(len(common), len(name)) and common[size] == name[size]:
            size += 1
        common = common[:size]
    base = re.sub(r"[^A-Za-z0-9]+$", "", re.sub(r"[^A-Za-z0-9_]", "_", common))
    if len(base) < 2:
        base = "gru"
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _readings(orientation: str, tensors: dict[str, str], infos: dict[str, TensorInfo],
              hidden: int, name: str) -> list[Candidate]:
    kernel, recurrent = tensors["input_matrix"], tensors["recurrent_matrix"]
    bias = tensors.get("bias")
    bias_shape = infos[bias].shape if bias else None
    two = "input_bias" in tensors
    readings = []
    if orientation == W_AT_X:
        if bias_shape in (None, (3 * hidden,)) or two:
            renames = [(kernel, f"{name}.weight_ih_l0"), (recurrent, f"{name}.weight_hh_l0")]
            if two:
                renames += [(tensors["input_bias"], f"{name}.bias_ih_l0"),
                            (tensors["recurrent_bias"], f"{name}.bias_hh_l0")]
            elif bias:
                renames.append((bias, f"{name}.bias_ih_l0"))
            readings.append(Candidate("pytorch-gru", "r, z, n", "after", renames))
        readings.append(Candidate(
            "onnx-gru", "z, r, h", "before or after (linear_before_reset)",
            note="ONNX keeps these in a GRU node's W/R/B inputs [1, 3H, I]; grutool reads that "
                 "order from an .onnx model only, so no option here reads these tensors as it"))
    else:
        if not two and bias_shape != (6 * hidden,):
            renames = [(kernel, f"{name}/kernel"), (recurrent, f"{name}/recurrent_kernel")]
            if bias:
                renames.append((bias, f"{name}/bias"))
            resets: dict[tuple[int, ...] | None, str] = {
                None: "after unless a config says otherwise", (3 * hidden,): "before",
                (2, 3 * hidden): "after"}
            reset = resets[bias_shape]
            readings.append(Candidate("keras-gru", "z, r, h", reset, renames))
        if bias_shape == (6 * hidden,) or (not two and bias is None):
            renames = [(kernel, f"{name}/kernel"), (recurrent, f"{name}/recurrent_kernel")]
            if bias:
                renames.append((bias, f"{name}/bias"))
                readings.append(Candidate("keras-cudnn-gru", "z, r, h (cuDNN blocks)", "after",
                                          renames))
        if bias_shape in (None, (3 * hidden,)) and not two:
            renames = [(kernel, f"{name}/dense_i/kernel"), (recurrent, f"{name}/dense_h/kernel")]
            if bias:
                renames.append((bias, f"{name}/dense_i/bias"))
            readings.append(Candidate("flax-gru", "r, z, n (flax.nnx GRUCell)", "after", renames))
    return readings


def annotate_report(checkpoint: Checkpoint, report: dict[str, Any]) -> None:
    """Add to `inspect`'s report what the reading options and the name view add: each tensor's
    name as recognition read it, each cell's copies, the options, and hints when no cell was
    found."""
    reading = checkpoint.reading
    assert reading is not None
    seen_as = reading.view.seen_as()
    for entry in report["tensors"]:
        if entry["name"] in seen_as:
            entry["read_as"] = seen_as[entry["name"]]
    copies = {cell.name: reading.cell_copies(cell) for cell in checkpoint.cells}
    for entry in report["cells"]:
        entry["copies"] = copies.get(entry["name"], {})
        if reading.options.slot:
            entry["slot"] = reading.options.slot
    report.update(reading.options.to_json())
    if not checkpoint.cells:
        # Named as recognition saw them: what further --rename rules would match.
        hints = find_hints(reading.view.tensors(), set(reading.view.infos))
        report["hints"] = [hint.to_json() for hint in hints]
