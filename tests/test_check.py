"""`grutool check`: every condition passing and failing, its output lines, JSON and exit codes."""

import json

import numpy as np
import pytest
from conftest import TF_GRU_CELL

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
STACK = TF_GRU_CELL / "stack2" / "model.ckpt"
BIDI = TF_GRU_CELL / "bidi" / "model.ckpt"
UNTRAINED = TF_GRU_CELL / "untrained" / "model.ckpt"


def checks_of(result):
    report = json.loads(result.stdout)
    return report, {check["name"]: check for check in report["checks"]}


def test_defaults_pass_on_a_healthy_checkpoint(run):
    result = run("check", STACK)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok: {STACK}: 2 GRU cells, all 2 checks passed"]


@pytest.mark.parametrize("count, code", [(2, 0), (3, 1), (1, 1)])
def test_cells(run, count, code):
    result = run("check", STACK, "--cells", count)
    assert result.exit_code == code
    if code:
        assert f"FAIL cells: expected {count}, found 2" in result.stdout.splitlines()


@pytest.mark.parametrize("units, code", [(4, 0), (8, 1)])
def test_units(run, units, code):
    result = run("check", BIDI, "--units", units)
    assert result.exit_code == code
    if code:
        line = next(line for line in result.stdout.splitlines() if line.startswith("FAIL units"))
        assert "expected 8 in every cell" in line and "birnn/bidirectional_rnn/fw/gru_cell has 4" in line


@pytest.mark.parametrize("layout, code", [("tf-gru-cell", 0), ("pytorch-gru", 1)])
def test_layout(run, layout, code):
    result = run("check", SINGLE, "--expect-layout", layout)
    assert result.exit_code == code
    if code:
        assert "FAIL layout: expected pytorch-gru for every cell, rnn/gru_cell is tf-gru-cell" \
            in result.stdout.splitlines()


def _split_with_nan(tmp_path):
    """A split file of `single` whose W_hz holds one NaN and one Inf."""
    import grutool

    with grutool.open_checkpoint(SINGLE) as checkpoint:
        arrays = {f"rnn/gru_cell/{name}": array.copy()
                  for name, array in checkpoint.canonical("rnn/gru_cell").items()}
    arrays["rnn/gru_cell/W_hz"][1, 2] = np.nan
    arrays["rnn/gru_cell/W_hz"][0, 0] = np.inf
    path = tmp_path / "nan.npz"
    np.savez(path, **arrays)
    return path


def test_nan_and_inf_fail_by_default_and_pass_with_allow_nan(run, tmp_path):
    path = _split_with_nan(tmp_path)
    result = run("check", path)
    assert result.exit_code == 1
    assert "FAIL finite: rnn/gru_cell/W_hz has 1 NaN and 1 Inf" in result.stdout.splitlines()
    assert run("check", path, "--no-nan").exit_code == 1
    allowed = run("check", path, "--allow-nan", "--json")
    assert allowed.exit_code == 0
    _, checks = checks_of(allowed)
    assert "finite" not in checks


def test_trained(run):
    assert run("check", SINGLE, "--trained").exit_code == 0
    result = run("check", UNTRAINED, "--trained")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("FAIL trained: rnn/gru_cell looks untrained")
    # Without --trained the untouched biases are not a failure.
    assert run("check", UNTRAINED).exit_code == 0


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".safetensors"])
def test_match_across_formats_and_naming_eras(run, tmp_path, suffix):
    split_file = tmp_path / f"stack{suffix}"
    assert run("split", STACK, "--out", split_file).exit_code == 0
    assert run("check", STACK, "--match", split_file).exit_code == 0
    # Same structure under TF 0.x names: a match (names are not compared, order is).
    assert run("check", STACK, "--match", TF_GRU_CELL / "tf0x_names").exit_code == 0


