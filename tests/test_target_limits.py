"""What a target cannot express is refused, and what it can is written exactly: a
reverse-only module is no nn.GRU; Keras 2's hard_sigmoid survives an ONNX round trip. A file
without cells says so even with --json; Flax scalars named like a cell are no crash."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES, KERAS


@pytest.mark.parametrize("source", [KERAS / "k3_go_backwards" / "model.keras",
                                    FIXTURES / "onnx" / "reverse_lbr1.onnx"])
def test_reverse_only_module_is_no_pytorch_gru(run, tmp_path, source):
    if source.suffix == ".onnx":
        pytest.importorskip("onnx")
    out = tmp_path / "gru.safetensors"
    result = run("convert", source, "--to", "pytorch", "--out", out)
    assert result.exit_code == 1 and "reverse-only" in result.stderr
    assert list(tmp_path.iterdir()) == []



@pytest.mark.onnx
def test_keras2_hard_sigmoid_survives_an_onnx_round_trip(run, tmp_path):
    """tf.keras's hard_sigmoid is ONNX HardSigmoid with its default alpha and beta."""
    import onnxruntime

    out = tmp_path / "g.onnx"
    result = run("convert", KERAS / "tfk_model" / "model.h5", "--to", "onnx",
                 "--module", "g_before", "--out", out)
    assert result.exit_code == 0, result.stderr
    with np.load(KERAS / "tfk_model" / "reference.npz") as reference:
        x, expected = reference["input/g_before"], reference["output/g_before"]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (y,) = session.run(["Y"], {"X": np.ascontiguousarray(np.transpose(x, (1, 0, 2)))})
    assert np.max(np.abs(np.transpose(y, (1, 0, 2)) - expected)) <= 1e-5



def test_inspect_json_without_cells_still_says_so_on_stderr(run, tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, dense=np.ones((2, 2), np.float32))
    result = run("inspect", path, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["cells"] == []
    assert result.stderr.strip() == f"grutool: {path}: no GRU cell found"



def test_flax_scalars_named_like_a_cell_are_not_a_crash(run_json, tmp_path):
    path = tmp_path / "flax.npz"
    np.savez(path, **{"m/dense_i/kernel": np.float32(1), "m/dense_h/kernel": np.float32(1),
                      **{f"g/{d}/kernel": np.float32(1) for d in ("ir", "iz", "in", "hr", "hz", "hn")}})
    result, report = run_json("inspect", path)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
