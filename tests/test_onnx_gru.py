"""ONNX GRU nodes (tests/fixtures/onnx, made by make_onnx_fixtures.py): a torch.onnx export of
a stacked bidirectional GRU and helper-built nodes of every direction and reset placement.
grutool finds the cells, stacks chained nodes into one module, and the NumPy GRU run on the
split file alone reproduces onnxruntime's outputs. Reading .onnx needs the onnx extra.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import grutool
from grutool.cells import FORWARD, REVERSE
from grutool.errors import InputError, MissingExtraError
from split_checks import TOLERANCE, load_generator, max_error, split_and_run

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
        assert first.warnings == [] and [c.extra["layout"] for c in first.cells] == [1]
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