@pytest.mark.parametrize("other, words", [
    (SINGLE, "encoder/rnn/multi_rnn_cell has 2 layers and rnn/gru_cell 1 layer"),
    (BIDI, "encoder/rnn/multi_rnn_cell has 2 layers and birnn/bidirectional_rnn 1 layer"),
])
def test_match_fails_on_other_structure(run, other, words):
    result = run("check", STACK, "--match", other)
    assert result.exit_code == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL match")]
    assert words in line


def test_match_notices_reset_placement(run, tmp_path):
    """A split file claiming reset_after=True no longer matches the reset-before source."""
    out = tmp_path / "w.npz"
    assert run("split", SINGLE, "--out", out).exit_code == 0
    with np.load(out, allow_pickle=False) as data:
        arrays = dict(data)
    metadata = json.loads(str(arrays["__grutool__"]))
    metadata["cells"]["rnn/gru_cell"]["reset_after"] = True
    arrays["__grutool__"] = np.array(json.dumps(metadata))
    changed = tmp_path / "after.npz"
    np.savez(changed, **arrays)
    result = run("check", SINGLE, "--match", changed)
    assert result.exit_code == 1
    assert "rnn/gru_cell vs rnn/gru_cell: reset before vs reset after" in result.stdout


def test_several_failures_one_line_each_then_summary(run):
    result = run("check", STACK, "--cells", 3, "--units", 5, "--expect-layout", "keras-gru")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["FAIL cells", "FAIL units", "FAIL layout",
                                                      "FAILED"]
    assert lines[-1] == f"FAILED: {STACK}: 3 of 5 checks failed"
    assert result.stderr == ""


def test_json_report(run):
    result = run("check", UNTRAINED, "--trained", "--units", 4, "--json")
    assert result.exit_code == 1
    report, checks = checks_of(result)
    assert report["path"] == str(UNTRAINED) and report["ok"] is False
    assert set(report) == {"path", "ok", "checks", "warnings", "error"}
    assert report["error"] == f"{UNTRAINED}: 1 of 4 checks failed: trained"
    assert checks["units"] == {"name": "units", "ok": True, "detail": "expected 4 in every cell"}
    assert checks["trained"]["ok"] is False and "looks untrained" in checks["trained"]["detail"]
    passing, _ = checks_of(run("check", SINGLE, "--json"))
    assert passing["ok"] is True and all(c["ok"] for c in passing["checks"])


def test_quiet(run):
    assert run("check", SINGLE, "--quiet").stdout == ""
    failing = run("check", SINGLE, "--cells", 2, "-q")
    assert failing.exit_code == 1 and "FAIL cells: expected 2, found 1" in failing.stdout


def test_no_gru_cell_fails_with_one_line(run, tmp_path):
    path = tmp_path / "dense.npz"
    np.savez(path, dense_kernel=np.ones((3, 4), np.float32))
    result = run("check", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"FAIL found: no GRU cell in {path}"]
    report, checks = checks_of(run("check", path, "--json"))
    assert report["ok"] is False and checks["found"]["ok"] is False


@pytest.mark.parametrize("which", ["path", "match"])
def test_unreadable_input_exits_2(run, tmp_path, which):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file" * 20)
    args = [garbage] if which == "path" else [SINGLE, "--match", garbage]
    result = run("check", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "garbage.h5" in result.stderr


def test_bad_option_values_exit_2(run):
    assert run("check", SINGLE, "--units", 0).exit_code == 2
    assert run("check", SINGLE, "--cells", "two").exit_code == 2


def test_library_call():
    import grutool
    from grutool.check import check_checkpoint

    with grutool.open_checkpoint(STACK) as checkpoint:
        report = check_checkpoint(checkpoint, cells=2, units=4, layout="tf-gru-cell",
                                  trained=True)
    assert report.ok and [c.name for c in report.checks] == [
        "found", "cells", "units", "layout", "finite", "trained"]


def test_new_commands_have_help_with_examples(run):
    for command in ("check", "diff", "plot"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.stdout
