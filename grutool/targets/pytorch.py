"""PyTorch `nn.GRU` state dicts: `<module>.weight_ih_l{k}[_reverse]` [3H, I] (rows r | z | n,
W @ x orientation), `weight_hh_l{k}` [3H, H], `bias_ih_l{k}`, `bias_hh_l{k}` [3H].

nn.GRU puts the reset gate after the recurrent product (n = tanh(W_in x + b_in +
r * (W_hn h + b_hn))), so only reset-after sources convert exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule
from ..errors import MissingExtraError
from ..families import pytorch_gru
from ..where import fill
from .common import unsupported_activations

NAME = "pytorch"
RESET_AFTER = (True,)
SUFFIXES = (".safetensors", ".npz", ".h5", ".pt")
OWN_SUFFIXES = (".pt",)


def unsupported(cell: GruCell) -> str | None:
    return unsupported_activations(cell, "torch.nn.GRU")


def unsupported_module(module: GruModule) -> str | None:
    """Why `module` is no `nn.GRU(I, H, num_layers, bidirectional)`, or None."""
    layers = module.layers()
    directions = {tuple(cell.direction for cell in layer) for layer in layers}
    if directions == {("reverse",)}:
        return (f"module {module.name} only reads its input backwards, and nn.GRU has no "
                "reverse-only layer (the keras, onnx and tf targets keep the direction)")
    if len(directions) != 1:
        return f"module {module.name} has layers of different directions"
    if module.bidirectional and module.merge not in (None, "concat"):
        return (f"module {module.name} merges its directions by {module.merge}, and nn.GRU "
                "only concatenates them (the keras and tf targets keep the merge; onnx writes it)")
    if len({cell.hidden_size for cell in module.cells}) != 1:
        return f"module {module.name} has layers of different sizes; nn.GRU has one hidden size"
    width = len(layers[0]) * module.hidden_size
    for index, layer in enumerate(layers[1:], start=1):
        if any(cell.input_size != width for cell in layer):
            return (f"layer {index} of module {module.name} does not read the {width} "
                    "features of the layer below, as nn.GRU's layers do")
    return None


def _layer_index(module: GruModule, cell: GruCell) -> int:
    # nn.GRU numbers its layers from 0 whatever the source called them.
    return next(index for index, layer in enumerate(module.layers()) if cell in layer)


def cell_name(module: GruModule, cell: GruCell) -> str:
    """The name grutool gives this cell when it reads the written file back."""
    suffix = "_reverse" if cell.direction == "reverse" else ""
    return f"{module.name}.l{_layer_index(module, cell)}{suffix}"


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    """Each cell as the PyTorch family describes an nn.GRU layer, under the module's prefix."""
    return dict(iter_arrays(modules, lambda cell: weights[cell.name]))


def iter_arrays(modules: list[GruModule], weights_of: Callable[[GruCell], CanonicalWeights]
                ) -> Iterator[tuple[str, np.ndarray]]:
    """The state dict's tensors one cell at a time, each cell's weights asked for when it is
    reached (for a writer that streams)."""
    for module in modules:
        # nn.GRU numbers its layers from 0 whatever the source called them.
        for index, layer_cells in enumerate(module.layers()):
            for cell in layer_cells:
                suffix = f"_l{index}" + ("_reverse" if cell.direction == "reverse" else "")
                inputs, hidden = cell.input_size, cell.hidden_size
                shapes = {f"{module.name}.{role}{suffix}": shape for role, shape in (
                    ("weight_ih", (3 * hidden, inputs)), ("weight_hh", (3 * hidden, hidden)),
                    ("bias_ih", (3 * hidden,)), ("bias_hh", (3 * hidden,)))}
                roles = dict(zip(pytorch_gru.ROLES, shapes, strict=True))
                target = replace(cell, layout=pytorch_gru.LAYOUTS[0], roles=roles, extra={})
                w = weights_of(cell)
                yield from fill(pytorch_gru.where(target), w, shapes, w["W_hn"].dtype).items()
                del w


def write(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any],
          modules: list[GruModule]) -> None:
    """`.pt`: a state dict saved by torch itself (tensors only, loadable with weights_only)."""
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError("writing .pt needs PyTorch", "torch", path) from exc
    from ..writers import atomic_path

    state = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
