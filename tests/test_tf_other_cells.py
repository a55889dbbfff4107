"""TF 1 GRUBlockCell and CudnnCompatibleGRUCell checkpoints written by real TensorFlow
(tests/fixtures/tf_other_cells, made by make_tf_other_cells_fixtures.py; see its README for
how each reference output was computed). Read without TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from split_checks import TOLERANCE, load_generator, max_error, split_and_run

import grutool
from grutool.cells import FORWARD, REVERSE

FIXTURES = Path(__file__).parent / "fixtures" / "tf_other_cells"
GENERATOR = Path(__file__).parent / "fixtures" / "make_tf_other_cells_fixtures.py"
INPUT, HIDDEN = 3, 4

BLOCK = ("w_ru", "b_ru", "w_c", "b_c")
CUDNN = ("gates/kernel", "gates/bias", "candidate/input_projection/kernel",
         "candidate/input_projection/bias", "candidate/hidden_projection/kernel",
         "candidate/hidden_projection/bias")
STACK = "rnn/multi_rnn_cell"
BIDI = "stack_bidirectional_rnn"
# fixture -> (layout, reset_after, module, {cell: (layer, direction, input size)}, suffixes,
#             split parts)
EXPECTED = {
    "gru_block_cell": ("tf-gru-block-cell", False, STACK, {
        f"{STACK}/cell_0/gru_cell": (0, FORWARD, INPUT),
        f"{STACK}/cell_1/gru_cell": (1, FORWARD, HIDDEN)}, BLOCK,
        {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in"}),
    "cudnn_compatible": ("tf-cudnn-compatible-gru-cell", True, BIDI, {
        f"{BIDI}/cell_0/bidirectional_rnn/fw/cudnn_compatible_gru_cell": (0, FORWARD, INPUT),
        f"{BIDI}/cell_0/bidirectional_rnn/bw/cudnn_compatible_gru_cell": (0, REVERSE, INPUT)},
        CUDNN, {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in", "b_hn"}),
}


def check(fixture: str, directory: Path, out: Path) -> float:
    layout, reset_after, module, cells, suffixes, parts = EXPECTED[fixture]
    with np.load(directory / "reference.npz", allow_pickle=False) as npz:
        x, expected = npz["x"], npz[f"outputs/{module}"]
    outputs, arrays, metadata = split_and_run(directory, out, x)
    assert set(outputs) == {module}
    assert set(metadata["cells"]) == set(cells)
    for name, (layer, direction, input_size) in cells.items():
        fields = metadata["cells"][name]
        assert (fields["module"], fields["layer"], fields["direction"]) == (module, layer, direction)
        assert (fields["input_size"], fields["hidden_size"]) == (input_size, HIDDEN)
        assert fields["layout"] == layout and fields["reset_after"] is reset_after
        assert fields["source_tensors"] == [f"{name}/{suffix}" for suffix in suffixes]
        assert {k for k in arrays if k.startswith(name + "/")} == {f"{name}/{p}" for p in parts}
    error = max_error(outputs[module], expected)
    assert error <= TOLERANCE, (fixture, error)
    return error


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_committed_fixture_splits_to_reference_outputs(fixture: str, tmp_path: Path) -> None:
    check(fixture, FIXTURES / fixture, tmp_path / "w.npz")


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_no_warnings_and_slots_are_not_cells(fixture: str) -> None:
    with grutool.open_checkpoint(FIXTURES / fixture) as checkpoint:
        assert checkpoint.warnings == []
        assert len(checkpoint.cells) == 2
    if fixture == "gru_block_cell":
        names = {info.name for info in checkpoint.source.tensors()}
        assert f"{STACK}/cell_0/gru_cell/w_ru/Adam_1" in names  # the slots are really there


def test_cudnn_compatible_is_not_mistaken_for_gru_cell() -> None:
    # It shares gates/kernel with GRUCell; read as one, its reset placement would be wrong.
    with grutool.open_checkpoint(FIXTURES / "cudnn_compatible") as checkpoint:
        assert {cell.layout for cell in checkpoint.cells} == {"tf-cudnn-compatible-gru-cell"}


def test_reset_placement_matters_in_these_fixtures(tmp_path: Path) -> None:
    """Run the CudnnCompatible cells as reset-before: the outputs must differ clearly."""
    from split_checks import modules_from_metadata

    from grutool.gru import run_module

    with np.load(FIXTURES / "cudnn_compatible" / "reference.npz") as npz:
        x, expected = npz["x"], npz[f"outputs/{BIDI}"]
    _, arrays, metadata = split_and_run(FIXTURES / "cudnn_compatible", tmp_path / "w.npz", x)
    module = modules_from_metadata(metadata)[0]
    for cell in module.cells:
        cell.reset_after = False
    weights = {cell.name: {k.rsplit("/", 1)[1]: v for k, v in arrays.items()
                           if k.startswith(cell.name + "/")} for cell in module.cells}
    assert max_error(run_module(module, weights, x), expected) > 100 * TOLERANCE


@pytest.mark.tensorflow
def test_live_tf_fixtures_match(tmp_path: Path) -> None:
    """Make the checkpoints afresh with the installed TensorFlow and check them."""
    pytest.importorskip("tensorflow")
    load_generator(GENERATOR).main(tmp_path)
    for fixture in EXPECTED:
        check(fixture, tmp_path / fixture, tmp_path / f"{fixture}.npz")
