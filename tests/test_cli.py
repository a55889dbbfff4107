"""The CLI contract: tables, JSON fields, exit codes, and inputs that are missing, empty or corrupt."""

import json
import shutil

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL, write_bare_keras_npz

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
STACK = TF_GRU_CELL / "stack2" / "model.ckpt"


def test_inspect_json_has_the_contract_fields(run_json):
    result, report = run_json("inspect", STACK)
    assert result.exit_code == 0, result.stderr
    assert report["format"] == "tf-checkpoint"
    assert report["path"].endswith("model.ckpt")
    names = {t["name"] for t in report["tensors"]}
    assert "encoder/rnn/multi_rnn_cell/cell_1/gru_cell/candidate/bias" in names
    (module,) = report["modules"]
    assert module == {
        "name": "encoder/rnn/multi_rnn_cell", "layout": "tf-gru-cell", "input_size": 3,
        "hidden_size": 4, "num_layers": 2, "bidirectional": False, "reset_after": False,
        "merge": None, "layer_order": "model",
        "cells": ["encoder/rnn/multi_rnn_cell/cell_0/gru_cell",
                  "encoder/rnn/multi_rnn_cell/cell_1/gru_cell"]}
    second = report["cells"][1]
    assert second["layer"] == 1 and second["direction"] == "forward"
    assert second["input_size"] == 4 and second["hidden_size"] == 4
    assert second["dtype"] == "float32" and second["module"] == module["name"]
    assert second["source_tensors"] == [
        f"encoder/rnn/multi_rnn_cell/cell_1/gru_cell/{suffix}"
        for suffix in ("gates/kernel", "gates/bias", "candidate/kernel", "candidate/bias")]
    assert set(second["gates"]) == {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn",
                                    "b_ir", "b_iz", "b_in"}
    assert second["gates"]["W_hn"]["shape"] == [4, 4]


def test_inspect_stats_are_the_arrays_statistics(run_json):
    import grutool

    _, report = run_json("inspect", SINGLE)
    with grutool.open_checkpoint(SINGLE) as checkpoint:
        kernel = checkpoint.source.read("rnn/gru_cell/gates/kernel")
    # W_iz is the update-gate block: input rows, right half of the gates kernel.
    w_iz = kernel[:3, 4:].astype(np.float64)
    stats = report["cells"][0]["gates"]["W_iz"]
    assert stats["mean"] == pytest.approx(w_iz.mean())
    assert stats["min"] == pytest.approx(w_iz.min())
    assert stats["max"] == pytest.approx(w_iz.max())


def test_inspect_table_names_every_cell_and_gate(run):
    result = run("inspect", STACK)
    assert result.exit_code == 0
    for text in ("tf-gru-cell", "encoder/rnn/multi_rnn_cell/cell_0/gru_cell", "W_ir", "b_in",
                 "reset before"):
        assert text in result.stdout
    assert "\x1b[" not in result.stdout  # no colour when not on a terminal


def test_untrained_checkpoint_is_flagged(run_json, run):
    _, report = run_json("inspect", TF_GRU_CELL / "untrained" / "model.ckpt")
    assert any("looks untrained" in p for p in report["cells"][0]["problems"])
    _, trained = run_json("inspect", SINGLE)
    assert trained["cells"][0]["problems"] == []
    assert "looks untrained" in run("inspect", TF_GRU_CELL / "untrained").stdout


def test_adam_slots_are_not_cells(run_json):
    _, report = run_json("inspect", SINGLE)
    assert any(t["name"].endswith("gates/kernel/Adam") for t in report["tensors"])
    assert [c["name"] for c in report["cells"]] == ["rnn/gru_cell"]


def test_path_forms_resolve_to_one_checkpoint(run_json):
    folder = TF_GRU_CELL / "single"
    seen = set()
    for path in (folder, SINGLE, folder / "model.ckpt.index",
                 folder / "model.ckpt.data-00000-of-00001"):
        result, report = run_json("inspect", path, "--no-stats")
        assert result.exit_code == 0
        seen.add(report["path"])
    assert len(seen) == 1


def test_no_gru_cell_exits_1(run, run_json, tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, dense_kernel=np.ones((3, 4), np.float32))
    result, report = run_json("inspect", path)
    assert result.exit_code == 1
    assert report["cells"] == [] and report["tensors"][0]["name"] == "dense_kernel"
    result = run("inspect", path)
    assert result.exit_code == 1 and "no GRU cell" in result.stderr
    result = run("split", path, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and not (tmp_path / "w.npz").exists()


@pytest.mark.parametrize("make", ["missing", "empty", "garbage", "truncated_index", "directory"])
def test_bad_inputs_exit_2_with_one_line(run, tmp_path, make):
    if make == "missing":
        path = tmp_path / "nope.ckpt"
    elif make == "empty":
        path = tmp_path / "empty.npz"
        path.write_bytes(b"")
    elif make == "garbage":
        path = tmp_path / "weights.h5"
        path.write_bytes(b"this is not hdf5 at all" * 10)
    elif make == "truncated_index":
        shutil.copytree(TF_GRU_CELL / "single", tmp_path / "ck")
        index = tmp_path / "ck" / "model.ckpt.index"
        index.write_bytes(index.read_bytes()[:-20])
        path = tmp_path / "ck" / "model.ckpt"
    else:
        path = tmp_path
    result = run("inspect", path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("grutool: ") and str(path.name) in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_split_writes_contract_keys_and_metadata(run, tmp_path):
    out = tmp_path / "w.npz"
    result = run("split", STACK, "--out", out)
    assert result.exit_code == 0, result.stderr
    with np.load(out, allow_pickle=False) as data:
        keys = set(data.files)
        metadata = json.loads(str(data["__grutool__"]))
        w_hz = data["encoder/rnn/multi_rnn_cell/cell_0/gru_cell/W_hz"]
    cell = "encoder/rnn/multi_rnn_cell/cell_0/gru_cell"
    assert {f"{cell}/{n}" for n in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn",
                                    "b_ir", "b_iz", "b_in")} <= keys
    assert f"{cell}/b_hn" not in keys  # a bias the cell does not have is absent
    facts = metadata["cells"][cell]
    assert facts["reset_after"] is False and facts["layout"] == "tf-gru-cell"
    assert facts["input_size"] == 3 and facts["hidden_size"] == 4
    assert facts["source_tensors"][0] == f"{cell}/gates/kernel"
    assert metadata["grutool_version"]
    assert w_hz.dtype == np.float32 and w_hz.shape == (4, 4)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".safetensors"])
