"""What `inspect` shows beyond the statistics: shapes without reading weights, the arrays a
cell does not have, every tensor and which cell read it, one cell, and what a file without a
GRU holds instead (an LSTM, a simple RNN)."""

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL

SINGLE = TF_GRU_CELL / "single" / "model.ckpt"
STACK = TF_GRU_CELL / "stack2" / "model.ckpt"
PT_BIDI = FIXTURES / "pytorch" / "gru_bidir_2layer.safetensors"
PT_NOBIAS = FIXTURES / "pytorch" / "gru_nobias.safetensors"
CELL = "rnn/gru_cell"


def test_no_stats_shows_names_and_shapes_and_reads_no_weight(run, run_json, monkeypatch):
    from grutool.tensors import TensorSource

    def no_reading(self, name):
        raise AssertionError(f"read {name}")

    monkeypatch.setattr(TensorSource, "read", no_reading)
    result, report = run_json("inspect", SINGLE, "--no-stats")
    assert result.exit_code == 0
    gates = report["cells"][0]["gates"]
    assert gates == {"W_ir": {"shape": [3, 4]}, "W_iz": {"shape": [3, 4]},
                     "W_in": {"shape": [3, 4]}, "W_hr": {"shape": [4, 4]},
                     "W_hz": {"shape": [4, 4]}, "W_hn": {"shape": [4, 4]},
                     "b_ir": {"shape": [4]}, "b_iz": {"shape": [4]}, "b_in": {"shape": [4]}}
    rows = [line.split("│")[1:3] for line in run("inspect", SINGLE, "--no-stats").stdout.splitlines()
            if line.startswith("│ W_") or line.startswith("│ b_")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["W_ir", "3×4"], ["W_iz", "3×4"], ["W_in", "3×4"], ["W_hr", "4×4"], ["W_hz", "4×4"],
        ["W_hn", "4×4"], ["b_ir", "4"], ["b_iz", "4"], ["b_in", "4"]]


@pytest.mark.parametrize("path", [SINGLE, PT_BIDI, PT_NOBIAS,
                                  FIXTURES / "keras" / "k3_reset_before" / "model.keras",
                                  FIXTURES / "tf_other_cells" / "cudnn_compatible"])
def test_shapes_without_reading_are_the_shapes_read(run_json, path):
    _, shapes = run_json("inspect", path, "--no-stats")
    _, stats = run_json("inspect", path)
    assert [{name: gate["shape"] for name, gate in cell["gates"].items()}
            for cell in shapes["cells"]] == [
        {name: gate["shape"] for name, gate in cell["gates"].items()} for cell in stats["cells"]]
    assert [c["absent"] for c in shapes["cells"]] == [c["absent"] for c in stats["cells"]]


def test_the_arrays_a_cell_does_not_have_are_named(run, run_json):
    _, report = run_json("inspect", SINGLE)
    assert report["cells"][0]["absent"] == ["b_hr", "b_hz", "b_hn"]
    assert "absent (zero): b_hr b_hz b_hn" in run("inspect", SINGLE).stdout.splitlines()
    _, bidi = run_json("inspect", PT_BIDI)
    assert all(cell["absent"] == [] for cell in bidi["cells"])
    assert "absent" not in run("inspect", PT_BIDI).stdout
    _, nobias = run_json("inspect", PT_NOBIAS, "--no-stats")
    assert nobias["cells"][0]["absent"] == ["b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn"]


def test_all_lists_every_tensor_and_the_cell_that_read_it(run, run_json):
    _, report = run_json("inspect", SINGLE, "--no-stats")
    readers = {t["name"]: t["cells"] for t in report["tensors"]}
    assert readers["rnn/gru_cell/gates/kernel"] == [CELL]
    assert readers["rnn/gru_cell/gates/kernel/Adam"] == []  # an optimizer slot, no cell's
    result = run("inspect", SINGLE, "--all", "--no-stats")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    start = lines.index(f"Tensors ({len(readers)} tensors, 4 read by GRU cells)")
    listing = [line.split() for line in lines[start + 1:start + 1 + len(readers) + 2]]
    # Under each cell's name, its tensors relative to it; then what no cell read, in full.
    assert listing[0] == [f"{CELL}:"]
    assert sorted(row[0] for row in listing[1:5]) == [
        "candidate/bias", "candidate/kernel", "gates/bias", "gates/kernel"]
    assert listing[5] == ["read", "by", "no", "cell:"]
    assert sorted(row[0] for row in listing[6:]) == sorted(
        name for name, cells in readers.items() if not cells)
    assert ["gates/kernel", "7×8", "float32"] in listing
    assert "Tensors (" not in run("inspect", SINGLE, "--no-stats").stdout  # only when asked


