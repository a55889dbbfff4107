"""ONNX GRU nodes (tests/fixtures/onnx, made by make_onnx_fixtures.py): a torch.onnx export of
a stacked bidirectional GRU and helper-built nodes of every direction and reset placement.
grutool finds the cells, stacks chained nodes into one module, and the NumPy GRU run on the
split file alone reproduces onnxruntime's outputs. Reading .onnx needs the onnx extra.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from split_checks import TOLERANCE, load_generator, max_error, split_and_run

import grutool
from grutool.cells import CANONICAL_NAMES, FORWARD, REVERSE, GruCell, GruModule
from grutool.convert import convert, write_conversion
from grutool.errors import InexactConversionError, InputError, MissingExtraError
from grutool.gru import run_module

pytestmark = pytest.mark.onnx

FIXTURES = Path(__file__).parent / "fixtures" / "onnx"
GENERATOR = Path(__file__).parent / "fixtures" / "make_onnx_fixtures.py"
INPUT, HIDDEN = 3, 4

# model stem -> (module, {cell: (layer, direction, input size, reset_after)})
EXPECTED = {
    "forward_lbr0": ("gru", {"gru": (0, FORWARD, INPUT, False)}),
    "reverse_lbr1": ("gru", {"gru_reverse": (0, REVERSE, INPUT, True)}),
    "bidirectional_const_bias": ("gru", {"gru": (0, FORWARD, INPUT, False),
                                         "gru_reverse": (0, REVERSE, INPUT, False)}),
    "torch_gru_bidir_2layer": ("GRU", {"GRU": (0, FORWARD, INPUT, True),
                                        "GRU_reverse": (0, REVERSE, INPUT, True),
                                        "GRU_1": (1, FORWARD, 2 * HIDDEN, True),
                                        "GRU_1_reverse": (1, REVERSE, 2 * HIDDEN, True)}),
}


def check(stem: str, directory: Path, out: Path) -> float:
    with np.load(directory / "reference.npz", allow_pickle=False) as npz:
        x, expected = npz["x"], npz[f"{stem}/y"]
    outputs, arrays, metadata = split_and_run(directory / f"{stem}.onnx", out, x)
    module, cells = EXPECTED[stem]
    assert set(outputs) == {module}
    assert set(metadata["cells"]) == set(cells)
    for name, (layer, direction, input_size, reset_after) in cells.items():
        fields = metadata["cells"][name]
        assert (fields["module"], fields["layer"], fields["direction"]) == (module, layer, direction)
        assert (fields["input_size"], fields["hidden_size"]) == (input_size, HIDDEN)
        assert fields["layout"] == "onnx-gru" and fields["reset_after"] is reset_after
        assert len(fields["source_tensors"]) == 3  # W, R, B
        assert len([k for k in arrays if k.startswith(name + "/")]) == 12
    error = max_error(outputs[module], expected)
    assert error <= TOLERANCE, (stem, error)
    return error


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_committed_fixture_splits_to_onnxruntime_outputs(stem: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    check(stem, FIXTURES, tmp_path / "w.npz")


def test_gru_inputs_from_constant_and_unsqueeze_are_found() -> None:
    pytest.importorskip("onnx")
    with grutool.open_checkpoint(FIXTURES / "bidirectional_const_bias.onnx") as checkpoint:
        assert checkpoint.cells[0].source_tensors == ["W", "R", "B"]
        assert checkpoint.source.infos["B"].shape == (2, 6 * HIDDEN)  # the Constant's value
    with grutool.open_checkpoint(FIXTURES / "reverse_lbr1.onnx") as checkpoint:
        assert checkpoint.source.infos["R"].shape == (1, 3 * HIDDEN, HIDDEN)  # Unsqueeze'd


def test_onnx_missing_is_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError) as raised:
        grutool.open_checkpoint(FIXTURES / "forward_lbr0.onnx")
    assert raised.value.extra == "onnx"


def _model(tmp_path: Path, name: str, **attributes):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, (1, 3 * HIDDEN, INPUT)).astype(np.float32)
    r = rng.uniform(-1, 1, (1, 3 * HIDDEN, HIDDEN)).astype(np.float32)
    layout = attributes.get("layout", 0)
    x_shape = [2, 6, INPUT] if layout else [6, 2, INPUT]
    graph = helper.make_graph(
        [helper.make_node("GRU", ["X", "W", "R"], ["Y"], name="g", hidden_size=HIDDEN,
                          **attributes)], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def test_clip_is_refused_with_a_warning(tmp_path: Path) -> None:
    path = _model(tmp_path, "clipped", clip=1.0)
    with grutool.open_checkpoint(path) as checkpoint:
        assert checkpoint.cells == []
        assert any("clips" in warning for warning in checkpoint.warnings)


def test_layout_1_only_moves_the_batch_axis(tmp_path: Path) -> None:
    # layout=1 lays X and Y out batch-major; W, R, B are the same. (onnxruntime's CPU GRU
    # refuses layout=1, so there is no runtime output to compare against.)
    batch_major, time_major = _model(tmp_path, "batch_major", layout=1), _model(tmp_path, "t")
    with grutool.open_checkpoint(batch_major) as first, grutool.open_checkpoint(time_major) as second:
        assert first.warnings == [] and len(first.cells) == 1
        assert [node.attributes.get("layout") for node in first.source.graph.nodes
                if node.op_type == "GRU"] == [1]
        for part, array in second.canonical("g").items():
            np.testing.assert_array_equal(first.canonical("g")[part], array)


def test_external_data_outside_the_model_folder_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import external_data_helper

    inside = tmp_path / "inside"
    inside.mkdir()
    model = onnx.load(str(_model(tmp_path, "m")))
    external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save(model, str(inside / "m.onnx"))
    with grutool.open_checkpoint(inside / "m.onnx") as checkpoint:  # inside: read
        assert [cell.name for cell in checkpoint.cells] == ["g"]
        assert checkpoint.canonical("g")["W_hn"].shape == (HIDDEN, HIDDEN)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../outside.bin"
    (tmp_path / "outside.bin").write_bytes((inside / "weights.bin").read_bytes())
    onnx.save(model, str(inside / "escape.onnx"))
    with pytest.raises(InputError, match="outside the model's folder"):
        grutool.open_checkpoint(inside / "escape.onnx")


def test_live_onnx_fixtures_match(tmp_path: Path) -> None:
    """Make the fixtures afresh (torch exporter, onnxruntime) and check them the same way."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    load_generator(GENERATOR).main(tmp_path)
    for stem in EXPECTED:
        check(stem, tmp_path, tmp_path / f"{stem}.npz")


