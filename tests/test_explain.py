"""`grutool explain`: the `where` of every canonical array, applied to the raw tensor by the
test's own few lines of NumPy, is the array `split` writes, bit for bit; the `--code numpy`
program runs as written and reproduces the framework's recorded outputs."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL

from grutool.readers import open_source

TOLERANCE = 1e-5


def _fixture_files() -> list[Path]:
    suffixes = {".ckpt", ".safetensors", ".npz", ".h5", ".keras", ".onnx", ".pt", ".msgpack"}
    found = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.name in ("reference.npz", "pickled_module.pt") or "hostile" in path.parts:
            continue  # pickled_module.pt is refused on purpose (it holds code)
        if path.suffix == ".index":  # a TF checkpoint: its prefix
            found.append(path.with_suffix(""))
        elif path.suffix in suffixes and path.is_file() and path.name != "checkpoint":
            found.append(path)
    return found


def _marks(path: Path) -> list:
    return {".pt": [pytest.mark.torch], ".onnx": [pytest.mark.onnx],
            ".msgpack": [pytest.mark.flax]}.get(path.suffix, [])


FILES = [pytest.param(path, id=str(path.relative_to(FIXTURES)), marks=_marks(path))
         for path in _fixture_files()]


def _apply(raw: np.ndarray, where: dict) -> np.ndarray:
    """The contract's rule, written out here independently of grutool.where."""
    index = tuple(item if isinstance(item, int) else slice(item[0], item[1])
                  for item in where["index"])
    assert len(index) == raw.ndim
    part = raw[index]
    if where["reshape"] is not None:
        part = part.reshape(where["reshape"])
    return part.T if where["transpose"] else part


@pytest.mark.parametrize("path", FILES)
def test_where_applied_to_the_raw_tensor_is_the_split_array(run, run_json, tmp_path, path):
    result, report = run_json("explain", path)
    if result.exit_code == 1:
        pytest.skip("no GRU cell in this fixture")  # e.g. an LSTM-only or dense-only file
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "split.npz"
    assert run("split", path, "--out", out).exit_code == 0
    with np.load(out, allow_pickle=False) as data:
        split = {key: data[key] for key in data.files if key != "__grutool__"}
    checked = 0
    with open_source(path) as source:
        for cell in report["cells"]:
            assert set(cell["where"]) == {key.rsplit("/", 1)[1] for key in split
                                          if key.rsplit("/", 1)[0] == cell["name"]}
            for name, where in cell["where"].items():
                array = _apply(source.read(where["tensor"]), where)
                expected = split[f"{cell['name']}/{name}"]
                assert array.dtype == expected.dtype and array.shape == expected.shape
                assert array.tobytes() == np.ascontiguousarray(expected).tobytes(), (cell["name"], name)
                checked += 1
    assert checked >= 6  # six matrices at least; a bias-free cell has no more


def test_explain_prints_the_tf0x_slices_readably_at_80_columns(run):
    result = run("explain", TF_GRU_CELL / "tf0x_names", "--cell", "RNN/MultiRNNCell/Cell0/GRUCell")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "    W_ir = Gates/Linear/Matrix[0:3, 0:4]" in lines
    assert "    W_hz = Gates/Linear/Matrix[3:7, 4:8]" in lines
    assert "    W_hn = Candidate/Linear/Matrix[3:7, 0:4]" in lines
    assert "  n  = tanh(x @ W_in + b_in + (r * h) @ W_hn)" in lines
    assert "  b_hr = b_hz = b_hn = 0 (absent in this file)" in lines
    assert max(len(line) for line in lines) <= 80


def _run_steps(program: Path, x: np.ndarray, reverse: bool = False) -> np.ndarray:
    """Drive the program's `step` over a time-major input, as the framework's layer does."""
    namespace = runpy.run_path(str(program))
    step = namespace["step"]
    h = np.zeros((x.shape[1], namespace["W_hn"].shape[0]), dtype=np.float64)
    outputs = np.empty((x.shape[0], x.shape[1], h.shape[1]))
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in order:
        h = step(x[t].astype(np.float64), h)
        outputs[t] = h
    return outputs


CODE_CASES = [
    pytest.param(TF_GRU_CELL / "single", "rnn/gru_cell", TF_GRU_CELL / "single" / "reference.npz",
                 "x", "outputs/rnn/gru_cell", False, id="tf1-gru-cell"),
    pytest.param(FIXTURES / "pytorch" / "gru_nobias.safetensors", "l0",
                 FIXTURES / "pytorch" / "reference.npz", "x", "gru_nobias/y", False,
                 id="nn.GRU"),
    pytest.param(FIXTURES / "keras" / "k3_reset_after" / "model.keras", "layers/gru/cell",
                 FIXTURES / "keras" / "k3_reset_after" / "reference.npz", "input/gru",
                 "output/gru", True, id="keras-reset-after"),
    pytest.param(FIXTURES / "keras" / "k3_reset_before" / "model.weights.h5", "layers/gru/cell",
                 FIXTURES / "keras" / "k3_reset_before" / "reference.npz", "input/gru",
                 "output/gru", True, id="keras-reset-before"),
    pytest.param(FIXTURES / "onnx" / "forward_lbr0.onnx", "gru",
                 FIXTURES / "onnx" / "reference.npz", "x", "forward_lbr0/y", False,
                 id="onnx-gru", marks=[pytest.mark.onnx]),
]


@pytest.mark.parametrize("path, cell, reference, x_key, y_key, batch_major", CODE_CASES)
def test_code_numpy_runs_and_reproduces_the_framework(run, tmp_path, path, cell, reference,
                                                      x_key, y_key, batch_major):
    result = run("explain", path, "--cell", cell, "--code", "numpy")
    assert result.exit_code == 0, result.stderr
    program = tmp_path / "gru_step.py"
    program.write_text(result.stdout)
    with np.load(reference, allow_pickle=False) as data:
        x, expected = data[x_key], data[y_key]
    if batch_major:
        x, expected = x.transpose(1, 0, 2), expected.transpose(1, 0, 2)
    got = _run_steps(program, x)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= TOLERANCE


def test_explain_json_has_the_contract_fields(run_json):
    result, report = run_json("explain", TF_GRU_CELL / "stack2")
    assert result.exit_code == 0
    assert set(report) >= {"path", "format", "cells"}
    (first, second) = report["cells"]
    assert [first["name"], second["name"]] == ["encoder/rnn/multi_rnn_cell/cell_0/gru_cell",
                                               "encoder/rnn/multi_rnn_cell/cell_1/gru_cell"]
    assert set(second) >= {"name", "layout", "reset_after", "activation",
                           "recurrent_activation", "equations", "where"}
    assert "b_hr" not in second["where"]  # absent biases are absent
    assert second["where"]["W_hr"] == {
        "tensor": "encoder/rnn/multi_rnn_cell/cell_1/gru_cell/gates/kernel",
        "index": [[4, 8], [0, 4]], "reshape": None, "transpose": False}
    json.dumps(report)


def test_unknown_cell_is_a_usage_error(run):
    result = run("explain", TF_GRU_CELL / "single", "--cell", "nope")
    assert result.exit_code == 2 and "no cell named 'nope'" in result.stderr
