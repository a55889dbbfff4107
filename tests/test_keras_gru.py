"""Keras GRU cells in every Keras file format, checked against Keras's own outputs.

Each fixture case (tests/fixtures/keras/<case>/, written by make_keras_fixtures.py with the
real Keras 3 and tf_keras) is split to .npz; each module's weights are rebuilt from that npz
alone and the whole module (stack, directions, merge) run through grutool's NumPy GRU, which
must reproduce the layer outputs Keras recorded (max abs error <= 1e-5). Modules and cells
must come out in model order, with the merge and layer order the file states.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import grutool
from grutool.activations import UNKNOWN, function
from grutool.cells import CANONICAL_NAMES, GruCell, GruModule, RecognitionHints
from grutool.families import keras_gru, to_canonical
from grutool.gru import run_module
from grutool.tensors import TensorInfo, TensorSource

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
GENERATOR = FIXTURES.parent / "make_keras_fixtures.py"
TOLERANCE = 1e-5
CELL_FACTS = ("module", "layer", "layout", "reset_after", "direction", "input_size",
              "hidden_size", "activation", "recurrent_activation", "source_tensors",
              "outputs_time_reversed")


def cases(root: Path) -> list[tuple[Path, str]]:
    found = []
    for folder in sorted(p for p in root.iterdir() if (p / "expected.json").is_file()):
        for file_name in json.loads((folder / "expected.json").read_text())["files"]:
            found.append((folder, file_name))
    return found


def expected_of(folder: Path, file_name: str) -> dict:
    return json.loads((folder / "expected.json").read_text())["files"][file_name]


def check_file(folder: Path, file_name: str, tmp_path: Path) -> list[float]:
    """Split, rebuild from the split file alone, run, compare. Returns the errors measured."""
    expected = expected_of(folder, file_name)
    expected_cells = [cell for module in expected["modules"] for cell in module["cells"]]
    reference = np.load(folder / "reference.npz")
    out = tmp_path / f"{folder.name}-{file_name.replace('/', '_')}.npz"
    checkpoint = grutool.split(folder / file_name, out)
    # Model order, everywhere: modules, cells, split metadata.
    assert [m.name for m in checkpoint.modules] == [m["name"] for m in expected["modules"]]
    assert [c.name for c in checkpoint.cells] == [c["name"] for c in expected_cells]
    for text in expected["warnings"]:
        assert any(text in warning for warning in checkpoint.warnings), (text, checkpoint.warnings)

    split = np.load(out, allow_pickle=False)
    metadata = json.loads(str(split["__grutool__"]))
    assert [(m["name"], m["cells"]) for m in metadata["modules"]] \
        == [(m["name"], [c["name"] for c in m["cells"]]) for m in expected["modules"]]
    found = {cell.name: cell for cell in checkpoint.cells}
    for item in expected_cells:
        cell = found[item["name"]]
        for key in CELL_FACTS:
            assert getattr(cell, key) == item[key], (item["name"], key)
            if key != "outputs_time_reversed" or item[key]:
                assert metadata["cells"][item["name"]][key] == item[key], (item["name"], key)
        assert cell.dtype == "float32"

    errors = []
    modules = {module.name: module for module in checkpoint.modules}
    for item in expected["modules"]:
        module = modules[item["name"]]
        assert module.num_layers == len({c["layer"] for c in item["cells"]})
        assert module.bidirectional == ({c["direction"] for c in item["cells"]}
                                        == {"forward", "reverse"})
        assert module.merge == item["merge"], item["name"]
        assert module.layer_order == item["layer_order"], item["name"]
        as_json = next(m for m in metadata["modules"] if m["name"] == item["name"])
        assert (as_json["merge"], as_json["layer_order"]) == (item["merge"], item["layer_order"])
        if any(cell.activation == UNKNOWN for cell in module.cells):
            assert not item["numeric"]  # nothing to run: grutool says it cannot compute it
            continue
        weights = {cell.name: {name: split[f"{cell.name}/{name}"] for name in CANONICAL_NAMES
                               if f"{cell.name}/{name}" in split.files}
                   for cell in module.cells}
        for cell_weights in weights.values():
            assert all(array.dtype == np.float32 for array in cell_weights.values())
        layer = item["keras_layer"]
        batch_major_in = reference[f"input/{layer}"]
        # grutool is time-major, Keras batch-major; run_module returns a lone go_backwards
        # GRU's steps as Keras does, in the order it read them.
        outputs = run_module(module, weights, batch_major_in.transpose(1, 0, 2))
        outputs = outputs.transpose(1, 0, 2)
        wanted = reference[f"output/{layer}"]
        if item["numeric"]:
            error = float(np.max(np.abs(outputs - wanted)))
            assert error <= TOLERANCE, (file_name, item["name"], error)
            errors.append(error)
        else:
            # Without its config the activations, go_backwards or merge are unknown: the
            # weights are still found and named, and the outputs differ, which shows the
            # config mattered.
            assert outputs.shape != wanted.shape \
                or float(np.max(np.abs(outputs - wanted))) > 1e-3, (file_name, item["name"])
    return errors


@pytest.mark.parametrize("folder,file_name", cases(FIXTURES),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_committed_fixture(folder: Path, file_name: str, tmp_path: Path) -> None:
    check_file(folder, file_name, tmp_path)


def test_fixture_cases_cover_every_format() -> None:
    names = {file_name for _, file_name in cases(FIXTURES)}
    assert {"model.keras", "model.weights.h5", "model.h5", "weights.h5", "legacy.h5",
            "tf_checkpoint/model.ckpt"} <= names
    modules = [module for folder, file_name in cases(FIXTURES)
               for module in expected_of(folder, file_name)["modules"]]
    layouts = {cell["layout"] for module in modules for cell in module["cells"]}
    assert layouts == set(keras_gru.LAYOUTS)
    assert {module["merge"] for module in modules} == {None, "concat", "sum", "mul", "ave", "none"}
    assert max(len(module["cells"]) for module in modules) == 12


@pytest.mark.keras
@pytest.mark.tensorflow
def test_regenerated_fixtures_live(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    pytest.importorskip("tf_keras")
    pytest.importorskip("tensorflow")
    out = tmp_path / "keras"
    subprocess.run([sys.executable, str(GENERATOR), str(out)], check=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True)
    assert {(folder.name, name) for folder, name in cases(out)} \
        == {(folder.name, name) for folder, name in cases(FIXTURES)}
    errors = []
    for folder, file_name in cases(out):
        errors += check_file(folder, file_name, tmp_path)
    assert errors and max(errors) <= TOLERANCE


# --- recognition without files ---------------------------------------------------------------

class NamesOnly(TensorSource):
    def __init__(self, shapes: dict[str, tuple[int, ...]], format: str = "npz",
                 keras_layers: dict | None = None, layout: str | None = None):
        super().__init__(path=Path("names-only"), format=format)
        self.infos = {name: TensorInfo(name, shape, "float32") for name, shape in shapes.items()}
        self.hints = RecognitionHints(layout, keras_layers or {})


def recognise(source: NamesOnly):
    return keras_gru.recognise(source, source.tensors(), source.hints)


def test_bare_npz_is_assumed_keras_gru_with_a_warning() -> None:
    found = recognise(NamesOnly({"kernel": (3, 12), "recurrent_kernel": (4, 12), "bias": (2, 12)}))
    [cell] = found.cells
    assert (cell.name, cell.layout, cell.reset_after) == ("gru", "keras-gru", True)
    assert "inferred" in (cell.variant or "")
    assert any("assumed keras-gru" in warning for warning in found.warnings)


def test_forced_reading_and_foreign_layout() -> None:
    shapes = {"kernel": (3, 12), "recurrent_kernel": (4, 12), "bias": (2, 12)}
    forced = recognise(NamesOnly(shapes, layout="keras-gru"))
    [cell] = forced.cells
    assert (cell.layout, cell.reset_after) == ("keras-gru", True)
    assert not any("assumed keras-gru" in warning for warning in forced.warnings)
    cudnn = recognise(NamesOnly(shapes, layout="keras-cudnn-gru"))
    assert not cudnn.cells and "read as a CuDNNGRU" in cudnn.warnings[0]
    assert not recognise(NamesOnly(shapes, layout="pytorch-gru")).cells


def test_config_without_bias_gives_reset_and_activation() -> None:
    shapes = {"gru/gru_cell/kernel": (3, 12), "gru/gru_cell/recurrent_kernel": (4, 12)}
    config = {"class_name": "GRU", "name": "gru", "units": 4, "reset_after": False,
              "activation": "relu", "recurrent_activation": "sigmoid", "go_backwards": False,
              "use_bias": False, "keras": 2, "order": 0}
    [cell] = recognise(NamesOnly(shapes, keras_layers={"gru": config})).cells
    assert (cell.reset_after, cell.activation) == (False, "relu")


def test_no_bias_without_config_assumes_reset_after_and_says_so() -> None:
    found = recognise(NamesOnly({"gru/gru_cell/kernel": (3, 12),
                                 "gru/gru_cell/recurrent_kernel": (4, 12)}))
    [cell] = found.cells
    assert cell.reset_after and "bias" not in cell.roles
    assert any("assumed reset_after=True" in warning for warning in found.warnings)


def test_lstm_and_contradictions_are_not_read_as_gru() -> None:
    lstm = recognise(NamesOnly({"lstm/lstm_cell/kernel:0": (3, 16),
                                "lstm/lstm_cell/recurrent_kernel:0": (4, 16),
                                "lstm/lstm_cell/bias:0": (16,)}))
    assert not lstm.cells and not lstm.claimed and not lstm.warnings
    odd = recognise(NamesOnly({"gru/gru_cell/kernel:0": (3, 12),
                               "gru/gru_cell/recurrent_kernel:0": (4, 12),
                               "gru/gru_cell/bias:0": (5,)}))
    assert not odd.cells and odd.warnings
    contradicted = recognise(NamesOnly(
        {"model_weights/gru/gru/gru_cell/kernel:0": (3, 12),
         "model_weights/gru/gru/gru_cell/recurrent_kernel:0": (4, 12),
         "model_weights/gru/gru/gru_cell/bias:0": (12,)}, format="hdf5",
        keras_layers={"model_weights/gru": {"class_name": "GRU", "units": 4,
                                             "reset_after": True}}))
    assert not contradicted.cells and "reset_after=True" in contradicted.warnings[0]


def _keras2_stack(members: dict[str, int], prefix: str = "rnn/rnn/stacked_rnn_cells",
                  units: int = 4) -> dict[str, tuple[int, ...]]:
    """Keras 2 HDF5 names of stacked cells: member -> its input size."""
    shapes = {}
    for member, inputs in members.items():
        scope = f"{prefix}/{member}"
        shapes.update({f"{scope}/kernel:0": (inputs, 3 * units),
                       f"{scope}/recurrent_kernel:0": (units, 3 * units),
                       f"{scope}/bias:0": (2, 3 * units)})
    return shapes


MODEL_STACK = "model_weights/rnn/rnn/stacked_rnn_cells"


def _stack_config(*cells: tuple[str, str], keras: int = 2, go_backwards: bool = False) -> dict:
    """A Keras 2 model_config's RNN(StackedRNNCells) as the readers normalise it: (name,
    activation) per cell, bottom first."""
    return {"class_name": "RNN", "name": "rnn", "keras": keras, "order": 0,
            "go_backwards": go_backwards, "cell_classes": ["GRUCell"] * len(cells),
            "cells": [{"class_name": "GRUCell", "name": name, "member": name, "units": 4,
                       "reset_after": True, "activation": activation,
                       "recurrent_activation": "sigmoid", "go_backwards": go_backwards,
                       "use_bias": True} for name, activation in cells]}


def test_stack_order_from_names_is_natural_and_said_to_be_inferred() -> None:
    # No config and no weight list: cell_2 before cell_10, and said to be inferred.
    shapes = {}
    for member, (inputs, units) in {"gru_cell": (3, 4), "gru_cell_1": (4, 5), "gru_cell_2": (5, 6),
                                    "gru_cell_10": (6, 7)}.items():
        scope = f"rnn/rnn/stacked_rnn_cells/{member}"
        shapes.update({f"{scope}/kernel:0": (inputs, 3 * units),
                       f"{scope}/recurrent_kernel:0": (units, 3 * units),
                       f"{scope}/bias:0": (2, 3 * units)})
    found = recognise(NamesOnly(shapes, format="hdf5"))
    [module] = found.modules
    assert module.name == "rnn" and module.num_layers == 4
    assert [layer[0].name.rsplit("/", 1)[1] for layer in module.layers()] == \
        ["gru_cell", "gru_cell_1", "gru_cell_2", "gru_cell_10"]
    assert found.order_assumed == {"rnn"} and module.layer_order == "names"
    assert any("inferred from their names" in warning for warning in found.warnings)


def test_config_cell_list_places_user_named_cells() -> None:
    """Issue 10's stack: sorted by name, alpha (4 inputs) would come first with zeta's relu."""
    shapes = _keras2_stack({"zeta": 3, "alpha": 4}, prefix=MODEL_STACK)
    found = recognise(NamesOnly(shapes, format="hdf5", keras_layers={
        "model_weights/rnn": _stack_config(("zeta", "relu"), ("alpha", "tanh"))}))
    [module] = found.modules
    assert [(c.name, c.layer, c.input_size, c.activation) for c in module.cells] == [
        ("rnn/stacked_rnn_cells/zeta", 0, 3, "relu"), ("rnn/stacked_rnn_cells/alpha", 1, 4, "tanh")]
    assert all(cell.extra.get("structure_from_file") for cell in module.cells)
    assert not found.order_assumed and not found.warnings


def test_weight_list_places_cells_without_a_config() -> None:
    shapes = _keras2_stack({"zeta": 3, "alpha": 4})
    source = NamesOnly(shapes, format="hdf5")
    source.weight_order = {f"rnn/rnn/stacked_rnn_cells/{member}/{role}:0": (1, 3 * k + j)
                           for k, member in enumerate(("zeta", "alpha"))
                           for j, role in enumerate(("kernel", "recurrent_kernel", "bias"))}
    found = recognise(source)
    assert [cell.name for cell in found.cells] == ["rnn/stacked_rnn_cells/zeta",
                                                   "rnn/stacked_rnn_cells/alpha"]
    assert not found.order_assumed and not found.warnings


def test_config_order_that_contradicts_the_shapes_is_warned_and_not_run_as_one() -> None:
    shapes = _keras2_stack({"zeta": 3, "alpha": 4}, prefix=MODEL_STACK)
    found = recognise(NamesOnly(shapes, format="hdf5", keras_layers={
        "model_weights/rnn": _stack_config(("alpha", "tanh"), ("zeta", "relu"))}))
    assert any("config stacks rnn/stacked_rnn_cells/zeta (3 inputs) on "
               "rnn/stacked_rnn_cells/alpha (4 units)" in warning for warning in found.warnings)
    assert [module.num_layers for module in found.modules] == [1, 1]


def test_go_backwards_stack_reverses_only_the_top_cells_outputs() -> None:
    shapes = _keras2_stack({"a": 3, "b": 4}, prefix=MODEL_STACK)
    found = recognise(NamesOnly(shapes, format="hdf5", keras_layers={
        "model_weights/rnn": _stack_config(("a", "tanh"), ("b", "tanh"), go_backwards=True)}))
    assert [(c.direction, c.outputs_time_reversed) for c in found.cells] == [
        ("reverse", False), ("reverse", True)]


def test_bidirectional_over_stacks_is_two_modules() -> None:
    shapes = {}
    for side in ("forward_st", "backward_st"):
        shapes |= _keras2_stack({"gru_cell": 3, "gru_cell_1": 4},
                                prefix=f"bi/bi/{side}/stacked_rnn_cells")
    found = recognise(NamesOnly(shapes, format="hdf5"))
    assert {(m.name, m.num_layers, m.bidirectional) for m in found.modules} == {
        ("bi/forward_st", 2, False), ("bi/backward_st", 2, False)}
    assert {c.direction for c in found.cells if c.module == "bi/backward_st"} == {"reverse"}
    assert any("runs each direction's stack whole" in warning for warning in found.warnings)


def _bidirectional(merge_mode: object = "concat", keras: int = 3) -> dict:
    gru = {"class_name": "GRU", "name": "g", "units": 4, "reset_after": True,
           "activation": "tanh", "recurrent_activation": "sigmoid", "go_backwards": False,
           "use_bias": True}
    config = {"class_name": "Bidirectional", "name": "bidirectional", "keras": keras, "order": 0,
              "forward": gru, "backward": dict(gru, go_backwards=True)}
    if merge_mode != "absent":
        config["merge_mode"] = merge_mode
    return config


BIDIRECTIONAL_SHAPES = {f"layers/bidirectional/{side}_layer/cell/vars/{k}": shape
                        for side in ("forward", "backward")
                        for k, shape in enumerate([(3, 12), (4, 12), (2, 12)])}


@pytest.mark.parametrize("merge_mode,merge", [("concat", "concat"), ("sum", "sum"),
                                              ("mul", "mul"), ("ave", "ave"), (None, "none"),
                                              ("absent", "concat")])
def test_merge_mode_from_the_config(merge_mode, merge) -> None:
    found = recognise(NamesOnly(BIDIRECTIONAL_SHAPES, format="keras", keras_layers={
        "layers/bidirectional": _bidirectional(merge_mode)}))
    assert found.merges == {"layers/bidirectional": merge}
    [module] = found.modules
    assert module.merge == merge and not found.warnings


def test_merge_mode_unstated_or_unknown_is_left_unstated_and_said() -> None:
    unstated = recognise(NamesOnly(BIDIRECTIONAL_SHAPES, format="hdf5"))
    assert unstated.merges == {} and unstated.modules[0].merge is None
    assert any("Keras's default is concat" in warning for warning in unstated.warnings)
    odd = recognise(NamesOnly(BIDIRECTIONAL_SHAPES, format="keras", keras_layers={
        "layers/bidirectional": _bidirectional("max")}))
    assert odd.merges == {} and any("'max'" in warning for warning in odd.warnings)


def test_keras3_weights_only_module_order_is_inferred_across_classes() -> None:
    shapes = dict(BIDIRECTIONAL_SHAPES)
    shapes |= {f"layers/gru/cell/vars/{k}": shape
               for k, shape in enumerate([(8, 12), (4, 12), (2, 12)])}
    found = recognise(NamesOnly(shapes, format="hdf5"))
    assert found.order_assumed == {"layers/bidirectional", "layers/gru"}
    assert any("order inferred from their names" in warning for warning in found.warnings)
    same_class = recognise(NamesOnly({name.replace("layers/gru", f"layers/gru{suffix}"): shape
                                      for suffix in ("", "_1", "_2", "_10")
                                      for name, shape in shapes.items()
                                      if name.startswith("layers/gru/")}, format="hdf5"))
    assert [m.name for m in same_class.modules] == ["layers/gru", "layers/gru_1", "layers/gru_2",
                                                    "layers/gru_10"]
    assert not same_class.order_assumed  # Keras 3's counters of one class: list order


# --- activations -----------------------------------------------------------------------------

KERAS3_RELU6_LAYER = {"module": "keras.layers", "class_name": "ReLU", "config": {
    "name": "re_lu", "trainable": True, "max_value": 6, "negative_slope": 0.0, "threshold": 0.0},
    "registered_name": None}


@pytest.mark.parametrize("value,keras,name", [
    ("hard_sigmoid", 2, "hard_sigmoid"),
    ("hard_sigmoid", 3, "hard_sigmoid_keras3"),
    ({"module": "keras.activations", "class_name": "function", "config": "hard_sigmoid",
      "registered_name": "hard_sigmoid"}, 3, "hard_sigmoid_keras3"),
    ({"module": "keras.activations", "class_name": "function", "config": "hard_sigmoid",
      "registered_name": "hard_sigmoid"}, 2, "hard_sigmoid"),
    ({"module": "builtins", "class_name": "function", "config": "hard_sigmoid",
      "registered_name": "function"}, 3, "hard_sigmoid_keras3"),
    ({"module": "builtins", "class_name": "function", "config": "relu"}, 2, "relu"),
    (KERAS3_RELU6_LAYER, 3, "relu(max_value=6)"),
    ({"class_name": "ReLU", "config": {"max_value": 6.0, "negative_slope": 0.1,
                                        "threshold": 0.0}}, 2,
     "relu(max_value=6,negative_slope=0.1)"),
    # Keras's ReLU is 0 at x == threshold (and on (threshold, 0) under a cap): not grutool's.
    ({"class_name": "ReLU", "config": {"max_value": 6.0, "negative_slope": 0.1,
                                        "threshold": 0.5}}, 2, UNKNOWN),
    ({"module": "keras.layers", "class_name": "LeakyReLU", "config": {"negative_slope": 0.1}},
     3, "relu(negative_slope=0.1)"),
    ({"module": "keras.layers", "class_name": "LeakyReLU",
      "config": {"alpha": 0.10000000149011612}}, 2, "relu(negative_slope=0.1)"),
    ({"module": "keras.layers", "class_name": "LeakyReLU", "config": {}}, 2,
     "relu(negative_slope=0.3)"),
    ({"module": "keras.layers", "class_name": "ELU", "config": {"alpha": 0.5}}, 3,
     "elu(alpha=0.5)"),
    ({"module": "keras.layers", "class_name": "ELU", "config": {"alpha": 1.0}}, 3, "elu"),
    ({"module": "keras.layers", "class_name": "ThresholdedReLU", "config": {"theta": 0.5}}, 2,
     "thresholded_relu(alpha=0.5)"),
    ({"module": "keras.layers", "class_name": "Activation",
      "config": {"activation": "hard_sigmoid"}}, 3, "hard_sigmoid_keras3"),
    (None, 3, "linear"),
    ("swish", 2, "silu"),
    ("silu", 3, "silu"),
    ("relu6", 3, "relu(max_value=6)"),
    ("gelu", 3, UNKNOWN),
    ("mish", 2, UNKNOWN),
    ("softmax", 3, UNKNOWN),
    ("hard_sigmoid_keras3", 3, UNKNOWN),  # not a name Keras writes
    ({"module": "builtins", "class_name": "function", "config": "scaled_tanh",
      "registered_name": "function"}, 3, UNKNOWN),
    ({"module": "my_package.layers", "class_name": "ReLU", "config": {"max_value": 6}}, 3,
     UNKNOWN),
    ({"module": "__main__", "class_name": "function", "config": "relu"}, 3, UNKNOWN),
    ({"module": "keras.layers", "class_name": "PReLU", "config": {}}, 3, UNKNOWN),
    ({"module": "keras.layers", "class_name": "ReLU", "config": {"max_value": "six"}}, 3,
     UNKNOWN),
    ({"class_name": "ELU", "config": {"alpha": float("nan")}}, 2, UNKNOWN),
    (3, 3, UNKNOWN),
])
def test_every_serialised_activation_is_exact_or_unknown(value, keras, name) -> None:
    assert keras_gru.keras_activation(value, keras) == name
    assert name == UNKNOWN or function(name) is not None


def test_unknown_activation_is_warned_with_the_cell_and_the_value() -> None:
    shapes = {f"layers/gru/cell/vars/{k}": shape for k, shape in enumerate([(3, 12), (4, 12),
                                                                            (2, 12)])}
    gelu = {"class_name": "GRU", "name": "gru", "units": 4, "reset_after": True,
            "activation": "gelu", "recurrent_activation": "sigmoid", "go_backwards": False,
            "use_bias": True, "keras": 3, "order": 0}
    found = recognise(NamesOnly(shapes, format="keras", keras_layers={"layers/gru": gelu}))
    [cell] = found.cells
    assert cell.activation == UNKNOWN
    assert found.warnings == ['layers/gru/cell: activation "gelu" is not a function grutool can '
                              'compute exactly; read as unknown, which no conversion or check '
                              'can use']


def _sample() -> np.ndarray:
    return np.linspace(-8.0, 8.0, 3201).astype(np.float32)


def _error(name: str, x: np.ndarray, expected) -> float:
    """grutool's function against the framework's float32 one, relative where large (exp)."""
    expected = np.asarray(expected, np.float64)
    ours = function(name)(x.astype(np.float64))
    return float(np.max(np.abs(ours - expected) / np.maximum(1.0, np.abs(expected))))


@pytest.mark.keras
def test_keras3_activation_names_compute_what_keras3_computes() -> None:
    keras = pytest.importorskip("keras")
    x = _sample()
    for keras_name, name in keras_gru.KERAS3_ACTIVATIONS.items():
        assert _error(name, x, keras.activations.get(keras_name)(x)) <= 1e-6, keras_name
    layers = {"relu(max_value=6,negative_slope=0.1)":
              keras.layers.ReLU(max_value=6.0, negative_slope=0.1),
              "relu(negative_slope=0.1)": keras.layers.LeakyReLU(negative_slope=0.1),
              "elu(alpha=0.5)": keras.layers.ELU(alpha=0.5)}
    for name, layer in layers.items():
        serialised = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        assert keras_gru.keras_activation(serialised, 3) == name
        assert _error(name, x, layer(x)) <= 1e-6, name


TF_KERAS_CHECK = """
import json, sys
import numpy as np
import tensorflow as tf
import tf_keras as keras
from grutool.activations import function
from grutool.families import keras_gru
x = np.linspace(-8.0, 8.0, 3201).astype(np.float32)
xt = tf.constant(x)
worst = 0.0


