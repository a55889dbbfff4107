"""Tensors that look like half a GRU cell give a clear warning naming them, never a crash.

The tensors come from the real TF fixture, re-saved as .npz with one piece missing or
reshaped (the families read names and shapes, whatever the container).
"""

import numpy as np
import pytest
from conftest import TF_GRU_CELL

import grutool

SCOPE = "rnn/gru_cell"


def _fixture_arrays() -> dict[str, np.ndarray]:
    with grutool.open_checkpoint(TF_GRU_CELL / "single") as checkpoint:
        return {info.name: checkpoint.source.read(info.name)
                for info in checkpoint.source.tensors() if info.name.startswith(SCOPE + "/")}


def _inspect(run_json, tmp_path, arrays):
    path = tmp_path / "half.npz"
    np.savez(path, **arrays)
    result, report = run_json("inspect", path)
    assert "Traceback" not in result.stderr
    return result, report


def test_gates_kernel_without_candidate(run_json, tmp_path):
    arrays = _fixture_arrays()
    del arrays[f"{SCOPE}/candidate/kernel"]
    result, report = _inspect(run_json, tmp_path, arrays)
    assert result.exit_code == 1 and report["cells"] == []
    (warning,) = report["warnings"]
    assert f"{SCOPE}/candidate/kernel" in warning and "missing" in warning


def test_gates_width_not_twice_the_units(run_json, tmp_path):
    arrays = _fixture_arrays()
    arrays[f"{SCOPE}/gates/kernel"] = arrays[f"{SCOPE}/gates/kernel"][:, :6]
    result, report = _inspect(run_json, tmp_path, arrays)
    assert result.exit_code == 1
    (warning,) = report["warnings"]
    assert f"{SCOPE}/gates/kernel" in warning and "not 2 x 4" in warning


@pytest.mark.parametrize("name, shape", [("gates/bias", (3,)), ("candidate/kernel", (5, 4))])
def test_other_misfits_are_named(run_json, tmp_path, name, shape):
    arrays = _fixture_arrays()
    arrays[f"{SCOPE}/{name}"] = np.zeros(shape, np.float32)
    result, report = _inspect(run_json, tmp_path, arrays)
    assert result.exit_code == 1 and len(report["warnings"]) == 1
    assert f"{SCOPE}/{name}" in report["warnings"][0]


def test_the_intact_arrays_are_a_cell(run_json, tmp_path):
    """The same construction with nothing removed finds the cell: the tests above fail for
    the reason they name, not because the .npz copy is unreadable."""
    result, report = _inspect(run_json, tmp_path, _fixture_arrays())
    assert result.exit_code == 0 and [c["name"] for c in report["cells"]] == [SCOPE]
    assert report["warnings"] == []
