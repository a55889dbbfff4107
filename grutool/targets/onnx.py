"""ONNX: a runnable model of one module. Input `X` [seq, batch, I]; one `GRU` node per
layer (W [D, 3H, I], R [D, 3H, H], B [D, 6H], gates z | r | h, `linear_before_reset` from the
source's reset placement); layer outputs reshaped to [seq, batch, D*H] feed the next layer;
output `Y` [seq, batch, D*H] of the last layer, float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..cells import CanonicalWeights, GruCell, GruModule
from ..errors import InexactConversionError, MissingExtraError
from ..gates import W_AT_X, fuse_gates
from ..tensors import MemorySource

NAME = "onnx"
RESET_AFTER = (False, True)
SUFFIXES = (".onnx",)
OWN_SUFFIXES = (".onnx",)
ONE_MODULE = True
OPSET = 14
ONNX_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu",
                    "hard_sigmoid": "HardSigmoid"}  # HardSigmoid's defaults are Keras 2's 0.2x+0.5


def unsupported(cell: GruCell) -> str | None:
    for activation in (cell.activation, cell.recurrent_activation):
        if activation not in ONNX_ACTIVATIONS:
            return f"{cell.name} uses activation {activation}, which grutool cannot express in ONNX"
    return None


def node_name(module: GruModule, layer_index: int) -> str:
    return f"{module.name}/gru_l{layer_index}"


def cell_name(module: GruModule, cell: GruCell) -> str:
    """The name grutool gives this cell when it reads the written file back."""
    index = next(k for k, layer in enumerate(module.layers()) if cell in layer)
    return node_name(module, index) + ("_reverse" if cell.direction == "reverse" else "")


def _layer_arrays(layer_cells: list[GruCell], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    # Each direction's blocks are written straight into its slot of the stacked float32 tensor.
    directions = len(layer_cells)
    hidden, inputs = layer_cells[0].hidden_size, layer_cells[0].input_size
    arrays = {"W": np.empty((directions, 3 * hidden, inputs), np.float32),
              "R": np.empty((directions, 3 * hidden, hidden), np.float32),
              "B": np.empty((directions, 6 * hidden), np.float32)}
    for index, cell in enumerate(layer_cells):
        w = weights[cell.name]
        fuse_gates(w, "zrn", "W_i", W_AT_X, out=arrays["W"][index])
        fuse_gates(w, "zrn", "W_h", W_AT_X, out=arrays["R"][index])
        fuse_gates(w, "zrn", "b_i", out=arrays["B"][index, :3 * hidden])
        fuse_gates(w, "zrn", "b_h", out=arrays["B"][index, 3 * hidden:])
    return arrays


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    return dict(iter_arrays(modules, lambda cell: weights[cell.name]))


def iter_arrays(modules: list[GruModule], weights_of: Callable[[GruCell], CanonicalWeights]
                ) -> Iterator[tuple[str, np.ndarray]]:
    """The initializers one layer at a time, each layer's weights asked for when it is
    reached (for a writer that streams)."""
    (module,) = modules
    if len({cell.reset_after for cell in module.cells}) > 1:
        raise InexactConversionError(f"module {module.name} mixes reset placements, and an "
                                     "ONNX GRU node has one")
    for index, layer_cells in enumerate(module.layers()):
        arrays = _layer_arrays(layer_cells, {cell.name: weights_of(cell) for cell in layer_cells})
        while arrays:
            key = next(iter(arrays))
            yield f"gru_l{index}_{key}", arrays.pop(key)


def build_model(arrays: dict[str, np.ndarray], modules: list[GruModule], metadata: dict[str, Any] | None = None):
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise MissingExtraError("writing ONNX needs the onnx package", "onnx") from exc
    (module,) = modules
    layers = module.layers()
    nodes, initializers = [], []
    layer_input = "X"
    for index, layer_cells in enumerate(layers):
        directions = [cell.direction for cell in layer_cells]
        direction = "bidirectional" if len(directions) == 2 else directions[0]
        cell = layer_cells[0]
        names = {key: f"gru_l{index}_{key}" for key in ("W", "R", "B")}
        initializers += [numpy_helper.from_array(arrays[name], name) for name in names.values()]
        activations = [ONNX_ACTIVATIONS[cell.recurrent_activation], ONNX_ACTIVATIONS[cell.activation]]
        raw_output = f"gru_l{index}_Y"
        nodes.append(helper.make_node(
            "GRU", [layer_input, names["W"], names["R"], names["B"]], [raw_output],
            name=node_name(module, index), hidden_size=cell.hidden_size, direction=direction,
            linear_before_reset=int(cell.reset_after), activations=activations * len(layer_cells)))
        # Y is [seq, D, batch, H]; the next layer (and the user) wants [seq, batch, D*H].
        transposed = f"gru_l{index}_Y_t"
        layer_output = "Y" if index == len(layers) - 1 else f"gru_l{index}_out"
        nodes.append(helper.make_node("Transpose", [raw_output], [transposed], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [transposed, "shape_seq_batch_features"], [layer_output]))
        layer_input = layer_output
    initializers.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64),
                                                "shape_seq_batch_features"))
    directions_count = 2 if module.bidirectional else 1
    graph = helper.make_graph(
        nodes, f"grutool_{module.name}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", module.input_size])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                       ["seq", "batch", directions_count * layers[-1][0].hidden_size])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="grutool")
    model.ir_version = 8  # readable by onnxruntime releases of the last years
    if metadata is not None:
        import json

        helper.set_model_props(model, {"__grutool__": json.dumps(metadata, sort_keys=True)})
    onnx.checker.check_model(model)
    return model


def write(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any],
          modules: list[GruModule]) -> None:
    from ..writers import atomic_path

    model = build_model(arrays, modules, metadata)
    with atomic_path(path) as temporary:
        temporary.write_bytes(model.SerializeToString())


def read_back(arrays: dict[str, np.ndarray], modules: list[GruModule]) -> MemorySource:
    """The model as grutool's ONNX reader sees it, for the pre-write check."""
    from ..readers import open_source

    model = build_model(arrays, modules)
    with tempfile.TemporaryDirectory(prefix="grutool-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        with open_source(path) as source:
            copy = MemorySource({info.name: source.read(info.name) for info in source.tensors()},
                                "<onnx conversion>")
            copy.layer_configs = dict(source.layer_configs)
    return copy


def stream_writer(path: Path, label: Path, modules: list[GruModule], hint: int = 0):
    """A writer that streams the model's initializers to `path` as they are made (see
    `onnx_stream`), for `convert`."""
    from .onnx_stream import OnnxStreamWriter

    return OnnxStreamWriter(path, label, modules, build_model)
