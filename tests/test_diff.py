"""`grutool diff`: zero against itself and its split files, and the exact figures, computed
here with NumPy, for a copy with known changes."""

import json
import math

import numpy as np
import pytest
from conftest import TF_GRU_CELL

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
STACK = TF_GRU_CELL / "stack2" / "model.ckpt"
BIDI = TF_GRU_CELL / "bidi" / "model.ckpt"
CELL = "rnn/gru_cell"


def diff_json(run, *args):
    result = run("diff", *args, "--json")
    return result, json.loads(result.stdout) if result.stdout.strip() else None


def all_gates(report):
    return [gate for cell in report["cells"] for gate in cell["gates"]]


def assert_no_change(report, cells):
    assert report["ok"] is True and report["problem"] is None
    assert len(report["cells"]) == cells
    for gate in all_gates(report):
        assert gate["relative_change"] == 0 and gate["max_abs_change"] == 0
        assert gate["cosine"] == pytest.approx(1.0, abs=1e-12)
    assert report["max_relative_change"] == 0


def test_against_itself(run):
    result, report = diff_json(run, STACK, STACK)
    assert result.exit_code == 0
    assert_no_change(report, 2)
    # TF GRUCell has no recurrent biases: nine arrays per cell, none "absent on one side".
    assert [g["gate"] for g in report["cells"][0]["gates"]] == [
        "W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in"]
    assert all(g["absent_in"] is None for g in all_gates(report))
    table = run("diff", STACK, STACK)
    assert table.exit_code == 0 and "No change: every gate is identical." in table.stdout


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_against_its_split_file(run, tmp_path, suffix):
    out = tmp_path / f"w{suffix}"
    assert run("split", BIDI, "--out", out).exit_code == 0
    result, report = diff_json(run, BIDI, out)
    assert result.exit_code == 0
    assert_no_change(report, 2)
    # Paired in file order (forward, then reverse), not by whatever order names sort in.
    assert [c["a"] for c in report["cells"]] == [c["b"] for c in report["cells"]] == [
        "birnn/bidirectional_rnn/fw/gru_cell", "birnn/bidirectional_rnn/bw/gru_cell"]


def split_arrays(run, tmp_path, source=SINGLE):
    out = tmp_path / "w.npz"
    assert run("split", source, "--out", out).exit_code == 0
    with np.load(out, allow_pickle=False) as data:
        return dict(data)


