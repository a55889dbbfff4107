"""ONNX: a runnable model of one module, float32, opset 14.

Input `X` [seq, batch, I]. One `GRU` node per layer (W [D, 3H, I], R [D, 3H, H], B [D, 6H],
gates z | r | h, `linear_before_reset` from the source's reset placement, `activations`
with their exact `activation_alpha`/`activation_beta`), named `<module>/gru_l<k>` (without
a leading `/`, as grutool names ONNX cells). After each node, its `Y` [seq, D, batch, H]
becomes the layer's output:

- one direction, or two concatenated (`merge` concat, or not stated): Transpose
  perm=[0,2,1,3] then Reshape [0, 0, -1], as torch's exporter writes it: [seq, batch, D*H];
- two directions summed, averaged or multiplied (Keras's `merge_mode` sum, ave, mul):
  ReduceSum, ReduceMean or ReduceProd over the direction axis, keepdims=0: [seq, batch, H];
- a layer whose outputs run last-read first (a lone Keras `go_backwards` layer): then a
  Slice that reverses the time axis (starts -1, ends INT64_MIN, step -1).

The last layer's output is the model's output `Y`: [seq, batch, D*H] for one direction or a
concatenation, [seq, batch, H] for a sum, average or product. Refused (exit 1, with the
reason): a bidirectional module whose directions stay apart (Keras `merge_mode=None`, a
list, where this model has one output), an activation no ONNX GRU activation computes
(`relu(max_value=…)`, selu, …), a layer whose two directions differ in reset placement or
in the order of their outputs.

The ONNX GRU family reads every one of these patterns back as the same structure (merge,
outputs' time order, activations), so `convert`'s proof compares like with like.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..activations import parameters
from ..cells import REVERSE, CanonicalWeights, GruCell, GruModule
from ..errors import InexactConversionError, MissingExtraError
from ..families import onnx_gru
from ..families.onnx_gru import cell_base
from ..tensors import METADATA_KEY, MemorySource
from ..where import fill

NAME = "onnx"
RESET_AFTER = (False, True)
SUFFIXES = (".onnx",)
OWN_SUFFIXES = (".onnx",)
ONE_MODULE = True
OPSET = 14
INT64_MIN = -(2**63)
# grutool's plain activations -> the ONNX GRU activation computing exactly that.
PLAIN = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign",
         "softplus": "Softplus"}
# grutool's parametrised families -> (ONNX activation, its alpha and beta from the params).
PARAMETRISED = {
    "hard_sigmoid": ("HardSigmoid", ("alpha", "beta")),
    "leaky_relu": ("LeakyRelu", ("alpha",)),
    "thresholded_relu": ("ThresholdedRelu", ("alpha",)),
    "elu": ("Elu", ("alpha",)),
    "scaled_tanh": ("ScaledTanh", ("alpha", "beta")),
    "affine": ("Affine", ("alpha", "beta")),
}
_REDUCE = {"sum": "ReduceSum", "ave": "ReduceMean", "mul": "ReduceProd"}


def onnx_activation(name: str) -> tuple[str, list[float], list[float]] | str:
    """(ONNX activation, its alpha values, its beta values) computing exactly `name`, or why
    there is none."""
    if name in PLAIN:
        return PLAIN[name], [], []
    if name == "linear":
        return "Affine", [1.0], [0.0]
    family, params = parameters(name)
    if family == "relu":
        if params.get("max_value") is None and params.get("threshold") == 0.0:
            return "LeakyRelu", [float(params["negative_slope"] or 0.0)], []
        return (f"{name} has no ONNX GRU activation (ONNX's Relu and LeakyRelu have no "
                "maximum or threshold)")
    if family not in PARAMETRISED or any(value is None for value in params.values()):
        return f"{name} has no ONNX GRU activation"
    onnx_name, used = PARAMETRISED[family]
    values = [float(cast(float, params[key])) for key in used]  # no None: checked above
    return onnx_name, values[:1], values[1:]


def unsupported(cell: GruCell) -> str | None:
    for activation in (cell.recurrent_activation, cell.activation):
        found = onnx_activation(activation)
        if isinstance(found, str):
            return f"{cell.name} uses activation {activation}: {found}"
    return None


def unsupported_module(module: GruModule) -> str | None:
    """Why the module's structure cannot be written exactly as one ONNX model, or None."""
    if module.bidirectional and module.merge == "none":
        return (f"module {module.name} returns its two directions apart (merge none), and "
                "the ONNX model grutool writes has one output Y; convert from a file that "
                "merges them, or write the directions as two one-direction modules")
    for index, layer in enumerate(module.layers()):
        if len({cell.reset_after for cell in layer}) > 1:
            return (f"layer {index} of module {module.name} mixes reset placements, and an "
                    "ONNX GRU node has one")
        if len({cell.outputs_time_reversed for cell in layer}) > 1:
            return (f"layer {index} of module {module.name} returns one direction's outputs "
                    "last-read first and the other's in input order")
    return None