def error(name, expected):
    expected = np.asarray(expected, np.float64)
    ours = function(name)(x.astype(np.float64))
    return float(np.max(np.abs(ours - expected) / np.maximum(1.0, np.abs(expected))))


for keras_name, name in keras_gru.KERAS2_ACTIVATIONS.items():
    worst = max(worst, error(name, keras.activations.get(keras_name)(xt)))
    assert worst <= 1e-6, (keras_name, worst)
layers = {"relu(max_value=6,negative_slope=0.1)":
          keras.layers.ReLU(max_value=6.0, negative_slope=0.1),
          "relu(negative_slope=0.1)": keras.layers.LeakyReLU(alpha=0.1),
          "elu(alpha=0.5)": keras.layers.ELU(alpha=0.5),
          "thresholded_relu(alpha=0.5)": keras.layers.ThresholdedReLU(theta=0.5)}
for name, layer in layers.items():
    serialised = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert keras_gru.keras_activation(serialised, 2) == name, (name, serialised)
    worst = max(worst, error(name, layer(xt)))
    assert worst <= 1e-6, (name, worst)
print(worst)
"""


@pytest.mark.tensorflow
def test_keras2_activation_names_compute_what_tf_keras_computes() -> None:
    pytest.importorskip("tf_keras")
    # tf_keras and Keras 3 cannot share a process: TF_USE_LEGACY_KERAS is read once.
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(Path(grutool.__file__).parent.parent),
                                           os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", TF_KERAS_CHECK], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.split()[-1]) <= 1e-6


# --- the structure, through the commands -----------------------------------------------------

def _inspect(run_json, path: Path) -> dict:
    result, report = run_json("inspect", path, "--no-stats")
    assert result.exit_code == 0, result.stderr
    return report


@pytest.mark.parametrize("file_name,names", [
    ("model.h5", ["rnn/stacked_rnn_cells/zeta", "rnn/stacked_rnn_cells/alpha"]),
    ("model.keras", ["layers/rnn/cell/cells/gru_cell", "layers/rnn/cell/cells/gru_cell_1"]),
])
def test_issue_stack_is_read_in_config_order_with_its_relu(run_json, file_name, names) -> None:
    report = _inspect(run_json, FIXTURES / "tfk_stack" / file_name)
    [module] = report["modules"]
    assert module["cells"] == names and module["num_layers"] == 2
    assert module["layer_order"] == "model" and module["input_size"] == 3
    cells = {cell["name"]: cell for cell in report["cells"]}
    assert [(cells[n]["layer"], cells[n]["input_size"], cells[n]["activation"]) for n in names] \
        == [(0, 3, "relu"), (1, 4, "tanh")]


@pytest.mark.onnx
def test_issue_stack_converts_to_an_onnx_model_that_runs_like_tf_keras(run, tmp_path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    out = tmp_path / "stack.onnx"
    result = run("convert", FIXTURES / "tfk_stack" / "model.h5", "--to", "onnx", "--out", out)
    assert result.exit_code == 0, result.stderr
    with np.load(FIXTURES / "tfk_stack" / "reference.npz") as reference:
        x, expected = reference["input/rnn"], reference["output/rnn"]
    assert x.shape[-1] == 3
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = session.run(["Y"], {"X": np.ascontiguousarray(np.transpose(x, (1, 0, 2)))})
    assert np.max(np.abs(np.transpose(y, (1, 0, 2)) - expected)) <= TOLERANCE


def test_issue_stack_is_refused_by_pytorch_for_its_relu(run, tmp_path) -> None:
    out = tmp_path / "stack.safetensors"
    result = run("convert", FIXTURES / "tfk_stack" / "model.h5", "--to", "pytorch", "--out", out)
    assert result.exit_code == 1 and "relu" in result.stderr and not out.exists()


MERGE_MODULES = {"sum": "layers/bidirectional", "mul": "layers/bidirectional_1",
                 "ave": "layers/bidirectional_2", "none": "layers/bidirectional_3"}


@pytest.mark.parametrize("merge", list(MERGE_MODULES))
def test_merge_mode_survives_a_keras_conversion_and_verifies_exactly(run, run_json, tmp_path,
                                                                     merge) -> None:
    source = FIXTURES / "k3_merge_modes" / "model.keras"
    module = MERGE_MODULES[merge]
    report = _inspect(run_json, source)
    assert {m["name"]: m["merge"] for m in report["modules"]}[module] == merge
    out = tmp_path / "converted_keras.npz"
    result = run("convert", source, "--to", "keras", "--module", module, "--out", out)
    assert result.exit_code == 0, result.stderr
    # What the per-cell Keras tensors cannot carry, the file's metadata does.
    assert {m["name"]: m["merge"] for m in _inspect(run_json, out)["modules"]} == {module: merge}


def test_every_merge_mode_of_one_file_converts_and_verifies_exactly(run, run_json, tmp_path):
    source = FIXTURES / "k3_merge_modes" / "model.keras"
    result = run("convert", source, "--to", "keras", "--out", tmp_path / "all.npz")
    assert result.exit_code == 0, result.stderr
    result, verification = run_json("verify", source, tmp_path / "all.npz")
    assert result.exit_code == 0, result.stdout
    assert verification["ok"] and verification["max_abs_error"] == 0.0
    assert {m["name"]: m["merge"] for m in _inspect(run_json, tmp_path / "all.npz")["modules"]} \
        == {module: merge for merge, module in MERGE_MODULES.items()}


@pytest.mark.parametrize("merge", list(MERGE_MODULES))
def test_merge_mode_is_refused_by_pytorch(run, tmp_path, merge) -> None:
    """nn.GRU concatenates its directions: a sum, product, mean or a pair of sequences is not
    what it computes."""
    out = tmp_path / "gru.safetensors"
    result = run("convert", FIXTURES / "k3_merge_modes" / "model.keras", "--to", "pytorch",
                 "--module", MERGE_MODULES[merge], "--out", out)
    assert result.exit_code == 1, result.stderr
    assert not out.exists()


def test_weights_only_merge_is_unstated(run_json) -> None:
    report = _inspect(run_json, FIXTURES / "k3_merge_modes" / "model.weights.h5")
    assert [m["merge"] for m in report["modules"]] == [None] * 4
    assert sum("Keras's default is concat" in warning for warning in report["warnings"]) == 4


K3_OBJECTS = [("relu(max_value=6)", "hard_sigmoid_keras3"),
              ("relu(negative_slope=0.1)", "hard_sigmoid_keras3"),
              ("elu(alpha=0.5)", "hard_sigmoid_keras3"), (UNKNOWN, "sigmoid")]


@pytest.mark.parametrize("case,file_name,expected", [
    ("k3_activation_objects", "model.keras", K3_OBJECTS),
    ("k3_activation_objects", "legacy.h5", K3_OBJECTS),
    ("tfk_activation_objects", "model.h5",
     [("relu(max_value=6)", "hard_sigmoid"), ("relu(negative_slope=0.1)", "hard_sigmoid"),
      ("thresholded_relu(alpha=0.5)", "sigmoid")]),
    ("tfk_activation_objects", "model.keras",
     [("relu(max_value=6)", "hard_sigmoid"), ("relu(negative_slope=0.1)", "hard_sigmoid"),
      ("thresholded_relu(alpha=0.5)", "sigmoid")]),
])
def test_activation_objects_are_read_as_the_exact_function(run_json, case, file_name,
                                                           expected) -> None:
    report = _inspect(run_json, FIXTURES / case / file_name)
    assert [(c["activation"], c["recurrent_activation"]) for c in report["cells"]] == expected


def test_unknown_activation_blocks_conversion_and_verification(run, run_json, tmp_path) -> None:
    source = FIXTURES / "k3_activation_objects" / "model.keras"
    for target, suffix in (("keras", ".npz"), ("onnx", ".onnx"), ("tf", ".npz")):
        out = tmp_path / f"custom{suffix}"
        result = run("convert", source, "--to", target, "--module", "layers/gru_3", "--out", out)
        assert result.exit_code == 1, (target, result.stderr)
        assert "unknown" in result.stderr and not out.exists()
    result, verification = run_json("verify", source, source)
    assert result.exit_code == 1 and not verification["ok"]
    assert "cannot compute" in verification["problem"]


@pytest.mark.parametrize("case,file_name", [("k3_stack12", "model.keras"),
                                            ("k3_stack12", "model.weights.h5")])
def test_twelve_stacked_cells_in_model_order(run_json, case, file_name) -> None:
    [module] = _inspect(run_json, FIXTURES / case / file_name)["modules"]
    members = [name.rsplit("/", 1)[1] for name in module["cells"]]
    assert members == ["gru_cell"] + [f"gru_cell_{k}" for k in range(1, 12)]
    assert module["num_layers"] == 12 and module["layer_order"] == "model"


@pytest.mark.parametrize("file_name", ["model.h5", "tf_checkpoint/model.ckpt"])
def test_twelve_layers_in_model_order(run_json, file_name) -> None:
    """The .h5 names its layers; the TF 2 checkpoint's object graph names them too (its keys
    say only layer_with_weights-N), and both list gru_10 after gru_9."""
    report = _inspect(run_json, FIXTURES / "tfk_stack12" / file_name)
    names = [module["name"] for module in report["modules"]]
    assert names == ["gru"] + [f"gru_{k}" for k in range(1, 12)]
    assert [cell["module"] for cell in report["cells"]] == names


def test_cudnn_canonical_matches_tf_keras_conversion() -> None:
    """CuDNNGRU blocks are cuDNN's row-major [H, I] matrices; tf_keras converts them with
    `kernel.T.reshape(kernel.shape, order="F")` per gate: the two must agree."""
    rng = np.random.default_rng(0)
    kernel, recurrent = rng.normal(size=(3, 12)), rng.normal(size=(4, 12))
    bias = rng.normal(size=24)
    cell = GruCell("c", "c", 0, "forward", "keras-cudnn-gru", 3, 4, True, "float64", [],
                   roles={"kernel": "k", "recurrent_kernel": "r", "bias": "b"})
    arrays = {"k": kernel, "r": recurrent, "b": bias}
    canonical = to_canonical(cell, arrays.__getitem__)
    converted = np.hstack([block.T.reshape(block.shape, order="F")
                           for block in np.hsplit(kernel, 3)])
    assert np.array_equal(np.hstack([canonical[n] for n in ("W_iz", "W_ir", "W_in")]), converted)
    assert np.array_equal(canonical["W_hr"], recurrent[:, 4:8].T)
    assert np.array_equal(canonical["b_hn"], bias[20:])
    GruModule("c", [cell])  # a CuDNNGRU cell is an ordinary reset-after module
