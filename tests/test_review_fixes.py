"""Regressions found by review: each test fails on the code before its fix."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

import grutool

from conftest import FIXTURES, TF_GRU_CELL

KERAS = FIXTURES / "keras"


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


def _bfloat16_npz(path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    with grutool.open_checkpoint(TF_GRU_CELL / "single") as checkpoint:
        weights = checkpoint.canonical("rnn/gru_cell")
    arrays = {f"cell/{name}": value.astype(ml_dtypes.bfloat16) for name, value in weights.items()}
    # A bfloat16 source in a format that holds it: safetensors.
    from grutool.writers import write_arrays

    write_arrays(path, arrays, {"cells": {}})


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_bfloat16_is_refused_where_the_format_cannot_hold_it(run, tmp_path, suffix):
    source = tmp_path / "bf16.safetensors"
    _bfloat16_npz(source)
    out = tmp_path / f"w{suffix}"
    result = run("split", source, "--out", out)
    assert result.exit_code == 2 and "bfloat16" in result.stderr and ".safetensors" in result.stderr
    assert not out.exists()
    assert run("split", source, "--out", tmp_path / "w.safetensors").exit_code == 0


def test_write_failure_is_one_line_exit_2(run, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_bytes(b"")
    result = run("convert", TF_GRU_CELL / "single", "--to", "keras", "--out",
                 blocked / "sub" / "k.npz")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "internal error" not in result.stderr


def test_outputs_get_the_usual_file_mode(run, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "w.npz"
        assert run("split", TF_GRU_CELL / "single", "--out", out).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def _canonical_npz(path, **changes):
    with grutool.open_checkpoint(TF_GRU_CELL / "single") as checkpoint:
        arrays = {f"c/{k}": v for k, v in checkpoint.canonical("rnn/gru_cell").items()}
    arrays.update(changes)
    np.savez(path, **arrays)


def test_canonical_arrays_that_do_not_fit_are_warned_not_crashed(run_json, run, tmp_path):
    path = tmp_path / "bad.npz"
    _canonical_npz(path, **{"c/W_iz": np.zeros((3, 5), np.float32)})
    result, report = run_json("inspect", path)
    assert result.exit_code == 1 and report["cells"] == []
    assert "c/W_iz" not in report["warnings"][0] and "W_iz is [3, 5]" in report["warnings"][0]
    assert run("convert", path, "--to", "keras", "--out", tmp_path / "k.npz").exit_code == 1


def test_bad_metadata_values_are_ignored_with_a_warning(run_json, tmp_path):
    path = tmp_path / "meta.npz"
    metadata = {"cells": {"c": {"layer": "x", "direction": "sideways", "reset_after": True}}}
    _canonical_npz(path, __grutool__=np.array(json.dumps(metadata)))
    result, report = run_json("inspect", path)
    assert result.exit_code == 0
    (cell,) = report["cells"]
    assert cell["layer"] == 0 and cell["direction"] == "forward" and cell["reset_after"] is True
    assert any("layer 'x'" in w for w in report["warnings"])


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


def test_go_backwards_is_visible_in_inspect_and_split(run_json, run, tmp_path):
    path = KERAS / "k3_go_backwards" / "model.keras"
    _, report = run_json("inspect", path, "--no-stats")
    (cell,) = report["cells"]
    assert cell["direction"] == "reverse" and cell["outputs_time_reversed"] is True
    out = tmp_path / "w.npz"
    assert run("split", path, "--out", out).exit_code == 0
    with np.load(out) as data:
        metadata = json.loads(str(data["__grutool__"]))
    assert metadata["cells"][cell["name"]]["outputs_time_reversed"] is True