def test_cell_shows_one_cell(run, run_json):
    name = "encoder/rnn/multi_rnn_cell/cell_1/gru_cell"
    result, report = run_json("inspect", STACK, "--cell", name)
    assert result.exit_code == 0
    assert [c["name"] for c in report["cells"]] == [name]
    assert [m["name"] for m in report["modules"]] == ["encoder/rnn/multi_rnn_cell"]
    assert report["cells_in_file"] == 2
    text = run("inspect", STACK, "--cell", name).stdout
    assert f"Found   2 GRU cells in 1 module\nShowing {name}\n" in text
    assert "cell_0/gru_cell  (layer" not in text and f"{name}  (layer 1, forward)" in text
    wrong = run("inspect", STACK, "--cell", "cell_9")
    assert wrong.exit_code == 2 and "encoder/rnn/multi_rnn_cell/cell_0/gru_cell" in wrong.stderr


# --- not a GRU ------------------------------------------------------------------------------

def _npz(path, shapes):
    np.savez(path, **{name: np.zeros(shape, np.float32) for name, shape in shapes.items()})
    return path


LSTMS = {
    "keras": {"lstm/kernel": (3, 16), "lstm/recurrent_kernel": (4, 16), "lstm/bias": (16,)},
    "keras3": {"layers/lstm/cell/vars/0": (3, 16), "layers/lstm/cell/vars/1": (4, 16),
               "layers/lstm/cell/vars/2": (16,)},
    "torch": {"encoder.weight_ih_l0": (16, 3), "encoder.weight_hh_l0": (16, 4),
              "encoder.bias_ih_l0": (16,), "encoder.bias_hh_l0": (16,)},
    "tf1": {"rnn/lstm_cell/kernel": (7, 16), "rnn/lstm_cell/bias": (16,)},
    "onnx": {"W": (1, 16, 3), "R": (1, 16, 4), "B": (1, 32)},
}


@pytest.mark.parametrize("flavour", LSTMS)
def test_an_lstm_is_named_instead_of_only_no_gru(run, run_json, tmp_path, flavour):
    path = _npz(tmp_path / "lstm.npz", LSTMS[flavour])
    result, report = run_json("inspect", path)
    assert result.exit_code == 1 and report["ok"] is False
    (layer,) = report["other_recurrent"]
    assert layer["kind"] == "LSTM" and layer["hidden_size"] == 4
    assert "LSTM" in report["error"] and "not a GRU" in report["error"]
    (line,) = result.stderr.splitlines()
    assert line == f"grutool: {report['error']}"
    assert "LSTM" in run("inspect", path).stdout
    check = run("check", path)
    assert check.exit_code == 1 and "LSTM" in check.stdout
    split = run("split", path, "--out", tmp_path / "w.npz")
    assert split.exit_code == 1 and "LSTM" in split.stderr


def test_a_simple_rnn_and_plain_dense_layers(tmp_path):
    from grutool.other_recurrent import find_other_recurrent, no_gru_sentence
    from grutool.tensors import TensorInfo

    def infos(shapes):
        return [TensorInfo(name, shape, "float32") for name, shape in shapes.items()]

    (rnn,) = find_other_recurrent(infos({"rnn.weight_ih_l0": (8, 3), "rnn.weight_hh_l0": (8, 8)}))
    assert (rnn.kind, rnn.scope, rnn.hidden_size) == ("simple RNN", "rnn", 8)
    assert no_gru_sentence([rnn]) == "the file holds a simple RNN at rnn (8 units), not a GRU"
    dense = infos({"dense/kernel": (16, 64), "dense_1/kernel": (64, 64), "conv/kernel": (3, 3, 1, 8),
                   "embedding/embeddings": (100, 16)})
    assert find_other_recurrent(dense) == []
    assert no_gru_sentence([]) is None


def test_a_real_torch_lstm(run_json, tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "lstm.pt"
    torch.save(torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True).state_dict(), path)
    result, report = run_json("inspect", path)
    assert result.exit_code == 1
    (layer,) = report["other_recurrent"]
    assert layer["kind"] == "LSTM" and layer["hidden_size"] == 5 and len(layer["tensors"]) == 4