def test_activations_attribute_is_honoured(tmp_path: Path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    path = _model(tmp_path, "relu", activations=["Sigmoid", "Relu"])
    x = np.random.default_rng(2).uniform(-2, 2, (6, 2, INPUT)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = session.run(None, {"X": x})[0][:, 0]  # [T, B, H]
    outputs, _, metadata = split_and_run(path, tmp_path / "w.npz", x)
    assert metadata["cells"]["g"]["activation"] == "relu"
    assert max_error(outputs["g"], y) <= TOLERANCE


def test_unsupported_activation_is_refused_with_a_warning(tmp_path: Path) -> None:
    # HardSwish is an ONNX op but not one of the activations an ONNX GRU may name.
    path = _model(tmp_path, "hardswish", activations=["Sigmoid", "HardSwish"])
    with grutool.open_checkpoint(path) as checkpoint:
        assert checkpoint.cells == []
        assert any("HardSwish" in warning for warning in checkpoint.warnings)


def test_weights_computed_at_run_time_are_reported(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    model = onnx.load(str(_model(tmp_path, "m")))
    # W becomes a graph input: it is known only when the model runs.
    kept = [t for t in model.graph.initializer if t.name != "W"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 12, 3]))
    onnx.save(model, str(tmp_path / "runtime_w.onnx"))
    with grutool.open_checkpoint(tmp_path / "runtime_w.onnx") as checkpoint:
        assert checkpoint.cells == []
        assert any("W (W)" in warning and "constant" in warning
                   for warning in checkpoint.warnings)


# --- structure: which graphs are one module, and what converting to ONNX keeps -------------

KERAS = Path(__file__).parent / "fixtures" / "keras"
TOLERANCE_ORT = 1e-5


def _gru_arrays(rng: np.random.Generator, count: int, input_size: int) -> tuple:
    w = rng.uniform(-1, 1, (count, 3 * HIDDEN, input_size)).astype(np.float32)
    r = rng.uniform(-1, 1, (count, 3 * HIDDEN, HIDDEN)).astype(np.float32)
    b = rng.uniform(-1, 1, (count, 6 * HIDDEN)).astype(np.float32)
    return w, r, b


def _two_nodes(tmp_path: Path, name: str, link: list, count: int = 2, upper_input: int = 0,
               constants: dict | None = None, opset: int = 14, tail: list = ()) -> Path:
    """Two GRU nodes (`lower`, `upper`), lower's Y joined to upper's X by the ops `link`
    builds from (input tensor, output tensor); the model's output `Y` is upper's Y after the
    ops `tail` (its raw Y [T, D, B, H] without any)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    direction = "bidirectional" if count == 2 else "forward"
    upper_input = upper_input or count * HIDDEN
    initializers = []
    for node, size in (("lower", INPUT), ("upper", upper_input)):
        for key, array in zip("WRB", _gru_arrays(rng, count, size), strict=True):
            initializers.append(numpy_helper.from_array(array, f"{node}_{key}"))
    for key, value in (constants or {}).items():
        initializers.append(numpy_helper.from_array(np.asarray(value), key))
    nodes = [helper.make_node("GRU", ["X", "lower_W", "lower_R", "lower_B"], ["lower_Y"],
                              name="/lower", hidden_size=HIDDEN, direction=direction,
                              linear_before_reset=1)]
    tensor = "lower_Y"
    for index, make in enumerate(link):
        output = f"link_{index}"
        nodes.append(make(tensor, output))
        tensor = output
    nodes.append(helper.make_node("GRU", [tensor, "upper_W", "upper_R", "upper_B"],
                                  ["upper_Y" if tail else "Y"], name="/upper",
                                  hidden_size=HIDDEN, direction=direction, linear_before_reset=1))
    tensor = "upper_Y"
    for index, make in enumerate(tail):
        output = "Y" if index == len(tail) - 1 else f"tail_{index}"
        nodes.append(make(tensor, output))
        tensor = output
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 2, INPUT])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _ort(path: Path, x: np.ndarray, output: str = "Y") -> np.ndarray:
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([output], {"X": np.ascontiguousarray(x, np.float32)})[0]


def _time_major(y: np.ndarray) -> np.ndarray:
    """A GRU node's Y [T, D, B, H] as [T, B, D*H], directions side by side."""
    return y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)


