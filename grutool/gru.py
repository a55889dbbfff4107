"""The NumPy reference GRU: the canonical equations, both reset placements.

    r  = sigmoid(x @ W_ir + b_ir + h @ W_hr + b_hr)
    z  = sigmoid(x @ W_iz + b_iz + h @ W_hz + b_hz)
    n  = tanh(x @ W_in + b_in + (r * h) @ W_hn + b_hn)      reset_after = False
    n  = tanh(x @ W_in + b_in + r * (h @ W_hn + b_hn))      reset_after = True
    h' = z * h + (1 - z) * n

Everything grutool proves about a conversion it proves with these few lines, so they are
kept plain. Computation is in float64 regardless of the weights' dtype, so the reference
itself adds no rounding error to a comparison.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .activations import ACTIVATIONS
from .cells import BIAS_NAMES, FORWARD, GruCell, GruModule


def _weights64(weights: Mapping[str, np.ndarray], hidden: int) -> dict[str, np.ndarray]:
    full = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
    for name in BIAS_NAMES:
        full.setdefault(name, np.zeros(hidden))
    return full


def run_cell(weights: Mapping[str, np.ndarray], inputs: np.ndarray, reset_after: bool,
             initial_state: np.ndarray | None = None, reverse: bool = False,
             activation: str = "tanh", recurrent_activation: str = "sigmoid") -> np.ndarray:
    """Run one cell over `inputs` [time, batch, I]; returns every state [time, batch, H].

    With `reverse`, the sequence is read from the end and the outputs are returned in the
    input's time order (as bidirectional layers align them).
    """
    hidden = np.asarray(weights["W_hn"]).shape[0]
    w = _weights64(weights, hidden)
    act, gate = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    x_seq = np.asarray(inputs, dtype=np.float64)
    steps, batch = x_seq.shape[0], x_seq.shape[1]
    h = np.zeros((batch, hidden)) if initial_state is None else np.asarray(initial_state, np.float64)
    outputs = np.empty((steps, batch, hidden))
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        x = x_seq[t]
        r = gate(x @ w["W_ir"] + w["b_ir"] + h @ w["W_hr"] + w["b_hr"])
        z = gate(x @ w["W_iz"] + w["b_iz"] + h @ w["W_hz"] + w["b_hz"])
        if reset_after:
            n = act(x @ w["W_in"] + w["b_in"] + r * (h @ w["W_hn"] + w["b_hn"]))
        else:
            n = act(x @ w["W_in"] + w["b_in"] + (r * h) @ w["W_hn"] + w["b_hn"])
        h = z * h + (1.0 - z) * n
        outputs[t] = h
    return outputs


def merge_outputs(outputs: Sequence[np.ndarray], merge: str | None) -> np.ndarray:
    """One layer's output from its directions' outputs (forward first): concatenated along
    the features, or summed, multiplied, averaged (Keras's merge modes). "none" (a list in
    Keras) and an unstated merge concatenate, which keeps every value for a comparison."""
    if len(outputs) == 1 or merge in (None, "concat", "none"):
        return np.concatenate(list(outputs), axis=-1)
    forward, backward = outputs
    if merge == "sum":
        return forward + backward
    if merge == "mul":
        return forward * backward
    if merge == "ave":
        return (forward + backward) / 2.0
    raise ValueError(f"unknown merge {merge!r}")


def run_module(module: GruModule, weights: Mapping[str, Mapping[str, np.ndarray]],
               inputs: np.ndarray,
               initial_states: Mapping[str, np.ndarray] | None = None,
               cell_outputs: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Run a whole module as its framework does: layer k+1 reads layer k's merged output; a
    reverse cell reads the sequence from the end; a cell with `outputs_time_reversed`
    returns its steps in reading order. Returns the last layer's output [time, batch, …].
    `cell_outputs`, if given, receives each cell's own output by cell name."""
    layer_input = np.asarray(inputs, dtype=np.float64)
    for layer_cells in module.layers():
        outputs = []
        for cell in layer_cells:
            output = _run(cell, weights[cell.name], layer_input,
                          (initial_states or {}).get(cell.name))
            if cell_outputs is not None:
                cell_outputs[cell.name] = output
            outputs.append(output)
        layer_input = merge_outputs(outputs, module.merge)
    return layer_input


def _run(cell: GruCell, weights: Mapping[str, np.ndarray], inputs: np.ndarray,
         initial_state: np.ndarray | None) -> np.ndarray:
    outputs = run_cell(weights, inputs, cell.reset_after, initial_state,
                       reverse=cell.direction != FORWARD, activation=cell.activation,
                       recurrent_activation=cell.recurrent_activation)
    return outputs[::-1] if cell.outputs_time_reversed else outputs


def random_inputs(input_size: int, seed: int = 0,
                  lengths: Sequence[int] = (1, 7, 23), batch: int = 3) -> list[np.ndarray]:
    """Inputs for numerical checks: several sequences of different lengths, values in a range
    that drives the gates through their non-linear region."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2.0, 2.0, size=(steps, batch, input_size)) for steps in lengths]