def test_split_formats_hold_the_same_arrays(run, tmp_path, suffix):
    import grutool

    out = tmp_path / f"w{suffix}"
    assert run("split", SINGLE, "--out", out).exit_code == 0
    with grutool.open_checkpoint(out) as split_file, grutool.open_checkpoint(SINGLE) as source:
        (cell,) = split_file.cells
        assert cell.name == "rnn/gru_cell" and cell.reset_after is False
        expected = source.canonical("rnn/gru_cell")
        got = split_file.canonical(cell)
        assert set(got) == set(expected)
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])


def test_split_refuses_to_clobber(run, tmp_path):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run("split", SINGLE, "--out", out)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    assert run("split", SINGLE, "--out", out, "--force").exit_code == 0
    assert out.read_bytes() != b"precious"


def test_split_never_overwrites_its_input(run, tmp_path):
    shutil.copytree(TF_GRU_CELL / "single", tmp_path / "ck")
    data = tmp_path / "ck" / "model.ckpt.data-00000-of-00001"
    before = data.read_bytes()
    split_copy = tmp_path / "w.npz"
    assert run("split", tmp_path / "ck", "--out", split_copy).exit_code == 0
    result = run("split", split_copy, "--out", split_copy, "--force")
    assert result.exit_code == 2 and "overwrite an input" in result.stderr
    assert data.read_bytes() == before


def test_split_leaves_nothing_when_it_fails(run, tmp_path):
    out = tmp_path / "w.bin"
    result = run("split", SINGLE, "--out", out)
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_help_has_examples(run):
    for command in ("inspect", "split", "convert", "verify"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.stdout


def test_usage_error_exits_2(run):
    assert run("split", SINGLE).exit_code == 2  # --out is required
    assert run("inspect").exit_code == 2


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".safetensors"])
def test_split_files_keep_structure_and_reset_placement(run, tmp_path, suffix):
    """Read back, a split file has the source's modules, layers, directions and reset placement."""
    import grutool

    source = grutool.open_checkpoint(FIXTURES / "pytorch" / "gru_bidir_2layer.safetensors")
    out = tmp_path / f"w{suffix}"
    assert run("split", source.path, "--out", out).exit_code == 0
    with grutool.open_checkpoint(out) as split_file:
        got = [(c.name, c.module, c.layer, c.direction, c.reset_after) for c in split_file.cells]
    expected = [(c.name, c.module, c.layer, c.direction, c.reset_after) for c in source.cells]
    source.close()
    assert sorted(got) == sorted(expected)
    assert {c[4] for c in expected} == {True} and {c[2] for c in expected} == {0, 1}


def test_bare_npz_says_what_it_assumed_and_layout_decides(run_json, tmp_path):
    path = tmp_path / "bare.npz"
    write_bare_keras_npz(path, (2, 12))
    result, report = run_json("inspect", path)
    assert result.exit_code == 0
    assert report["cells"][0]["layout"] == "keras-gru" and report["cells"][0]["reset_after"]
    assert any("assumed keras-gru" in w for w in report["warnings"])
    # Asked for explicitly, the assumption is no longer a warning.
    _, forced = run_json("inspect", path, "--layout", "keras-gru")
    assert forced["cells"][0]["layout"] == "keras-gru" and forced["warnings"] == []
    # A layout the tensors cannot be read as finds nothing, and says so.
    result, nothing = run_json("inspect", path, "--layout", "keras-cudnn-gru")
    assert result.exit_code == 1 and nothing["cells"] == []
    assert any("--layout keras-cudnn-gru" in w for w in nothing["warnings"])


def test_unknown_layout_is_a_usage_error(run, tmp_path):
    path = tmp_path / "bare.npz"
    write_bare_keras_npz(path, (2, 12))
    result = run("inspect", path, "--layout", "keras-lstm")
    assert result.exit_code == 2 and "unknown layout" in result.stderr


def test_no_heavy_import_to_inspect_a_tf_checkpoint():
    """TensorFlow, torch, onnx, h5py (and rich, for --json) stay unimported: start-up cost."""
    import subprocess
    import sys

    code = ("import sys; from grutool.cli import cli\n"
            "try:\n"
            f"    cli(['inspect', {str(STACK)!r}, '--json'])\n"
            "except SystemExit as exit:\n"
            "    assert exit.code in (0, None), exit.code\n"
            "heavy = ('tensorflow', 'torch', 'onnx', 'onnxruntime', 'h5py', 'keras', 'rich',\n"
            "         'matplotlib')\n"
            "print('LOADED', [name for name in heavy if name in sys.modules])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
