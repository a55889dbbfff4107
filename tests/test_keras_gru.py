"""Keras GRU cells in every Keras file format, checked against Keras's own outputs.

Each fixture case (tests/fixtures/keras/<case>/, written by make_keras_fixtures.py with the
real Keras 3 and tf_keras) is split to .npz; each cell's weights are rebuilt from that npz
alone and run through grutool's NumPy GRU, which must reproduce the layer outputs Keras
recorded (max abs error <= 1e-5).
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
from grutool.cells import CANONICAL_NAMES, GruCell, GruModule
from grutool.families import keras_gru, to_canonical
from grutool.gru import run_module
from grutool.tensors import TensorInfo, TensorSource

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
GENERATOR = FIXTURES.parent / "make_keras_fixtures.py"
TOLERANCE = 1e-5


def cases(root: Path) -> list[tuple[Path, str]]:
    found = []
    for folder in sorted(p for p in root.iterdir() if (p / "expected.json").is_file()):
        for file_name in json.loads((folder / "expected.json").read_text())["files"]:
            found.append((folder, file_name))
    return found


def check_file(folder: Path, file_name: str, tmp_path: Path) -> list[float]:
    """Split, rebuild from the split file alone, run, compare. Returns the errors measured."""
    expected = json.loads((folder / "expected.json").read_text())["files"][file_name]
    reference = np.load(folder / "reference.npz")
    out = tmp_path / f"{folder.name}-{file_name.replace('/', '_')}.npz"
    checkpoint = grutool.split(folder / file_name, out)
    found = {cell.name: cell for cell in checkpoint.cells}
    assert sorted(found) == sorted(item["name"] for item in expected)

    split = np.load(out, allow_pickle=False)
    metadata = json.loads(str(split["__grutool__"]))
    errors = []
    for item in expected:
        cell = found[item["name"]]
        for key in ("module", "layout", "reset_after", "direction", "input_size", "hidden_size",
                    "activation", "recurrent_activation", "source_tensors"):
            assert getattr(cell, key) == item[key], (item["name"], key)
            assert metadata["cells"][item["name"]][key] == item[key], (item["name"], key)
        assert cell.dtype == "float32"
        assert cell.outputs_time_reversed == item["outputs_time_reversed"]

    modules = {module.name: module for module in checkpoint.modules}
    for module_name in sorted({item["module"] for item in expected}):
        items = [item for item in expected if item["module"] == module_name]
        module = modules[module_name]
        assert module.num_layers == 1
        assert module.bidirectional == (len(items) == 2)
        weights = {cell.name: {name: split[f"{cell.name}/{name}"] for name in CANONICAL_NAMES
                               if f"{cell.name}/{name}" in split.files}
                   for cell in module.cells}
        for cell_weights in weights.values():
            assert all(array.dtype == np.float32 for array in cell_weights.values())
        layer = items[0]["keras_layer"]
        batch_major_in = reference[f"input/{layer}"]
        outputs = run_module(module, weights, batch_major_in.transpose(1, 0, 2))
        outputs = outputs.transpose(1, 0, 2)  # grutool is time-major, Keras batch-major
        error = float(np.max(np.abs(outputs - reference[f"output/{layer}"])))
        if all(item["numeric"] for item in items):
            assert error <= TOLERANCE, (file_name, module_name, error)
            errors.append(error)
        else:
            # Without its config the activations or go_backwards are unknown: the weights are
            # still found and named, and the outputs differ, which shows the config mattered.
            assert error > 1e-3, (file_name, module_name, error)
    return errors


@pytest.mark.parametrize("folder,file_name", cases(FIXTURES),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_committed_fixture(folder: Path, file_name: str, tmp_path: Path) -> None:
    if file_name.startswith("tf_checkpoint/"):
        try:
            from grutool.readers import tf_bundle  # noqa: F401
        except ModuleNotFoundError:
            pytest.importorskip("tensorflow")  # until the built-in bundle reader lands
    check_file(folder, file_name, tmp_path)


def test_fixture_cases_cover_every_format() -> None:
    names = {file_name for _, file_name in cases(FIXTURES)}
    assert {"model.keras", "model.weights.h5", "model.h5", "weights.h5",
            "tf_checkpoint/model.ckpt"} <= names
    layouts = {item["layout"] for folder, file_name in cases(FIXTURES)
               for item in json.loads((folder / "expected.json").read_text())["files"][file_name]}
    assert layouts == set(keras_gru.LAYOUTS)


@pytest.mark.keras
@pytest.mark.tensorflow
def test_regenerated_fixtures_live(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    pytest.importorskip("tf_keras")
    pytest.importorskip("tensorflow")
    out = tmp_path / "keras"
    subprocess.run([sys.executable, str(GENERATOR), str(out)], check=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True)
    assert {folder.name for folder, _ in cases(out)} == {folder.name for folder, _ in cases(FIXTURES)}
    errors = []
    for folder, file_name in cases(out):
        errors += check_file(folder, file_name, tmp_path)
    assert errors and max(errors) <= TOLERANCE


# --- recognition without files ---------------------------------------------------------------

class NamesOnly(TensorSource):
    def __init__(self, shapes: dict[str, tuple[int, ...]], format: str = "npz",
                 layer_configs: dict | None = None):
        super().__init__(path=Path("names-only"), format=format)
        self.infos = {name: TensorInfo(name, shape, "float32") for name, shape in shapes.items()}
        self.layer_configs = layer_configs or {}


def recognise(source: TensorSource):
    return keras_gru.recognise(source, source.tensors())


def test_bare_npz_is_assumed_keras_gru_with_a_warning() -> None:
    found = recognise(NamesOnly({"kernel": (3, 12), "recurrent_kernel": (4, 12), "bias": (2, 12)}))
    [cell] = found.cells
    assert (cell.name, cell.layout, cell.reset_after) == ("gru", "keras-gru", True)
    assert "inferred" in (cell.variant or "")
    assert any("assumed keras-gru" in warning for warning in found.warnings)


def test_forced_reading_and_foreign_layout() -> None:
    shapes = {"kernel": (3, 12), "recurrent_kernel": (4, 12)}
    forced = recognise(NamesOnly(shapes, layer_configs={"*": {"reset_after": False,
                                                              "activation": "relu"}}))
    [cell] = forced.cells
    assert (cell.reset_after, cell.activation) == (False, "relu")
    assert not recognise(NamesOnly(shapes, layer_configs={"*": {"layout": "pytorch-gru"}})).cells


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
        layer_configs={"model_weights/gru": {"class_name": "GRU", "units": 4,
                                             "reset_after": True}}))
    assert not contradicted.cells and "reset_after=True" in contradicted.warnings[0]


def test_stacked_rnn_cells_are_one_module_in_layer_order() -> None:
    shapes = {}
    for k, member in enumerate(["gru_cell_1", "gru_cell_10", "gru_cell"]):
        width = {"gru_cell": 3, "gru_cell_1": 4, "gru_cell_10": 5}[member]
        scope = f"rnn/rnn/stacked_rnn_cells/{member}"
        shapes.update({f"{scope}/kernel:0": (width, 12), f"{scope}/recurrent_kernel:0": (4, 12),
                       f"{scope}/bias:0": (2, 12)})
    found = recognise(NamesOnly(shapes, format="hdf5"))
    [module] = found.modules
    assert module.name == "rnn" and module.num_layers == 3
    assert [cells[0].input_size for cells in module.layers()] == [3, 4, 5]


def test_cudnn_canonical_matches_tf_keras_conversion() -> None:
    """CuDNNGRU blocks are cuDNN's row-major [H, I] matrices; tf_keras converts them with
    `kernel.T.reshape(kernel.shape, order="F")` per gate: the two must agree."""
    rng = np.random.default_rng(0)
    kernel, recurrent, bias = rng.normal(size=(3, 12)), rng.normal(size=(4, 12)), rng.normal(size=24)
    cell = GruCell("c", "c", 0, "forward", "keras-cudnn-gru", 3, 4, True, "float64", [],
                   roles={"kernel": "k", "recurrent_kernel": "r", "bias": "b"})
    arrays = {"k": kernel, "r": recurrent, "b": bias}
    canonical = to_canonical(cell, arrays.__getitem__)
    converted = np.hstack([block.T.reshape(block.shape, order="F") for block in np.hsplit(kernel, 3)])
    assert np.array_equal(np.hstack([canonical[n] for n in ("W_iz", "W_ir", "W_in")]), converted)
    assert np.array_equal(canonical["W_hr"], recurrent[:, 4:8].T)
    assert np.array_equal(canonical["b_hn"], bias[20:])
    GruModule("c", [cell])  # a CuDNNGRU cell is an ordinary reset-after module
