"""TF 1 `GRUCell` checkpoints written by real TensorFlow: grutool finds every cell, names it
as TF scoped it, and splits it into arrays that, run through the NumPy GRU, reproduce TF's
own outputs.

The committed fixtures (tests/fixtures/tf_gru_cell, made by make_tf_gru_cell_fixtures.py)
are checked without TensorFlow; the `tensorflow`-marked test makes them afresh.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import grutool
from grutool.cells import FORWARD, REVERSE, GruCell, GruModule
from grutool.gru import run_module

FIXTURE_ROOT = Path(__file__).parent / "fixtures" / "tf_gru_cell"
GENERATOR = Path(__file__).parent / "fixtures" / "make_tf_gru_cell_fixtures.py"
TOLERANCE = 1e-5
INPUT_SIZE, HIDDEN_SIZE = 3, 4

# A TF GRUCell has one bias per gate, stored as b_i*; its b_h* are absent (absent means zero).
SPLIT_NAMES = {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in"}

TF12_SUFFIXES = ("gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias")
TF10_SUFFIXES = ("gates/weights", "gates/biases", "candidate/weights", "candidate/biases")
TF0X_SUFFIXES = ("Gates/Linear/Matrix", "Gates/Linear/Bias", "Candidate/Linear/Matrix",
                 "Candidate/Linear/Bias")


@dataclass(frozen=True)
class ExpectedCell:
    name: str
    layer: int
    direction: str
    input_size: int
    suffixes: tuple[str, ...]

    @property
    def source_tensors(self) -> list[str]:
        return [f"{self.name}/{suffix}" for suffix in self.suffixes]


# What make_tf_gru_cell_fixtures.py writes: module name -> its cells.
EXPECTED: dict[str, dict[str, list[ExpectedCell]]] = {
    "single": {"rnn/gru_cell": [ExpectedCell("rnn/gru_cell", 0, FORWARD, INPUT_SIZE,
                                             TF12_SUFFIXES)]},
    "stack2": {"encoder/rnn/multi_rnn_cell": [
        ExpectedCell("encoder/rnn/multi_rnn_cell/cell_0/gru_cell", 0, FORWARD, INPUT_SIZE,
                     TF12_SUFFIXES),
        ExpectedCell("encoder/rnn/multi_rnn_cell/cell_1/gru_cell", 1, FORWARD, HIDDEN_SIZE,
                     TF12_SUFFIXES)]},
    "bidi": {"birnn/bidirectional_rnn": [
        ExpectedCell("birnn/bidirectional_rnn/fw/gru_cell", 0, FORWARD, INPUT_SIZE,
                     TF12_SUFFIXES),
        ExpectedCell("birnn/bidirectional_rnn/bw/gru_cell", 0, REVERSE, INPUT_SIZE,
                     TF12_SUFFIXES)]},
    "tf0x_names": {"RNN/MultiRNNCell": [
        ExpectedCell("RNN/MultiRNNCell/Cell0/GRUCell", 0, FORWARD, INPUT_SIZE, TF0X_SUFFIXES),
        ExpectedCell("RNN/MultiRNNCell/Cell1/GRUCell", 1, FORWARD, HIDDEN_SIZE, TF0X_SUFFIXES)]},
    "tf10_names": {"rnn/gru_cell": [ExpectedCell("rnn/gru_cell", 0, FORWARD, INPUT_SIZE,
                                                 TF10_SUFFIXES)]},
    "untrained": {"rnn/gru_cell": [ExpectedCell("rnn/gru_cell", 0, FORWARD, INPUT_SIZE,
                                                TF12_SUFFIXES)]},
    "stack12": {"rnn/multi_rnn_cell": [
        ExpectedCell(f"rnn/multi_rnn_cell/cell_{k}/gru_cell", k, FORWARD,
                     INPUT_SIZE if k == 0 else HIDDEN_SIZE, TF12_SUFFIXES) for k in range(12)]},
}


def _load_split(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    metadata = json.loads(str(arrays.pop("__grutool__")))
    return arrays, metadata


def _modules_from_metadata(metadata: dict) -> list[GruModule]:
    """The module structure as the split file states it, without the checkpoint."""
    cells = {}
    for name, fields in metadata["cells"].items():
        cells[name] = GruCell(
            name=name, module=fields["module"], layer=fields["layer"],
            direction=fields["direction"], layout=fields["layout"],
            input_size=fields["input_size"], hidden_size=fields["hidden_size"],
            reset_after=fields["reset_after"], dtype=fields["dtype"],
            source_tensors=fields["source_tensors"], activation=fields["activation"],
            recurrent_activation=fields["recurrent_activation"])
    return [GruModule(module["name"], [cells[name] for name in module["cells"]])
            for module in metadata["modules"]]


def check_fixture(fixture: str, directory: Path, out: Path) -> dict[str, float]:
    """Split `directory`'s checkpoint to `out`, check structure and numbers; return the max abs
    error of each module's output against TF's."""
    grutool.split(directory / "model.ckpt", out)
    arrays, metadata = _load_split(out)
    with np.load(directory / "reference.npz", allow_pickle=False) as npz:
        reference = {key: npz[key] for key in npz.files}
    expected = EXPECTED[fixture]
    expected_cells = {cell.name: cell for cells in expected.values() for cell in cells}

    assert set(metadata["cells"]) == set(expected_cells)
    for name, cell in expected_cells.items():
        fields = metadata["cells"][name]
        assert fields["layout"] == "tf-gru-cell"
        assert (fields["layer"], fields["direction"]) == (cell.layer, cell.direction), name
        assert (fields["input_size"], fields["hidden_size"]) == (cell.input_size, HIDDEN_SIZE)
        assert fields["reset_after"] is False
        assert fields["dtype"] == "float32"
        assert fields["source_tensors"] == cell.source_tensors
    for module_name, cells in expected.items():
        for cell in cells:
            assert metadata["cells"][cell.name]["module"] == module_name

    cell_keys = {key for key in arrays}
    assert cell_keys == {f"{name}/{part}" for name in expected_cells for part in SPLIT_NAMES}
    for key, array in arrays.items():
        assert array.dtype == np.float32, key

    modules = _modules_from_metadata(metadata)
    # Model order everywhere: the metadata's modules and their cells, bottom layer first.
    assert {module.name: [cell.name for cell in module.cells] for module in modules} == {
        module: [cell.name for cell in cells] for module, cells in expected.items()}
    assert list(metadata["cells"]) == [cell.name for cells in expected.values() for cell in cells]

    weights = {name: {part: arrays[f"{name}/{part}"] for part in SPLIT_NAMES}
               for name in expected_cells}
    errors = {}
    for module in modules:
        outputs = run_module(module, weights, reference["x"])
        errors[module.name] = float(np.max(np.abs(outputs - reference[f"outputs/{module.name}"])))
        assert errors[module.name] <= TOLERANCE, (fixture, module.name, errors[module.name])
        # The final state of a cell is its output at the last step it read.
        for cell in module.layers()[-1]:
            column = 0 if cell.direction == FORWARD else HIDDEN_SIZE
            step = -1 if cell.direction == FORWARD else 0
            final = outputs[step, :, column:column + HIDDEN_SIZE]
            assert np.max(np.abs(final - reference[f"final_state/{cell.name}"])) <= TOLERANCE
    return errors


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_committed_fixture_splits_to_tf_outputs(fixture: str, tmp_path: Path) -> None:
    check_fixture(fixture, FIXTURE_ROOT / fixture, tmp_path / "w.npz")


def test_adam_slots_are_not_cells() -> None:
    with grutool.open_checkpoint(FIXTURE_ROOT / "single" / "model.ckpt") as checkpoint:
        tensor_names = {info.name for info in checkpoint.source.tensors()}
        # The fixture must really hold the slots, or this test proves nothing.
        assert {"rnn/gru_cell/gates/kernel/Adam", "rnn/gru_cell/gates/kernel/Adam_1",
                "rnn/gru_cell/candidate/bias/Adam_1", "beta1_power",
                "beta2_power"} <= tensor_names
        assert [cell.name for cell in checkpoint.cells] == ["rnn/gru_cell"]
        assert checkpoint.warnings == []


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_no_warnings(fixture: str) -> None:
    with grutool.open_checkpoint(FIXTURE_ROOT / fixture / "model.ckpt") as checkpoint:
        assert checkpoint.warnings == []


def test_a_checkpoint_directory_resolves_through_its_state_file() -> None:
    # The committed `checkpoint` file names `model.ckpt` relatively, so the directory opens.
    with grutool.open_checkpoint(FIXTURE_ROOT / "stack2") as checkpoint:
        assert checkpoint.path.name == "model.ckpt"
        assert len(checkpoint.cells) == 2


def test_untrained_cell_keeps_tf_default_biases(tmp_path: Path) -> None:
    grutool.split(FIXTURE_ROOT / "untrained" / "model.ckpt", tmp_path / "w.npz")
    arrays, _ = _load_split(tmp_path / "w.npz")
    # GRUCell initialises the gates bias to exactly 1.0 and the candidate bias to 0.0.
    assert np.all(arrays["rnn/gru_cell/b_ir"] == 1.0)
    assert np.all(arrays["rnn/gru_cell/b_iz"] == 1.0)
    assert np.all(arrays["rnn/gru_cell/b_in"] == 0.0)


def test_gate_order_matters_in_these_fixtures(tmp_path: Path) -> None:
    """Swapping r and z must break the match, else the fixtures could not catch that bug."""
    check_fixture("single", FIXTURE_ROOT / "single", tmp_path / "w.npz")
    arrays, metadata = _load_split(tmp_path / "w.npz")
    with np.load(FIXTURE_ROOT / "single" / "reference.npz", allow_pickle=False) as npz:
        x, expected = npz["x"], npz["outputs/rnn/gru_cell"]
    weights = {part: arrays[f"rnn/gru_cell/{part}"] for part in SPLIT_NAMES}
    swapped = dict(weights)
    for first, second in (("W_ir", "W_iz"), ("W_hr", "W_hz"), ("b_ir", "b_iz")):
        swapped[first], swapped[second] = weights[second], weights[first]
    module = _modules_from_metadata(metadata)[0]
    outputs = run_module(module, {"rnn/gru_cell": swapped}, x)
    assert np.max(np.abs(outputs - expected)) > 100 * TOLERANCE


def _generator():
    spec = importlib.util.spec_from_file_location("make_tf_gru_cell_fixtures", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    # Its dataclass resolves annotations through sys.modules, so register it first.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.tensorflow
def test_live_tensorflow_fixtures_split_to_tf_outputs(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    # Scoped to this test, so other tests keep whichever Keras they expect.
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    generator = _generator()
    assert sorted(generator.FIXTURES) == sorted(EXPECTED)
    for fixture in generator.FIXTURES:
        directory = tmp_path / fixture
        generator.make_fixture(fixture, directory)
        check_fixture(fixture, directory, tmp_path / f"{fixture}.npz")
