"""The command line's contract with a script and a person, on every outcome: one JSON object
with --json whatever the exit code, usage errors in the one-line form, --debug after the
subcommand, help that fits, `grutool env`, and the wording of counts."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
STACK = TF_GRU_CELL / "stack2" / "model.ckpt"
UNTRAINED = TF_GRU_CELL / "untrained" / "model.ckpt"
KERAS = FIXTURES / "keras" / "k3_bidirectional" / "model.keras"
GRUTOOL = [sys.executable, "-c", "from grutool.cli import main; main()"]


@pytest.fixture
def files(tmp_path):
    dense = tmp_path / "dense.npz"
    np.savez(dense, dense_kernel=np.ones((3, 4), np.float32))
    existing = tmp_path / "exists.npz"
    existing.write_bytes(b"precious")
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file" * 20)
    return {"dense": dense, "missing": tmp_path / "missing.ckpt", "existing": existing,
            "garbage": garbage, "out": tmp_path / "out.npz", "tmp": tmp_path}


# (command line with {placeholders}, exit code)
FAILURES = [
    ("inspect {missing}", 2),
    ("inspect {garbage}", 2),
    ("inspect {dense}", 1),
    ("inspect {single} --cell no/such/cell", 2),
    ("split {dense} --out {out}", 1),
    ("split {single} --out {existing}", 2),
    ("split {single} --out {tmp}/w.bin", 2),
    ("convert {single} --to pytorch --out {out}", 1),  # reset before: refused
    ("convert {single} --to keras --out {existing}", 2),
    ("verify {single} {dense}", 1),  # no GRU cell in B
    ("verify {single} {missing}", 2),
    ("verify {stack} {single}", 1),  # structures differ
    ("diff {untrained} {single} --threshold 2", 1),
    ("diff {single} {stack}", 1),
    ("diff {single} {garbage}", 2),
    ("check {untrained} --trained", 1),
    ("check {garbage}", 2),
    ("check {dense}", 1),
    ("check {single} --match {garbage}", 2),
    ("plot {missing} --out {tmp}/g.png", 2),
    ("explain {dense}", 1),
    ("explain {single} --cell no/such/cell", 2),
    # usage errors, caught before the command runs
    ("check {single} --units 0", 2),
    ("inspect {single} --no-such-option", 2),
    ("convert {single} --to nowhere --out {out}", 2),
    ("split {single}", 2),
]


@pytest.mark.parametrize("line, code", FAILURES, ids=[line for line, _ in FAILURES])
def test_json_on_every_failed_outcome(run, files, line, code):
    args = line.format(single=SINGLE, stack=STACK, untrained=UNTRAINED, **files).split()
    result = run(*args, "--json")
    assert result.exit_code == code, (result.stdout, result.stderr)
    data = json.loads(result.stdout)  # one object, whatever went wrong
    assert isinstance(data, dict) and data["ok"] is False
    assert isinstance(data["error"], str) and "\n" not in data["error"]
    # … and the same one line on stderr, as without --json.
    assert f"grutool: {data['error']}" in result.stderr.splitlines()


SUCCESSES = [
    "inspect {single}", "inspect {single} --no-stats", "split {single} --out {out}",
    "convert {keras} --to pytorch --out {out}", "verify {single} {single}",
    "diff {single} {single}", "check {single}", "env", "explain {single}",
]


@pytest.mark.parametrize("line", SUCCESSES)
def test_json_says_ok_on_success(run, files, line):
    args = line.format(single=SINGLE, keras=KERAS, **files).split()
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and "error" not in data


def test_a_failed_check_of_a_conversion_keeps_its_measurements(run, files, monkeypatch):
    from grutool import convert as convert_module

    real = convert_module.verify_modules

    def off_by_one(*args, **kwargs):
        verification = real(*args, **kwargs)
        for module in verification.modules:
            module.max_abs_error = 1.0
        return verification

    monkeypatch.setattr(convert_module, "verify_modules", off_by_one)
    result = run("convert", KERAS, "--to", "keras", "--out", files["out"], "--json")
    assert result.exit_code == 1 and not files["out"].exists()
    data = json.loads(result.stdout)
    assert data["ok"] is False and "numerical verification failed" in data["error"]
    assert data["verification"]["modules"][0]["max_abs_error"] == 1.0


# --- usage errors, --debug, help -------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["frobnicate"], "No such command 'frobnicate'"),
    (["--no-such-flag"], "No such option"),
    (["check"], "check: Missing argument 'PATH...'"),
    (["check", str(SINGLE), "--units", "zero"], "check: Invalid value for '--units'"),
    (["inspect", str(SINGLE), "--frmat", "json"], "inspect: No such option"),
])
def test_usage_errors_are_one_line(run, args, words):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("grutool: ") and words in line and "--help" in line


def test_debug_after_the_subcommand(run, tmp_path):
    missing = tmp_path / "missing.ckpt"
    for args in (["--debug", "inspect", missing], ["inspect", missing, "--debug"]):
        result = run(*args)
        assert result.exit_code == 2
        assert "Traceback" in result.stderr and "InputError" in result.stderr
        assert result.stderr.splitlines()[-1] == f"grutool: {missing}: no such file or directory"
    assert "Traceback" not in run("inspect", missing).stderr


@pytest.mark.parametrize("columns", [80, 140])
def test_help_summaries_are_whole_and_use_the_width(columns):
    env = dict(os.environ, COLUMNS=str(columns))
    text = subprocess.run([*GRUTOOL, "--help"], env=env, capture_output=True, text=True,
                          check=True).stdout
    commands = text.split("Commands:")[1].splitlines()[1:]
    names = [line.split()[0] for line in commands if line.strip()]
    assert names == ["check", "convert", "diff", "env", "explain", "inspect", "plot", "split",
                     "verify"]
    assert not [line for line in commands if "..." in line or "…" in line], commands
    assert max(len(line) for line in text.splitlines()) <= min(columns, 100)
    if columns == 140:  # the description fills more than 80 columns when it may
        check = subprocess.run([*GRUTOOL, "check", "--help"], env=env, capture_output=True,
                               text=True, check=True).stdout
        assert 80 < max(len(line) for line in check.splitlines()) <= 100


def test_every_command_help_has_examples(run):
    for command in ("inspect", "split", "convert", "verify", "check", "diff", "plot", "env",
                    "explain"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.stdout, command
        assert "--debug" in result.stdout


# --- grutool env ----------------------------------------------------------------------------

def test_env_lists_versions_without_importing_the_frameworks():
    code = ("import sys\nfrom grutool.cli import cli\n"
            "try:\n    cli(['env', '--json'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('tensorflow', 'torch', 'onnx', 'keras', 'matplotlib') "
            "if m in sys.modules])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    output, imported = result.stdout.rsplit("\n", 2)[0], result.stdout.rsplit("\n", 2)[1]
    assert imported == "[]"
    data = json.loads(output)
    import grutool

    assert data["grutool"] == grutool.__version__
    packages = {p["name"]: p for p in data["packages"]}
    assert {"numpy", "h5py", "tensorflow", "torch", "onnx", "msgpack", "matplotlib"} <= set(packages)
    assert packages["numpy"]["installed"] and packages["numpy"]["version"] == np.__version__
    assert packages["tensorflow"]["extra"] == "tf"


def test_env_as_text(run):
    result = run("env")
    assert result.exit_code == 0
    assert result.stdout.startswith("grutool ")
    assert any(line.split()[:1] == ["tensorflow"] for line in result.stdout.splitlines())


# --- wording ---------------------------------------------------------------------------------

def test_counts_say_cell_and_cells(run, tmp_path):
    result = run("split", SINGLE, "--out", tmp_path / "w.npz")
    assert result.stdout.strip() == f"Wrote 9 arrays of 1 cell to {tmp_path / 'w.npz'}"
    out = tmp_path / "w2.npz"
    assert "of 2 cells" in run("split", STACK, "--out", out).stdout
    match = json.loads(run("check", SINGLE, "--match", tmp_path / "w.npz", "--json").stdout)
    assert any("same structure, 1 cell and shapes" in c["detail"] for c in match["checks"])
    verify = run("verify", SINGLE, tmp_path / "w.npz")
    assert "over 1 whole module " in verify.stdout