def _node(op: str, *inputs: str, **attributes):
    """A node maker, made at import time: onnx is imported only when a test builds the node,
    so the module still collects where onnx is not installed (those tests are marked)."""
    def make(tensor: str, output: str):
        from onnx import helper

        return helper.make_node(op, [tensor, *inputs], [output], **attributes)

    return make


def _modules(path: Path) -> list:
    with grutool.open_checkpoint(path) as checkpoint:
        return [module.to_json() for module in checkpoint.modules]


TORCH_LINK = [_node("Transpose", perm=[0, 2, 1, 3]), _node("Reshape", "flat")]
FLAT = {"flat": np.array([0, 0, -1], np.int64)}


@pytest.mark.parametrize("case, link, constants, count, upper_input", [
    ("transpose_0231", [_node("Transpose", perm=[0, 2, 3, 1]), _node("Reshape", "flat")],
     FLAT, 2, 0),
    ("then_cast", [*TORCH_LINK, _node("Cast", to=1)], FLAT, 2, 0),
    ("reshape_0_m1_h", [_node("Transpose", perm=[0, 2, 1, 3]), _node("Reshape", "other")],
     {"other": np.array([0, -1, HIDDEN], np.int64)}, 1, 0),
    ("training_dropout", [*TORCH_LINK, _node("Dropout", "", "training")],
     {**FLAT, "training": np.array(True)}, 2, 0),
])
def test_a_chain_that_is_no_exporter_pattern_leaves_two_modules(tmp_path, case, link, constants,
                                                                 count, upper_input):
    path = _two_nodes(tmp_path, case, link, count, upper_input, constants)
    x = np.random.default_rng(3).uniform(-2, 2, (5, 2, INPUT)).astype(np.float32)
    if case == "transpose_0231":  # interleaved features: onnxruntime runs the graph, and
        expected = _time_major(_ort(path, x))
        # Read as one stack, the two nodes would compute something else than onnxruntime.
        with grutool.open_checkpoint(path) as checkpoint:
            cells = [cell for module in checkpoint.modules for cell in module.cells]
            stacked = GruModule("stacked", [GruCell(**{**cell.__dict__, "layer": k // count})
                                            for k, cell in enumerate(cells)], merge="concat")
            weights = {cell.name: checkpoint.canonical(cell) for cell in cells}
        assert max_error(run_module(stacked, weights, x), expected) > 1e-3
    modules = _modules(path)
    assert [(m["name"], m["num_layers"]) for m in modules] == [("lower", 1), ("upper", 1)]


SUM = _node("ReduceSum", "axis_1", keepdims=0)
AXIS_1 = {"axis_1": np.array([1], np.int64)}


@pytest.mark.parametrize("case, link, constants, count, merge, tail", [
    ("torch_bidirectional", TORCH_LINK, FLAT, 2, "concat", ()),
    ("torch_bidirectional_flat_output", TORCH_LINK, FLAT, 2, "concat", TORCH_LINK),
    ("torch_one_direction", [_node("Squeeze", "axis_1")], AXIS_1, 1, None, ()),
    ("one_direction_transpose", TORCH_LINK, FLAT, 1, None, ()),
    ("identity_and_dropout", [_node("Identity"), TORCH_LINK[0], _node("Dropout"),
                              TORCH_LINK[1]], FLAT, 2, "concat", ()),
    ("sum", [SUM], AXIS_1, 2, "sum", [SUM]),
    ("ave", [_node("ReduceMean", axes=[1], keepdims=0)], {}, 2, "ave",
     [_node("ReduceMean", axes=[1], keepdims=0)]),
    ("mul", [_node("ReduceProd", axes=[-3], keepdims=0)], {}, 2, "mul",
     [_node("ReduceProd", axes=[1], keepdims=0)]),
    ("reversed_between", [_node("Squeeze", "axis_1"),
                          _node("Slice", "start", "end", "axis_0", "step")],
     {**AXIS_1, "start": np.array([-1], np.int64), "end": np.array([-2**63], np.int64),
      "axis_0": np.array([0], np.int64), "step": np.array([-1], np.int64)}, 1, None, ()),
])
def test_exporter_and_merge_patterns_stack_and_compute_what_onnxruntime_does(
        tmp_path, case, link, constants, count, merge, tail):
    width = HIDDEN if merge in ("sum", "ave", "mul") else count * HIDDEN
    path = _two_nodes(tmp_path, case, link, count, width, constants, tail=tail)
    (module,) = _modules(path)
    assert (module["name"], module["num_layers"], module["merge"]) == ("lower", 2, merge)
    assert module["cells"] == (["lower", "upper"] if count == 1 else
                               ["lower", "lower_reverse", "upper", "upper_reverse"])
    x = np.random.default_rng(4).uniform(-2, 2, (5, 2, INPUT)).astype(np.float32)
    expected = _ort(path, x)
    if expected.ndim == 4:
        expected = _time_major(expected)
    with grutool.open_checkpoint(path) as checkpoint:
        (read,) = checkpoint.modules
        weights = {cell.name: checkpoint.canonical(cell) for cell in read.cells}
        reversed_ = [cell.outputs_time_reversed for cell in read.cells]
    assert reversed_ == ([True, False] if case == "reversed_between" else [False] * len(reversed_))
    assert max_error(run_module(read, weights, x), expected) <= TOLERANCE_ORT


def test_a_top_node_merged_otherwise_than_the_links_is_a_module_of_its_own(tmp_path):
    path = _two_nodes(tmp_path, "sum_then_raw", [SUM], 2, HIDDEN, AXIS_1)
    assert [(m["name"], m["num_layers"], m["merge"]) for m in _modules(path)] == [
        ("lower", 1, "sum"), ("upper", 1, "concat")]


def test_torch_export_is_one_two_layer_bidirectional_module() -> None:
    pytest.importorskip("onnx")
    path = FIXTURES / "torch_gru_bidir_2layer.onnx"
    (module,) = _modules(path)
    assert module == {**module, "name": "GRU", "num_layers": 2, "bidirectional": True,
                      "merge": "concat", "layer_order": "model",
                      "cells": ["GRU", "GRU_reverse", "GRU_1", "GRU_1_reverse"]}
    with grutool.open_checkpoint(path) as checkpoint:
        assert all(cell.extra["structure_from_file"] for cell in checkpoint.cells)
        assert checkpoint.cells[0].source_tensors == ["onnx::GRU_343", "onnx::GRU_344",
                                                      "onnx::GRU_342"]
        weights = {cell.name: checkpoint.canonical(cell) for cell in checkpoint.cells}
        (read,) = checkpoint.modules
        with np.load(FIXTURES / "reference.npz", allow_pickle=False) as npz:
            x, expected = npz["x"], npz["torch_gru_bidir_2layer/y"]  # onnxruntime's output
        assert max_error(run_module(read, weights, x), expected) <= TOLERANCE_ORT


@pytest.mark.torch
@pytest.mark.parametrize("layers, bidirectional", [(2, False), (3, True)])
def test_live_torch_exports_are_one_module(tmp_path, layers, bidirectional) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(5)
    gru = torch.nn.GRU(INPUT, HIDDEN, num_layers=layers, bidirectional=bidirectional).eval()
    path = tmp_path / "gru.onnx"
    torch.onnx.export(gru, (torch.zeros(5, 2, INPUT),), str(path), dynamo=False,
                      opset_version=14, input_names=["X"], output_names=["Y", "Y_h"])
    (module,) = _modules(path)
    assert (module["num_layers"], module["bidirectional"]) == (layers, bidirectional)
    x = np.random.default_rng(6).uniform(-2, 2, (5, 2, INPUT)).astype(np.float32)
    outputs, _, _ = split_and_run(path, tmp_path / "w.npz", x)
    assert max_error(outputs[module["name"]], _ort(path, x)) <= TOLERANCE_ORT


def test_split_to_h5_keeps_the_keys_the_metadata_names(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    h5py = pytest.importorskip("h5py")
    out = tmp_path / "w.h5"
    grutool.split(FIXTURES / "torch_gru_bidir_2layer.onnx", out)
    with h5py.File(out, "r") as handle:
        keys: list[str] = []
        handle.visititems(lambda name, obj: keys.append(name)
                          if isinstance(obj, h5py.Dataset) else None)
        metadata = json.loads(handle.attrs["__grutool__"])
    assert sorted(metadata["cells"]) == ["GRU", "GRU_1", "GRU_1_reverse", "GRU_reverse"]
    expected = {f"{cell}/{part}" for cell in metadata["cells"] for part in CANONICAL_NAMES}
    assert set(keys) == expected
    assert metadata["cells"]["GRU"]["source_tensors"] == ["onnx::GRU_343", "onnx::GRU_344",
                                                          "onnx::GRU_342"]
    # and grutool reads its own .h5 back as the same cells
    with grutool.open_checkpoint(out) as checkpoint:
        assert [cell.name for cell in checkpoint.cells] == ["GRU", "GRU_reverse", "GRU_1",
                                                             "GRU_1_reverse"]


# --- activations ----------------------------------------------------------------------------


@pytest.mark.parametrize("activations, alpha, beta, names", [
    # Keras 3's hard sigmoid x/6 + 1/2, and Keras 2's 0.2x + 1/2 (ONNX's defaults)
    (["HardSigmoid", "Tanh", "HardSigmoid", "Tanh"], [1 / 6], [0.5],
     [("hard_sigmoid_keras3", "tanh"), ("hard_sigmoid", "tanh")]),
    # alpha values go, in order, only to the activations that take one
    (["Sigmoid", "LeakyRelu", "Softsign", "Elu"], [0.3, 0.7], [],
     [("sigmoid", "relu(negative_slope=0.3)"), ("softsign", "elu(alpha=0.7)")]),
    (["HardSigmoid", "ScaledTanh", "Sigmoid", "Affine"], [0.25, 1.5, 0.5], [0.4, 0.8, 0.1],
     [("hard_sigmoid(alpha=0.25,beta=0.4)", "scaled_tanh(alpha=1.5,beta=0.8)"),
      ("sigmoid", "affine(alpha=0.5,beta=0.1)")]),
    (["Sigmoid", "ThresholdedRelu", "Sigmoid", "Softplus"], [0.2], [],
     [("sigmoid", "thresholded_relu(alpha=0.2)"), ("sigmoid", "softplus")]),
    (["Sigmoid", "Relu", "Sigmoid", "Affine"], [1.0], [0.0],
     [("sigmoid", "relu"), ("sigmoid", "linear")]),
])
def test_activations_and_their_parameters_compute_what_onnxruntime_does(
        tmp_path, activations, alpha, beta, names):
    attributes = {"activations": activations, "activation_alpha": alpha}
    if beta:
        attributes["activation_beta"] = beta
    path = _bidirectional_model(tmp_path, **attributes)
    x = np.random.default_rng(8).uniform(-3, 3, (6, 2, INPUT)).astype(np.float32)
    expected = _time_major(_ort(path, x))
    outputs, _, metadata = split_and_run(path, tmp_path / "w.npz", x)
    got = [(metadata["cells"][name]["recurrent_activation"], metadata["cells"][name]["activation"])
           for name in ("g", "g_reverse")]
    assert got == names
    assert max_error(outputs["g"], expected) <= TOLERANCE_ORT


@pytest.mark.parametrize("attributes, words", [
    ({"activations": ["Sigmoid", "Affine", "Sigmoid", "Tanh"]}, "activation_alpha"),
    ({"activations": ["Sigmoid", "Tanh", "Sigmoid", "Tanh"], "activation_alpha": [0.5]},
     "1 activation_alpha values but its activations take 0"),
    ({"activations": ["Sigmoid", "ThresholdedRelu", "Sigmoid", "Tanh"]}, "activation_alpha"),
])
def test_activation_parameters_that_are_unclear_are_refused_with_a_warning(tmp_path, attributes,
                                                                          words):
    path = _bidirectional_model(tmp_path, **attributes)
    with grutool.open_checkpoint(path) as checkpoint:
        assert checkpoint.cells == []
        assert any(words in warning for warning in checkpoint.warnings), checkpoint.warnings


def _bidirectional_model(tmp_path: Path, **attributes) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w, r, b = _gru_arrays(np.random.default_rng(9), 2, INPUT)
    graph = helper.make_graph(
        [helper.make_node("GRU", ["X", "W", "R", "B"], ["Y"], name="g", hidden_size=HIDDEN,
                          direction="bidirectional", **attributes)], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 2, INPUT])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
         numpy_helper.from_array(b, "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    path = tmp_path / "bidirectional.onnx"
    onnx.save(model, str(path))
    return path


# --- converting Keras structures to ONNX, run in onnxruntime --------------------------------


def _keras_io(case: str, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The Keras layer's input and output as Keras computed them, time-major."""
    with np.load(KERAS / case / "reference.npz", allow_pickle=False) as data:
        x, y = data[f"input/{layer}"], data[f"output/{layer}"]
    return np.transpose(x, (1, 0, 2)), np.transpose(y, (1, 0, 2))


def _merge_mode(case: str) -> str:
    with zipfile.ZipFile(KERAS / case / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    (layer,) = [item for item in config["config"]["layers"]
                if item["class_name"] == "Bidirectional"]
    return layer["config"]["merge_mode"]


@pytest.mark.keras
@pytest.mark.parametrize("mode", ["sum", "mul", "ave"])
def test_keras_bidirectional_merge_is_written_exactly(tmp_path, mode):
    """The ONNX target writes Keras's merge: onnxruntime reproduces Keras's own output. The
    merge is taken from the model's config.json here, whatever the Keras family reports."""
    case = f"k3_bidi_{mode}"
    assert _merge_mode(case) == mode
    out = tmp_path / "m.onnx"
    with grutool.open_checkpoint(KERAS / case / "model.keras") as checkpoint:
        checkpoint.recognition.merges["layers/bidirectional"] = mode
        conversion = convert(checkpoint, "onnx")
        assert conversion.verification.ok, conversion.verification.failure()
        write_conversion(conversion, out, False, [])
    x, expected = _keras_io(case, "bidirectional")
    got = _ort(out, x)
    assert got.shape == expected.shape == (x.shape[0], x.shape[1], HIDDEN)
    assert max_error(got, expected) <= TOLERANCE_ORT
    (module,) = _modules(out)
    assert (module["merge"], module["bidirectional"]) == (mode, True)


@pytest.mark.keras
@pytest.mark.parametrize("mode", ["sum", "mul", "ave"])
def test_cli_converts_a_keras_bidirectional_merge_to_onnx(run, tmp_path, mode):
    case = f"k3_bidi_{mode}"
    with grutool.open_checkpoint(KERAS / case / "model.keras") as checkpoint:
        (module,) = checkpoint.modules
    if module.merge is None:
        pytest.xfail("the Keras family does not record Bidirectional's merge_mode yet")
    out = tmp_path / "m.onnx"
    result = run("convert", KERAS / case / "model.keras", "--to", "onnx", "--out", out)
    assert result.exit_code == 0, result.stderr
    x, expected = _keras_io(case, "bidirectional")
    assert max_error(_ort(out, x), expected) <= TOLERANCE_ORT


@pytest.mark.keras
def test_lone_go_backwards_layer_keeps_its_output_order(run, tmp_path):
    out = tmp_path / "back.onnx"
    result = run("convert", KERAS / "k3_go_backwards" / "model.keras", "--to", "onnx",
                 "--out", out)
    assert result.exit_code == 0, result.stderr
    x, expected = _keras_io("k3_go_backwards", "gru")
    got = _ort(out, x)
    assert max_error(got, expected) <= TOLERANCE_ORT
    assert max_error(got[::-1], expected) > 0.1  # input order would be another function
    (module,) = _modules(out)
    with grutool.open_checkpoint(out) as checkpoint:
        (cell,) = checkpoint.cells
        assert (cell.direction, cell.outputs_time_reversed) == (REVERSE, True)


@pytest.mark.keras
def test_keras3_hard_sigmoid_is_written_as_its_exact_onnx_activation(run, tmp_path):
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "act.onnx"
    result = run("convert", KERAS / "k3_activations" / "model.keras", "--to", "onnx",
                 "--out", out)
    assert result.exit_code == 0, result.stderr
    (node,) = [n for n in onnx.load(str(out)).graph.node if n.op_type == "GRU"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attributes["activations"] == [b"HardSigmoid", b"Relu"]
    assert attributes["activation_alpha"] == [pytest.approx(1 / 6)]
    assert attributes["activation_beta"] == [0.5]
    x, expected = _keras_io("k3_activations", "gru")
    assert max_error(_ort(out, x), expected) <= TOLERANCE_ORT


@pytest.mark.keras
def test_the_proof_fails_when_the_written_structure_is_not_read_back(tmp_path, monkeypatch):
    """Were the family blind to grutool's own merge and reversal ops, the check would see a
    different module and nothing would be written."""
    from grutool.families import onnx_gru

    monkeypatch.setattr(onnx_gru, "_reduces_directions", lambda op: False)
    monkeypatch.setattr(onnx_gru, "_reverses_time", lambda op, rank: False)
    with grutool.open_checkpoint(KERAS / "k3_bidi_sum" / "model.keras") as checkpoint:
        checkpoint.recognition.merges["layers/bidirectional"] = "sum"
        verification = convert(checkpoint, "onnx").verification
        assert not verification.ok and "merges its directions by sum" in verification.failure()
    with grutool.open_checkpoint(KERAS / "k3_go_backwards" / "model.keras") as checkpoint:
        verification = convert(checkpoint, "onnx").verification
        assert not verification.ok and "last-read first" in verification.failure()


@pytest.mark.keras
def test_structures_onnx_cannot_hold_are_refused(tmp_path):
    with grutool.open_checkpoint(KERAS / "k3_bidirectional" / "model.keras") as checkpoint:
        checkpoint.recognition.merges["layers/bidirectional"] = "none"
        with pytest.raises(InexactConversionError, match="apart"):
            convert(checkpoint, "onnx")
    with grutool.open_checkpoint(KERAS / "k3_reset_after" / "model.keras") as checkpoint:
        checkpoint.cells[0].activation = "relu(max_value=6)"
        with pytest.raises(InexactConversionError, match=r"relu\(max_value=6\)"):
            convert(checkpoint, "onnx")