def write_copy(tmp_path, arrays, name="changed.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def expected(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (np.linalg.norm(a - b) / np.linalg.norm(a), np.abs(a - b).max(),
            (a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_modified_copy_gives_the_numpy_figures(run, tmp_path):
    arrays = split_arrays(run, tmp_path)
    original = {k: v.copy() for k, v in arrays.items()}
    arrays[f"{CELL}/W_hz"][2, 1] += np.float32(0.25)
    arrays[f"{CELL}/b_iz"] *= np.float32(1.5)
    changed = write_copy(tmp_path, arrays)

    result, report = diff_json(run, SINGLE, changed)
    assert result.exit_code == 0
    gates = {g["gate"]: g for g in report["cells"][0]["gates"]}
    for name in ("W_hz", "b_iz"):
        relative, largest, cosine = expected(original[f"{CELL}/{name}"], arrays[f"{CELL}/{name}"])
        assert gates[name]["relative_change"] == pytest.approx(relative, rel=1e-12)
        assert gates[name]["max_abs_change"] == pytest.approx(largest, rel=1e-12)
        assert gates[name]["cosine"] == pytest.approx(cosine, rel=1e-12)
    assert gates["W_hz"]["max_abs_change"] == pytest.approx(0.25, abs=1e-7)
    assert gates["b_iz"]["cosine"] == pytest.approx(1.0)  # a scaled vector keeps its direction
    assert gates["b_iz"]["relative_change"] == pytest.approx(0.5, rel=1e-6)
    untouched = [g for name, g in gates.items() if name not in ("W_hz", "b_iz")]
    assert len(untouched) == 7 and all(g["relative_change"] == 0 for g in untouched)
    assert report["largest_change"] == {"cell": CELL, "gate": "b_iz"}
    assert report["max_relative_change"] == gates["b_iz"]["relative_change"]

    table = run("diff", SINGLE, changed).stdout
    w_hz_row = next(line for line in table.splitlines() if "W_hz" in line)
    assert f"{gates['W_hz']['relative_change']:.3g}" in w_hz_row and "0.25" in w_hz_row


def test_threshold(run, tmp_path):
    arrays = split_arrays(run, tmp_path)
    norm = np.linalg.norm(arrays[f"{CELL}/W_in"].astype(np.float64))
    arrays[f"{CELL}/W_in"][0, 0] += np.float32(0.1)  # relative change 0.1/||W_in||
    changed = write_copy(tmp_path, arrays)
    relative = 0.1 / norm
    result = run("diff", SINGLE, changed, "--threshold", relative * 1.01)
    assert result.exit_code == 0
    result = run("diff", SINGLE, changed, "--threshold", relative * 0.99)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "1 gate changed by more than" in line and f"{CELL}/W_in" in line
    assert "> " in next(row for row in result.stdout.splitlines() if "W_in" in row)
    _, report = diff_json(run, SINGLE, changed, "--threshold", relative * 0.99)
    assert report["ok"] is False and report["above_threshold"] == [{"cell": CELL, "gate": "W_in"}]


def test_bias_absent_on_one_side_counts_as_zero(run, tmp_path):
    arrays = split_arrays(run, tmp_path)
    assert f"{CELL}/b_hn" not in arrays  # TF GRUCell has no recurrent candidate bias
    b_hn = np.array([0.5, -0.5, 0.25, 0.0], np.float32)
    with_bias = write_copy(tmp_path, {**arrays, f"{CELL}/b_hn": b_hn}, "with_bias.npz")

    # Absent in A: ||a|| = 0 and b is not zero, so the relative change is infinite (null).
    result, report = diff_json(run, SINGLE, with_bias, "--threshold", 1000)
    assert result.exit_code == 1
    gate = report["cells"][0]["gates"][-1]
    assert gate == {"gate": "b_hn", "shape": [4], "relative_change": None,
                    "max_abs_change": 0.5, "cosine": 0.0, "absent_in": "a"}
    assert "inf" in run("diff", SINGLE, with_bias).stdout

    # Absent in B: b is zero, so the change is all of a: relative 1, cosine 0.
    _, report = diff_json(run, with_bias, SINGLE)
    gate = report["cells"][0]["gates"][-1]
    assert gate["relative_change"] == pytest.approx(1.0) and gate["cosine"] == 0.0
    assert gate["absent_in"] == "b" and gate["max_abs_change"] == 0.5


@pytest.mark.parametrize("other, words", [
    (STACK, "rnn/gru_cell has 1 layer and encoder/rnn/multi_rnn_cell 2 layers"),
    (BIDI, "layer 0 of rnn/gru_cell runs forward and of birnn/bidirectional_rnn "
           "forward + reverse"),
])
def test_different_structure_exits_1_with_one_line(run, other, words):
    result = run("diff", SINGLE, other)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert words in line and result.stdout == ""


def test_different_sizes_exit_1(run, tmp_path):
    rng = np.random.default_rng(0)
    wider = tmp_path / "wider.npz"  # one reset-before cell reading 5 inputs instead of 3
    np.savez(wider, **{f"rnn/gru_cell/{name}": rng.normal(size=shape).astype(np.float32)
                       for name, shape in [("W_ir", (5, 4)), ("W_iz", (5, 4)), ("W_in", (5, 4)),
                                           ("W_hr", (4, 4)), ("W_hz", (4, 4)), ("W_hn", (4, 4))]})
    result, report = diff_json(run, SINGLE, wider)
    assert result.exit_code == 1 and report["ok"] is False
    assert "sizes 3→4 vs 5→4" in report["problem"] and report["cells"] == []


def test_no_cell_and_unreadable(run, tmp_path):
    empty = tmp_path / "dense.npz"
    np.savez(empty, dense=np.ones((2, 2), np.float32))
    result = run("diff", SINGLE, empty)
    assert result.exit_code == 1 and "no GRU cell" in result.stderr
    garbage = tmp_path / "x.h5"
    garbage.write_bytes(b"nothing here" * 30)
    result = run("diff", garbage, SINGLE)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_quiet_prints_nothing(run):
    result = run("diff", SINGLE, SINGLE, "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_gate_change_edge_cases():
    from grutool.diff import gate_change

    zeros = np.zeros(3, np.float32)
    both_zero = gate_change("b_hr", zeros, None)
    assert (both_zero.relative_change, both_zero.cosine, both_zero.max_abs_change) == (0.0, 1.0, 0.0)
    assert not both_zero.exceeds(0.0)
    from_zero = gate_change("b_hr", zeros, np.ones(3))
    assert math.isinf(from_zero.relative_change) and from_zero.cosine == 0.0
    assert from_zero.exceeds(1e9) and from_zero.to_json()["relative_change"] is None
    with_nan = gate_change("W_ir", np.ones((2, 2)), np.array([[1.0, np.nan], [1.0, 1.0]]))
    assert with_nan.exceeds(1e9)
    assert with_nan.to_json()["relative_change"] is None and with_nan.to_json()["cosine"] is None
    opposite = gate_change("W_ir", np.ones(4), -np.ones(4))
    assert opposite.cosine == pytest.approx(-1.0) and opposite.relative_change == pytest.approx(2.0)
