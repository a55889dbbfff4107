"""TF 1 `GRUCell` layout: `<cell>/gates/kernel [I+H, 2H]` (r | u), `gates/bias`,
`candidate/kernel [I+H, H]`, `candidate/bias`.

One bias per gate and the reset gate before the recurrent product: the recurrent biases
b_hr, b_hz fold into the input side exactly, and so does b_hn for a reset-before source.
"""

from __future__ import annotations

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule
from .common import bias, unsupported_activations

NAME = "tf"
RESET_AFTER = (False,)
SUFFIXES = (".npz", ".h5", ".safetensors")


def unsupported(cell: GruCell) -> str | None:
    return unsupported_activations(cell, "a TF 1 GRUCell")


def cell_arrays(weights: CanonicalWeights) -> dict[str, np.ndarray]:
    hidden = weights["W_hn"].shape[0]
    dtype = weights["W_ir"].dtype
    gates_kernel = np.concatenate([
        np.concatenate([weights["W_ir"], weights["W_iz"]], axis=1),
        np.concatenate([weights["W_hr"], weights["W_hz"]], axis=1)], axis=0)
    candidate_kernel = np.concatenate([weights["W_in"], weights["W_hn"]], axis=0)
    gates_bias = np.concatenate([bias(weights, "b_ir", hidden) + bias(weights, "b_hr", hidden),
                                 bias(weights, "b_iz", hidden) + bias(weights, "b_hz", hidden)])
    # Exact for a reset-before source; for reset-after b_hn sits inside r * (…) and this
    # is the approximation --allow-inexact accepts (the error is measured and reported).
    candidate_bias = bias(weights, "b_in", hidden) + bias(weights, "b_hn", hidden)
    return {"gates/kernel": gates_kernel.astype(dtype, copy=False),
            "gates/bias": gates_bias.astype(dtype, copy=False),
            "candidate/kernel": candidate_kernel.astype(dtype, copy=False),
            "candidate/bias": candidate_bias.astype(dtype, copy=False)}


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    arrays = {}
    for module in modules:
        for cell in module.cells:
            for key, array in cell_arrays(weights[cell.name]).items():
                arrays[f"{cell_prefix(module, cell)}/{key}"] = array
    return arrays


def cell_prefix(module: GruModule, cell: GruCell) -> str:
    """The scope TF 1 would have given the cell: a TF source keeps its own; others get the
    `multi_rnn_cell/cell_K`, `bidirectional_rnn/fw|bw` or `stack_bidirectional_rnn` nesting
    that TF 1 (and grutool, reading it back) takes for the same structure."""
    if cell.layout.startswith("tf-"):
        return cell.name
    scope = module.name.strip("/").replace(".", "/") or "rnn"
    direction = "bw" if cell.direction == "reverse" else "fw"
    if module.bidirectional and module.num_layers > 1:
        # stack_bidirectional_rnn: layer K+1 reads both directions of layer K, as in nn.GRU.
        return f"{scope}/stack_bidirectional_rnn/cell_{cell.layer}/bidirectional_rnn/{direction}/gru_cell"
    if module.bidirectional:
        return f"{scope}/bidirectional_rnn/{direction}/gru_cell"
    if module.num_layers > 1:
        return f"{scope}/multi_rnn_cell/cell_{cell.layer}/gru_cell"
    return f"{scope}/gru_cell"
