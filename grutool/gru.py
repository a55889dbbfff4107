"""The NumPy reference GRU: the canonical equations, both reset placements.

    r  = sigmoid(x @ W_ir + b_ir + h @ W_hr + b_hr)
    z  = sigmoid(x @ W_iz + b_iz + h @ W_hz + b_hz)
    n  = tanh(x @ W_in + b_in + (r * h) @ W_hn + b_hn)      reset_after = False
    n  = tanh(x @ W_in + b_in + r * (h @ W_hn + b_hn))      reset_after = True
    h' = z * h + (1 - z) * n

Everything grutool proves about a conversion it proves with these few lines, so they are
kept plain. Computation is in float64 unless a caller asks for another precision (the
check of a conversion computes in the weights' own precision, at least float32: see
`grutool.verify`). The input's share of every gate is computed for all steps at once, one
matrix product per gate, with the additions grouped as in the lines above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .activations import ACTIVATIONS
from .cells import FORWARD, GruCell, GruModule


def run_cell(weights: Mapping[str, np.ndarray], inputs: np.ndarray, reset_after: bool,
             initial_state: np.ndarray | None = None, reverse: bool = False,
             activation: str = "tanh", recurrent_activation: str = "sigmoid",
             dtype: np.typing.DTypeLike = np.float64) -> np.ndarray:
    """Run one cell over `inputs` [time, batch, I]; returns every state [time, batch, H].

    With `reverse`, the sequence is read from the end and the outputs are returned in the
    input's time order (as bidirectional layers align them). `dtype`: the precision of the
    computation (float64 unless asked).
    """
    (outputs,) = run_cell_sequences(dict(weights), [inputs], reset_after,
                                    [initial_state], reverse, activation,
                                    recurrent_activation, dtype)
    return outputs


def run_cell_sequences(weights: dict[str, np.ndarray], sequences: Sequence[np.ndarray],
                       reset_after: bool, initial_states: Sequence[np.ndarray | None],
                       reverse: bool = False, activation: str = "tanh",
                       recurrent_activation: str = "sigmoid",
                       dtype: np.typing.DTypeLike = np.float64) -> list[np.ndarray]:
    """`run_cell` over several sequences, the cell's weights prepared once.

    The input's share of every gate is one matrix product per gate for all steps of all
    sequences at once; each step then costs the three products with the state. `weights` is
    consumed: its entries are removed as they are used, so that a caller who passed the only
    reference holds no more than the recurrent matrices while the steps run."""
    dtype = np.dtype(dtype)
    hidden = np.shape(weights["W_hn"])[0]
    act, gate = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]

    def bias(name: str) -> np.ndarray:
        value = weights.pop(name, None)
        return np.zeros(hidden, dtype) if value is None else np.asarray(value, dtype)

    inputs = [np.asarray(x, dtype) for x in sequences]
    lengths = [x.shape[0] * x.shape[1] for x in inputs]
    flat = np.concatenate([x.reshape(count, -1) for x, count in zip(inputs, lengths, strict=True)])
    projected = {}
    for g in "rzn":
        # A matrix-matrix product: BLAS packs its operands whatever their layout, so a view
        # (a block of a fused tensor, a transposed one) gives the same result as a copy.
        matrix = np.asarray(weights.pop(f"W_i{g}"), dtype)
        projected[g] = np.split(flat @ matrix + bias(f"b_i{g}"), np.cumsum(lengths)[:-1])
        del matrix
    # Vector-matrix products take a different path through BLAS for a matrix stored by
    # columns (a transposed view): such a matrix is copied row by row, so that equal weights
    # in any layout give equal outputs.
    w_hr, w_hz, w_hn = (_by_rows(weights.pop(f"W_h{g}"), dtype) for g in "rzn")
    b_hr, b_hz, b_hn = bias("b_hr"), bias("b_hz"), bias("b_hn")
    weights.clear()
    results = []
    for index, (x_seq, state) in enumerate(zip(inputs, initial_states, strict=True)):
        steps, batch = x_seq.shape[0], x_seq.shape[1]
        xr, xz, xn = (projected[g][index].reshape(steps, batch, hidden) for g in "rzn")
        h = np.zeros((batch, hidden), dtype) if state is None else np.array(state, dtype)
        outputs = np.empty((steps, batch, hidden), dtype)
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            # The same grouping as the five lines of the module docstring:
            # (x @ W_i + b_i) + h @ W_h + b_h.
            r = gate(xr[t] + h @ w_hr + b_hr)
            z = gate(xz[t] + h @ w_hz + b_hz)
            if reset_after:
                n = act(xn[t] + r * (h @ w_hn + b_hn))
            else:
                n = act(xn[t] + (r * h) @ w_hn + b_hn)
            h = z * h + (1.0 - z) * n
            outputs[t] = h
        results.append(outputs)
    return results


def _by_rows(matrix: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`matrix` in `dtype` with each row contiguous: itself where it is, else a copy."""
    matrix = np.asarray(matrix)
    if matrix.dtype == dtype and matrix.ndim == 2 and matrix.strides[1] == matrix.itemsize:
        return matrix
    return c_order_copy(matrix, dtype)


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
    (outputs,) = run_cell_in_module(cell, dict(weights), [inputs], [initial_state])
    return outputs


def run_cell_in_module(cell: GruCell, weights: dict[str, np.ndarray],
                       sequences: Sequence[np.ndarray],
                       initial_states: Sequence[np.ndarray | None],
                       dtype: np.typing.DTypeLike = np.float64) -> list[np.ndarray]:
    """One cell of a module over several sequences, as `run_module` runs it: read backwards
    when it is a reverse cell, its outputs in reading order when it says so. Consumes
    `weights` (see `run_cell_sequences`)."""
    results = run_cell_sequences(weights, sequences, cell.reset_after, initial_states,
                                 reverse=cell.direction != FORWARD, activation=cell.activation,
                                 recurrent_activation=cell.recurrent_activation, dtype=dtype)
    return [outputs[::-1] if cell.outputs_time_reversed else outputs for outputs in results]


def random_inputs(input_size: int, seed: int = 0,
                  lengths: Sequence[int] = (1, 7, 23), batch: int = 3) -> list[np.ndarray]:
    """Inputs for numerical checks: several sequences of different lengths, values in a range
    that drives the gates through their non-linear region."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2.0, 2.0, size=(steps, batch, input_size)) for steps in lengths]


# Tiles of this many rows and columns: a transposed copy made tile by tile reads and writes
# memory that stays in the cache, 2-4x faster than NumPy's copy of a transposed view.
TILE = 256


def c_order_copy(array: np.ndarray, dtype: np.typing.DTypeLike | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
    """A C-contiguous copy of `array` (into `out` if given), tile by tile where it is a
    2-D array stored column by column (a transposed view)."""
    if out is None:
        out = np.empty(array.shape, dtype or array.dtype)
    if array.ndim != 2 or not array.flags.f_contiguous or array.flags.c_contiguous:
        out[...] = array
        return out
    rows, columns = array.shape
    for top in range(0, rows, TILE):
        for left in range(0, columns, TILE):
            out[top:top + TILE, left:left + TILE] = array[top:top + TILE, left:left + TILE]
    return out
