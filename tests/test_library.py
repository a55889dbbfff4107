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


STACK_CKPT = TF_GRU_CELL / "stack2" / "model.ckpt"
KERAS_BIDI = FIXTURES / "keras" / "k3_bidirectional" / "model.keras"


class Recorder:
    def __init__(self):
        self.steps = []

    def __call__(self, items, description):
        items = list(items)
        self.steps.append((description, len(items)))
        yield from items


def test_library_calls_take_a_progress_hook(tmp_path):
    import grutool
    from grutool.check import check_checkpoint
    from grutool.convert import convert, write_conversion
    from grutool.diff import diff_checkpoints
    from grutool.verify import verify_checkpoints

    with grutool.open_checkpoint(STACK_CKPT) as a, grutool.open_checkpoint(STACK_CKPT) as b:
        hook = Recorder()
        assert verify_checkpoints(a, b, progress=hook).ok
        # Weights are read as the layers run (one cell at a time): one step per module pair.
        assert hook.steps == [("checking", 1)]
    with grutool.open_checkpoint(STACK_CKPT) as a, grutool.open_checkpoint(STACK_CKPT) as b:
        hook = Recorder()
        diff_checkpoints(a, b, progress=hook)
        assert hook.steps == [("comparing", 2)]
    with grutool.open_checkpoint(KERAS_BIDI) as source:
        hook = Recorder()
        conversion = convert(source, "pytorch")
        write_conversion(conversion, tmp_path / "c.safetensors", False, [], progress=hook)
        assert hook.steps == [("converting", 2), ("checking", 1)]
    with grutool.open_checkpoint(STACK_CKPT) as checkpoint:
        hook = Recorder()
        grutool.inspect_report(checkpoint, progress=hook)
        assert hook.steps == [("reading", 2)]
    with grutool.open_checkpoint(STACK_CKPT) as checkpoint, grutool.open_checkpoint(STACK_CKPT) as other:
        hook = Recorder()
        check_checkpoint(checkpoint, match=other, progress=hook)
        assert hook.steps == [("reading", 2), ("reading", 2)]
    # grutool 0.1's one-parameter hook still works.
    seen = []
    grutool.split(STACK_CKPT, tmp_path / "w.npz", progress=lambda cells: seen.extend(cells) or cells)
    assert [cell.name for cell in seen] == [
        "encoder/rnn/multi_rnn_cell/cell_0/gru_cell", "encoder/rnn/multi_rnn_cell/cell_1/gru_cell"]
