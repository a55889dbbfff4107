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

from .cells import BIAS_NAMES, GruCell, GruModule

ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0.0, 1.0),
    # Keras 3 redefined its "hard_sigmoid" as relu6(x + 3) / 6; Keras 2 and tf_keras keep 0.2x + 0.5.
    "hard_sigmoid_keras3": lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0),
    "relu": lambda v: np.maximum(v, 0.0),
    "linear": lambda v: v,
}


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


def run_module(module: GruModule, weights: Mapping[str, Mapping[str, np.ndarray]],
               inputs: np.ndarray,
               initial_states: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Run a stacked/bidirectional module; returns the last layer's outputs [time, batch, D*H]
    with directions concatenated (forward first), the input of layer k+1 being layer k's."""
    layer_input = np.asarray(inputs, dtype=np.float64)
    for layer_cells in module.layers():
        layer_input = np.concatenate(
            [_run(cell, weights[cell.name], layer_input, (initial_states or {}).get(cell.name))
             for cell in layer_cells], axis=-1)
    return layer_input


def _run(cell: GruCell, weights: Mapping[str, np.ndarray], inputs: np.ndarray,
         initial_state: np.ndarray | None) -> np.ndarray:
    return run_cell(weights, inputs, cell.reset_after, initial_state,
                    reverse=cell.direction == "reverse", activation=cell.activation,
                    recurrent_activation=cell.recurrent_activation)


def random_inputs(input_size: int, seed: int = 0,
                  lengths: Sequence[int] = (1, 7, 23), batch: int = 3) -> list[np.ndarray]:
    """Inputs for numerical checks: several sequences of different lengths, values in a range
    that drives the gates through their non-linear region."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2.0, 2.0, size=(steps, batch, input_size)) for steps in lengths]