def node_name(module: GruModule, layer_index: int) -> str:
    return cell_base(f"{module.name}/gru_l{layer_index}")


def cell_name(module: GruModule, cell: GruCell) -> str:
    """The name grutool gives this cell when it reads the written file back."""
    index = next(k for k, layer in enumerate(module.layers()) if cell in layer)
    return node_name(module, index) + ("_reverse" if cell.direction == REVERSE else "")


def _layer_arrays(layer_cells: list[GruCell], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    """W [D, 3H, I], R [D, 3H, H], B [D, 6H] of one layer, each direction d written with the
    ONNX family's own description of the cell at index d (float32, as the model's input)."""
    inputs, hidden = layer_cells[0].input_size, layer_cells[0].hidden_size
    count = len(layer_cells)
    shapes = {"W": (count, 3 * hidden, inputs), "R": (count, 3 * hidden, hidden),
              "B": (count, 6 * hidden)}
    arrays = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    for index, cell in enumerate(layer_cells):
        target = replace(cell, layout=onnx_gru.LAYOUTS[0], roles={key: key for key in shapes},
                         extra={"direction_index": index})
        w = {name: np.asarray(value, np.float32) for name, value in weights[cell.name].items()}
        written = fill(onnx_gru.where(target), w, shapes, np.dtype(np.float32))
        for name in shapes:
            arrays[name][index] = written[name][index]
    return arrays


def from_canonical(modules: list[GruModule], weights: dict[str, CanonicalWeights]) -> dict[str, np.ndarray]:
    return dict(iter_arrays(modules, lambda cell: weights[cell.name]))


def iter_arrays(modules: list[GruModule], weights_of: Callable[[GruCell], CanonicalWeights]
                ) -> Iterator[tuple[str, np.ndarray]]:
    """The initializers one layer at a time, each layer's weights asked for when it is
    reached (for a writer that streams)."""
    (module,) = modules
    reason = unsupported_module(module)
    if reason:
        raise InexactConversionError(f"cannot convert to onnx: {reason}")
    for index, layer_cells in enumerate(module.layers()):
        arrays = _layer_arrays(layer_cells, {cell.name: weights_of(cell) for cell in layer_cells})
        while arrays:
            key = next(iter(arrays))
            yield f"gru_l{index}_{key}", arrays.pop(key)


def _activation_attributes(layer_cells: list[GruCell]) -> dict[str, Any]:
    names, alphas, betas = [], [], []
    for cell in layer_cells:  # per direction: f (z and r gates), then g (candidate)
        for activation in (cell.recurrent_activation, cell.activation):
            found = onnx_activation(activation)
            if isinstance(found, str):
                raise InexactConversionError(f"cannot convert to onnx: {cell.name} uses "
                                             f"activation {activation}: {found}")
            names.append(found[0])
            alphas += found[1]
            betas += found[2]
    attributes: dict[str, Any] = {"activations": names}
    if alphas:
        attributes["activation_alpha"] = alphas
    if betas:
        attributes["activation_beta"] = betas
    return attributes


def _layer_output(helper: Any, module: GruModule, index: int, layer_cells: list[GruCell],
                  raw: str, output: str) -> tuple[list[Any], dict[str, np.ndarray]]:
    """The ops that turn a node's Y [seq, D, batch, H] into the layer's output, and the
    constants they need."""
    nodes, constants = [], {}
    merge = module.merge if len(layer_cells) == 2 else None
    reversed_ = layer_cells[0].outputs_time_reversed
    merged = f"gru_l{index}_merged" if reversed_ else output
    if merge in _REDUCE:
        if merge == "sum":  # opset 13+: axes is an input; ReduceMean/Prod keep it an attribute
            constants["axes_directions"] = np.array([1], np.int64)
            nodes.append(helper.make_node("ReduceSum", [raw, "axes_directions"], [merged],
                                          keepdims=0))
        else:
            nodes.append(helper.make_node(_REDUCE[merge], [raw], [merged], axes=[1],
                                          keepdims=0))
    else:
        transposed = f"gru_l{index}_Y_t"
        constants["shape_seq_batch_features"] = np.array([0, 0, -1], np.int64)
        nodes.append(helper.make_node("Transpose", [raw], [transposed], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [transposed, "shape_seq_batch_features"],
                                      [merged]))
    if reversed_:
        constants.update({"reverse_starts": np.array([-1], np.int64),
                          "reverse_ends": np.array([INT64_MIN], np.int64),
                          "reverse_axes": np.array([0], np.int64),
                          "reverse_steps": np.array([-1], np.int64)})
        nodes.append(helper.make_node(
            "Slice", [merged, "reverse_starts", "reverse_ends", "reverse_axes", "reverse_steps"],
            [output]))
    return nodes, constants


def output_width(module: GruModule) -> int:
    top = module.layers()[-1]
    merged = len(top) == 2 and module.merge in _REDUCE
    return top[0].hidden_size * (1 if merged else len(top))


def build_model(arrays: dict[str, np.ndarray], modules: list[GruModule], metadata: dict[str, Any] | None = None):
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise MissingExtraError("writing ONNX needs the onnx package", "onnx") from exc
    (module,) = modules
    layers = module.layers()
    nodes, initializers, constants = [], [], {}
    layer_input = "X"
    for index, layer_cells in enumerate(layers):
        directions = [cell.direction for cell in layer_cells]
        direction = "bidirectional" if len(directions) == 2 else directions[0]
        cell = layer_cells[0]
        names = {key: f"gru_l{index}_{key}" for key in ("W", "R", "B")}
        initializers += [numpy_helper.from_array(arrays[name], name) for name in names.values()]
        raw_output = f"gru_l{index}_Y"
        nodes.append(helper.make_node(
            "GRU", [layer_input, names["W"], names["R"], names["B"]], [raw_output],
            name=node_name(module, index), hidden_size=cell.hidden_size, direction=direction,
            linear_before_reset=int(cell.reset_after), **_activation_attributes(layer_cells)))
        layer_output = "Y" if index == len(layers) - 1 else f"gru_l{index}_out"
        layer_nodes, layer_constants = _layer_output(helper, module, index, layer_cells,
                                                     raw_output, layer_output)
        nodes += layer_nodes
        constants.update(layer_constants)
        layer_input = layer_output
    initializers += [numpy_helper.from_array(value, name) for name, value in constants.items()]
    graph = helper.make_graph(
        nodes, f"grutool_{module.name}",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", module.input_size])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                       ["seq", "batch", output_width(module)])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="grutool")
    model.ir_version = 8  # readable by onnxruntime releases of the last years
    if metadata is not None:
        import json

        helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    onnx.checker.check_model(model)
    return model


def write(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any],
          modules: list[GruModule]) -> None:
    from ..writers import atomic_path

    model = build_model(arrays, modules, metadata)
    with atomic_path(path) as temporary:
        temporary.write_bytes(model.SerializeToString())


def read_back(arrays: dict[str, np.ndarray], modules: list[GruModule]) -> MemorySource:
    """The model as grutool's ONNX reader sees it, for the pre-write check: the GRU family
    reads its merge, time order and activations from the graph, as from any ONNX file."""
    from ..readers import open_source

    model = build_model(arrays, modules)
    with tempfile.TemporaryDirectory(prefix="grutool-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        with open_source(path) as source:
            copy = MemorySource({info.name: source.read(info.name) for info in source.tensors()},
                                "<onnx conversion>")
            copy.graph = source.graph
    return copy


def stream_writer(path: Path, label: Path, modules: list[GruModule], hint: int = 0):
    """A writer that streams the model's initializers to `path` as they are made (see
    `onnx_stream`), for `convert`."""
    from .onnx_stream import OnnxStreamWriter

    return OnnxStreamWriter(path, label, modules, build_model)
