"""Many files in one run, for CI: `inspect` and `check` over several PATHs and over every
checkpoint of a directory; one result per file in order; the worst exit code; check's GitHub
annotations and JUnit XML; and which directory a PATH stands for."""

import json
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL, write_bare_keras_npz

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
STACK = TF_GRU_CELL / "stack2" / "model.ckpt"
UNTRAINED = TF_GRU_CELL / "untrained" / "model.ckpt"
KERAS = FIXTURES / "keras" / "k3_bidirectional" / "model.keras"
ANNOTATION = re.compile(r"^::(error|warning|notice)( [^:]*)?::.+$")


def copy_checkpoint(source_dir, prefix, target_dir):
    """The TF checkpoint `model.ckpt` of `source_dir` as `target_dir/prefix`."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for part in source_dir.glob("model.ckpt.*"):
        shutil.copy(part, target_dir / part.name.replace("model.ckpt", prefix))


@pytest.fixture
def run_dir(tmp_path):
    """A training run: model.ckpt-500 (untrained), model.ckpt-1000 and model.ckpt-10000, and
    the state file naming the newest."""
    run = tmp_path / "run"
    copy_checkpoint(TF_GRU_CELL / "untrained", "model.ckpt-500", run)
    copy_checkpoint(TF_GRU_CELL / "single", "model.ckpt-1000", run)
    copy_checkpoint(TF_GRU_CELL / "single", "model.ckpt-10000", run)
    (run / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-10000"\n'
                                    'all_model_checkpoint_paths: "model.ckpt-500"\n')
    return run


def no_gru_file(tmp_path):
    path = tmp_path / "dense.npz"
    np.savez(path, dense_kernel=np.ones((3, 4), np.float32))
    return path


# --- several PATHs --------------------------------------------------------------------------

def test_check_three_files_three_results_and_the_worst_exit_code(run, tmp_path):
    result = run("check", SINGLE, UNTRAINED, STACK, "--trained", "--json")
    assert result.exit_code == 1  # one failed, none unreadable
    report = json.loads(result.stdout)
    assert set(report) == {"ok", "results", "error"} and report["ok"] is False
    assert [r["path"] for r in report["results"]] == [str(SINGLE), str(UNTRAINED), str(STACK)]
    assert [r["ok"] for r in report["results"]] == [True, False, True]
    assert all("checks" in r for r in report["results"])
    assert report["error"] == f"1 of 3 files failed: {UNTRAINED}"

    missing = tmp_path / "missing.ckpt"
    result = run("check", SINGLE, missing, UNTRAINED, "--trained", "--json")
    assert result.exit_code == 2  # worse than the failed check
    results = json.loads(result.stdout)["results"]
    assert results[1] == {"path": str(missing), "ok": False,
                          "error": f"{missing}: no such file or directory"}
    assert f"grutool: {missing}: no such file or directory" in result.stderr.splitlines()

    assert run("check", SINGLE, STACK).exit_code == 0


def test_check_several_files_as_text(run):
    result = run("check", SINGLE, UNTRAINED, "--trained")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok: {SINGLE}: 1 GRU cell, all 3 checks passed"
    assert lines[-2] == f"FAILED: {UNTRAINED}: 1 of 3 checks failed"
    assert lines[-1] == f"FAILED: 1 of 2 files failed: {UNTRAINED}"
    assert run("check", SINGLE, STACK, "--quiet").stdout == ""
    assert run("check", SINGLE, STACK).stdout.splitlines()[-1] == "ok: all 2 files passed"


def test_one_path_prints_what_it_always_printed(run):
    one = json.loads(run("check", SINGLE, "--json").stdout)
    assert one["path"] == str(SINGLE) and "results" not in one
    inspected = json.loads(run("inspect", SINGLE, "--json").stdout)
    assert inspected["path"] == str(SINGLE) and "results" not in inspected


def test_inspect_several_files(run, tmp_path):
    dense = no_gru_file(tmp_path)
    result = run("inspect", SINGLE, dense, KERAS, "--json", "--no-stats")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["path"] for r in report["results"]] == [str(SINGLE), str(dense), str(KERAS)]
    assert [len(r["cells"]) for r in report["results"]] == [1, 0, 2]
    assert report["ok"] is False and report["results"][1]["ok"] is False
    text = run("inspect", SINGLE, KERAS, "--no-stats")
    assert text.exit_code == 0
    assert [line for line in text.stdout.splitlines() if line.startswith("File")] == [
        f"File    {SINGLE}", f"File    {KERAS}"]


def test_every_checkpoint_of_a_training_run_in_step_order(run, run_dir):
    result = run("check", run_dir, "--every-checkpoint", "--trained", "--json")
    assert result.exit_code == 1
    results = json.loads(result.stdout)["results"]
    assert [r["path"] for r in results] == [
        str(run_dir / f"model.ckpt-{step}") for step in (500, 1000, 10000)]
    assert [r["ok"] for r in results] == [False, True, True]
    # Without the flag the directory is one checkpoint: the one its state file names.
    one = json.loads(run("check", run_dir, "--json").stdout)
    assert one["path"] == str(run_dir / "model.ckpt-10000")


def test_every_checkpoint_keeps_one_output_shape(run, tmp_path):
    folder = tmp_path / "one"
    copy_checkpoint(TF_GRU_CELL / "single", "model.ckpt", folder)
    report = json.loads(run("inspect", folder, "--every-checkpoint", "--json").stdout)
    assert [r["path"] for r in report["results"]] == [str(folder / "model.ckpt")]


def test_every_checkpoint_of_a_directory_of_files(run, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(KERAS, folder / "b.keras")
    shutil.copy(FIXTURES / "pytorch" / "gru_cell.safetensors", folder / "a.safetensors")
    (folder / "notes.txt").write_text("not a checkpoint")
    report = json.loads(run("check", folder, "--every-checkpoint", "--json").stdout)
    assert [r["path"] for r in report["results"]] == [str(folder / "a.safetensors"),
                                                      str(folder / "b.keras")]


# --- which file a directory stands for ------------------------------------------------------

def test_a_directory_holding_one_model_file_opens_it(run, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(KERAS, folder / "model.keras")
    result = run("inspect", folder, "--json", "--no-stats")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(folder / "model.keras")


def test_a_directory_of_several_model_files_names_them(run, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(KERAS, folder / "model.keras")
    shutil.copy(FIXTURES / "pytorch" / "gru_cell.safetensors", folder / "gru.safetensors")
    result = run("inspect", folder)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "gru.safetensors" in line and "model.keras" in line and "--every-checkpoint" in line


def test_a_state_file_naming_a_missing_checkpoint_is_an_error_naming_both(run, tmp_path):
    folder = tmp_path / "train"
    copy_checkpoint(TF_GRU_CELL / "single", "model.ckpt", folder)
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-5000"\n')
    result = run("inspect", folder)
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "model.ckpt-5000" in line and "holds model.ckpt" in line
    # Named directly, the checkpoint that is there still opens.
    assert run("inspect", folder / "model.ckpt", "--no-stats").exit_code == 0


# --- --format github and junit ---------------------------------------------------------------

def test_github_annotations(run, tmp_path):
    missing = tmp_path / "missing.ckpt"
    result = run("check", SINGLE, UNTRAINED, missing, "--trained", "--units", 8,
                 "--format", "github")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines and all(ANNOTATION.match(line) for line in lines), lines
    errors = [line for line in lines if line.startswith("::error")]
    assert len(errors) == 1 + 2 + 1  # single: units; untrained: units, trained; missing
    assert any(f"file={UNTRAINED}" in line and "title=grutool check trained" in line
               and "looks untrained" in line for line in errors)
    assert any(f"file={missing}" in line and "no such file" in line for line in errors)
    quiet = run("check", SINGLE, STACK, "--format", "github", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    passing = run("check", SINGLE, "--format", "github").stdout.splitlines()
    assert len(passing) == 1 and passing[0].startswith(f"::notice file={SINGLE},")


def test_github_annotations_escape_what_the_syntax_reserves():
    from grutool.reports import annotation

    line = annotation("error", "50% done\nnext: line", "C:/a,b.ckpt", "grutool check")
    assert line == "::error file=C%3A/a%2Cb.ckpt,title=grutool check::50%25 done%0Anext: line"
    assert ANNOTATION.match(line)


def test_junit_report_has_the_shape_ci_systems_read(run, tmp_path):
    missing = tmp_path / "missing.ckpt"
    result = run("check", SINGLE, UNTRAINED, missing, "--trained", "--format", "junit")
    assert result.exit_code == 2
    root = ET.fromstring(result.stdout.encode())
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == [str(SINGLE), str(UNTRAINED), str(missing)]
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) > 0
        assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        assert float(suite.get("time")) >= 0 and suite.get("skipped") == "0"
        for case in cases:
            assert case.get("name") and case.get("classname") == suite.get("name")
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key)) == sum(int(suite.get(key)) for suite in suites)
    assert [c.get("name") for c in suites[0]] == ["found", "finite", "trained"]
    (failure,) = suites[1].iter("failure")
    assert failure.get("type") == "trained" and "looks untrained" in failure.get("message")
    assert failure.text == failure.get("message")
    (error,) = suites[2].iter("error")
    assert "no such file" in error.get("message")


def test_json_and_another_format_are_a_usage_error(run):
    result = run("check", SINGLE, "--json", "--format", "junit")
    assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False
    (line,) = result.stderr.splitlines()
    assert line.startswith("grutool: check: --json and --format junit")
    assert json.loads(run("check", SINGLE, "--format", "json").stdout)["ok"] is True


def test_an_unreadable_match_reference_in_every_format(run, tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file" * 20)
    github = run("check", SINGLE, "--match", garbage, "--format", "github")
    assert github.exit_code == 2 and ANNOTATION.match(github.stdout.strip())
    junit = run("check", SINGLE, "--match", garbage, "--format", "junit")
    assert junit.exit_code == 2 and ET.fromstring(junit.stdout.encode()).get("errors") == "1"
    data = json.loads(run("check", SINGLE, "--match", garbage, "--json").stdout)
    assert data["ok"] is False and "garbage.h5" in data["error"]


# --- check's read options and its assertion --------------------------------------------------

def test_check_layout_is_how_to_read_and_expect_layout_what_to_assert(run, tmp_path):
    bare = tmp_path / "bare.npz"
    write_bare_keras_npz(bare)
    read_as = json.loads(run("check", bare, "--layout", "keras-gru", "--json").stdout)
    assert read_as["ok"] is True and read_as["warnings"] == []
    # A layout the tensors cannot be read as finds no cell: a failed check, as for inspect.
    assert run("check", bare, "--layout", "keras-cudnn-gru").exit_code == 1
    assert run("check", bare, "--layout", "keras-lstm").exit_code == 2  # unknown: usage
    assert run("check", bare, "--expect-layout", "keras-gru").exit_code == 0
    wrong = run("check", bare, "--expect-layout", "pytorch-gru")
    assert wrong.exit_code == 1 and "FAIL layout: expected pytorch-gru" in wrong.stdout
    assert run("check", SINGLE, "--reader", "builtin").exit_code == 0


def test_recognition_warnings_become_warning_annotations(run, tmp_path):
    bare = tmp_path / "bare.npz"
    write_bare_keras_npz(bare)  # read as keras-gru by assumption, which is a warning
    lines = run("check", bare, "--format", "github").stdout.splitlines()
    assert all(ANNOTATION.match(line) for line in lines)
    (warning,) = [line for line in lines if line.startswith("::warning")]
    assert f"file={bare}" in warning and "assumed keras-gru" in warning
    junit = ET.fromstring(run("check", bare, "--format", "junit").stdout.encode())
    assert "assumed keras-gru" in junit.find("testsuite/system-out").text


def test_a_savedmodel_directory_inside_counts_as_one_model(run, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(FIXTURES / "tf_bundle" / "savedmodel" / "saved_model", folder / "model")
    result = run("inspect", folder, "--json", "--no-stats")
    assert result.exit_code in (0, 1), result.stderr  # opened, whatever it holds
    assert json.loads(result.stdout)["path"] == str(folder / "model" / "variables" / "variables")
    shutil.copy(KERAS, folder / "model.keras")
    result = run("inspect", folder)
    assert result.exit_code == 2 and "2 checkpoints: model, model.keras" in result.stderr
