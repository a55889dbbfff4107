"""`grutool explain`: a cell's equations in the file's own terms, and where each canonical
array lives in the file.

The expressions are the family's own description of the cell (grutool.where), the one that
`split` applies, so what `explain` prints is what grutool reads. `code_numpy` turns them into
a short program a person can run and read: load the raw tensors, slice them into named
matrices, and one `step(x, h)` of the cell.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import families
from .cells import BIAS_NAMES, CANONICAL_NAMES, GruCell
from .errors import UsageError
from .where import Where

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

SIGMA, PHI = "σ", "φ"


def equations(cell: GruCell, present: set[str]) -> list[str]:
    """The canonical equations with this cell's reset placement and activations; absent
    biases are left out of the sums and named in a last line as zero."""
    def bias(name: str) -> str:
        return f" + {name}" if name in present else ""

    gate, act = cell.recurrent_activation, cell.activation
    lines = [
        f"r  = {gate}(x @ W_ir{bias('b_ir')} + h @ W_hr{bias('b_hr')})",
        f"z  = {gate}(x @ W_iz{bias('b_iz')} + h @ W_hz{bias('b_hz')})",
    ]
    if cell.reset_after:
        lines.append(f"n  = {act}(x @ W_in{bias('b_in')} + r * (h @ W_hn{bias('b_hn')}))")
    else:
        lines.append(f"n  = {act}(x @ W_in{bias('b_in')} + (r * h) @ W_hn{bias('b_hn')})")
    lines.append("h' = z * h + (1 - z) * n")
    absent = [name for name in BIAS_NAMES if name not in present]
    if absent:
        lines.append(f"{' = '.join(absent)} = 0 (absent in this file)")
    return lines


def file_wheres(checkpoint: Checkpoint, cell: GruCell) -> dict[str, Where]:
    """The cell's description in model order, naming the file's own tensors (what a read
    reaches after --rename, object-graph names and --slot)."""
    wheres = families.where(cell)
    return {name: replace(wheres[name], tensor=checkpoint.file_name(wheres[name].tensor))
            for name in CANONICAL_NAMES if name in wheres}


def explain_cell(checkpoint: Checkpoint, cell: GruCell) -> dict[str, Any]:
    ordered = file_wheres(checkpoint, cell)
    return {
        "name": cell.name, "layout": cell.layout, "reset_after": cell.reset_after,
        "activation": cell.activation, "recurrent_activation": cell.recurrent_activation,
        "direction": cell.direction, "input_size": cell.input_size,
        "hidden_size": cell.hidden_size,
        "equations": equations(cell, set(ordered)),
        "where": {name: where.to_json() for name, where in ordered.items()},
        "expressions": {name: where.expression() for name, where in ordered.items()},
    }


def chosen_cells(checkpoint: Checkpoint, cell_name: str | None = None) -> list[GruCell]:
    """Every cell in model order, or the one named; a name the file lacks is a usage error
    that lists the names it has."""
    checkpoint.require_cells()
    if cell_name is None:
        return checkpoint.cells
    if cell_name not in {cell.name for cell in checkpoint.cells}:
        raise UsageError(f"no cell named {cell_name!r}; the file has: "
                         f"{', '.join(c.name for c in checkpoint.cells)}", checkpoint.path)
    return [checkpoint.cell(cell_name)]


def explain(checkpoint: Checkpoint, cell_name: str | None = None) -> dict[str, Any]:
    """What `grutool explain --json` prints: every cell (or the one named) in model order."""
    cells = chosen_cells(checkpoint, cell_name)
    return {"path": str(checkpoint.path), "format": checkpoint.format,
            "cells": [explain_cell(checkpoint, cell) for cell in cells]}


# --- a program a person can run --------------------------------------------------------------

_NUMPY_ACTIVATIONS = {
    "tanh": "np.tanh(v)",
    "sigmoid": "1.0 / (1.0 + np.exp(-v))",
    "hard_sigmoid": "np.clip(0.2 * v + 0.5, 0.0, 1.0)",
    "hard_sigmoid_keras3": "np.clip(v / 6.0 + 0.5, 0.0, 1.0)",
    "relu": "np.maximum(v, 0.0)",
    "linear": "v",
}


def _loader(path: str, file_format: str) -> list[str]:
    """Lines that bind `raw(name)` to a function returning one tensor of the file."""
    quoted = repr(path)
    if file_format == "npz":
        return ["_file = np.load(" + quoted + ", allow_pickle=False)",
                "raw = lambda name: _file[name]"]
    if file_format == "hdf5" and not path.endswith(".keras"):
        return ["import h5py", "", "_file = h5py.File(" + quoted + ", \"r\")",
                "raw = lambda name: _file[name][()]"]
    if file_format == "safetensors":
        return ["from safetensors.numpy import load_file", "",
                "_tensors = load_file(" + quoted + ")", "raw = _tensors.__getitem__"]
    if file_format == "onnx":
        return ["import onnx", "from onnx import numpy_helper", "",
                "_graph = onnx.load(" + quoted + ").graph",
                "_tensors = {t.name: numpy_helper.to_array(t) for t in _graph.initializer}",
                "raw = _tensors.__getitem__"]
    if file_format == "pytorch":
        return ["import torch", "",
                "_state = torch.load(" + quoted + ", map_location=\"cpu\", weights_only=True)",
                "raw = lambda name: _state[name].numpy()"]
    # TF checkpoints, .keras archives, Flax files: grutool's own reader lists the tensors as
    # `inspect` names them (no TensorFlow needed).
    return ["from grutool.readers import open_source", "",
            "raw = open_source(" + quoted + ").read"]


def _activation_lines(name: str, function: str) -> list[str]:
    body = _NUMPY_ACTIVATIONS.get(name)
    if body is not None:
        return [f"def {function}(v):", f"    return {body}"]
    return ["from grutool.activations import function as _function", "",
            f"{function} = _function({name!r})"]


def code_numpy(checkpoint: Checkpoint, cell: GruCell) -> str:
    """A self-contained program: the raw tensors, the named matrices, and `step(x, h)`."""
    where = file_wheres(checkpoint, cell)
    lines = [
        f'"""Cell {cell.name} of {checkpoint.path} ({cell.layout}, '
        f'{"reset after" if cell.reset_after else "reset before"} the recurrent product).',
        "",
        "Written by `grutool explain --code numpy`: the raw tensors, sliced into the canonical",
        "per-gate matrices (x @ W orientation), and one step of the cell.",
        '"""',
        "",
        "import numpy as np",
        *_loader(str(checkpoint.path), checkpoint.format),
        "",
    ]
    lines += [f"{name} = {where[name].expression(f'raw({where[name].tensor!r})')}"
              for name in CANONICAL_NAMES if name in where]
    absent = [name for name in BIAS_NAMES if name not in where]
    for name in absent:
        lines.append(f"{name} = np.zeros({cell.hidden_size}, dtype=W_hn.dtype)  # absent: zero")
    lines += ["", *_activation_lines(cell.recurrent_activation, "gate"), "", "",
              *_activation_lines(cell.activation, "candidate"), "", ""]
    candidate = ("candidate(x @ W_in + b_in + r * (h @ W_hn + b_hn))" if cell.reset_after
                 else "candidate(x @ W_in + b_in + (r * h) @ W_hn + b_hn)")
    lines += [
        "def step(x, h):",
        f'    """One step: x [batch, {cell.input_size}], h [batch, {cell.hidden_size}] -> new h."""',
        "    r = gate(x @ W_ir + b_ir + h @ W_hr + b_hr)",
        "    z = gate(x @ W_iz + b_iz + h @ W_hz + b_hz)",
        f"    n = {candidate}",
        "    return z * h + (1 - z) * n",
        "",
        "",
        'if __name__ == "__main__":',
        f"    x = np.ones((1, {cell.input_size}), dtype=W_ir.dtype)",
        f"    h = np.zeros((1, {cell.hidden_size}), dtype=W_ir.dtype)",
        "    print(step(x, h))",
    ]
    return "\n".join(lines) + "\n"
