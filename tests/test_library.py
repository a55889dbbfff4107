"""The library a Python user calls does what the CLI does: load, find cells, convert, verify."""

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL

import grutool
from grutool.errors import InexactConversionError, VerificationError
from grutool.gru import run_module


def test_load_find_cells_and_run_them():
    with np.load(TF_GRU_CELL / "bidi" / "reference.npz") as reference:
        x, expected = reference["x"], reference["outputs/birnn/bidirectional_rnn"]
    with grutool.open_checkpoint(TF_GRU_CELL / "bidi") as checkpoint:
        (module,) = checkpoint.modules
        assert module.bidirectional and module.num_layers == 1
        weights = {cell.name: checkpoint.canonical(cell) for cell in module.cells}
        assert np.max(np.abs(run_module(module, weights, x) - expected)) <= 1e-5


def test_convert_and_verify_files(tmp_path):
    source = FIXTURES / "keras" / "k3_bidirectional" / "model.keras"
    out = tmp_path / "gru.safetensors"
    conversion = grutool.convert_file(source, "pytorch", out)
    assert conversion.verification.ok and out.exists()
    assert [m.name for m in conversion.modules] == ["layers/bidirectional"]
    result = grutool.verify_files(source, out)
    assert result.ok and result.max_abs_error <= 1e-5 and len(result.comparisons) == 2


def test_inexact_conversion_raises_and_writes_nothing(tmp_path):
    out = tmp_path / "gru.safetensors"
    with pytest.raises(InexactConversionError) as caught:
        grutool.convert_file(TF_GRU_CELL / "single", "pytorch", out)
    assert caught.value.exit_code == 1 and not out.exists()
    assert "keras, onnx, tf" in caught.value.one_line()


def test_verification_error_is_a_grutool_error():
    assert issubclass(VerificationError, grutool.GrutoolError)
