"""Structure is part of the function: model order, merge, stacks and directions survive a
conversion and are part of every comparison (`verify`, `diff`, `check --match`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL

import grutool
from grutool.cells import FORWARD, REVERSE, GruCell, GruModule, structure_difference
from grutool.gru import run_cell, run_module

PT_BIDI = FIXTURES / "pytorch" / "gru_bidir_2layer.safetensors"
TF_BIDI = TF_GRU_CELL / "bidi"


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads(str(arrays["__grutool__"]))


def _save_npz(path: Path, arrays: dict[str, np.ndarray], metadata: dict | None) -> None:
    arrays = {key: value for key, value in arrays.items() if key != "__grutool__"}
    if metadata is not None:
        arrays["__grutool__"] = np.array(json.dumps(metadata))
    np.savez(path, **arrays)


def test_a_bidirectional_stack_converted_to_keras_reads_back_as_one_module(run, run_json,
                                                                          tmp_path):
    out = tmp_path / "keras.npz"
    assert run("convert", PT_BIDI, "--to", "keras", "--out", out).exit_code == 0
    result, report = run_json("inspect", out, "--no-stats")
    assert result.exit_code == 0
    (module,) = report["modules"]
    assert (module["num_layers"], module["bidirectional"], module["merge"]) == (2, True, "concat")
    assert module["cells"] == ["gru.l0", "gru.l0_reverse", "gru.l1", "gru.l1_reverse"]
    result = run("verify", PT_BIDI, out)
    assert result.exit_code == 0, result.stderr
    assert "Same functions" in result.stdout


def test_verify_refuses_a_copy_whose_structure_was_lost(run, tmp_path):
    """Without its metadata, the Keras copy of a 2-layer bidirectional GRU is four lone
    forward cells: the same matrices, a different function."""
    out = tmp_path / "keras.npz"
    assert run("convert", PT_BIDI, "--to", "keras", "--out", out).exit_code == 0
    arrays, _ = _load_npz(out)
    bare = tmp_path / "bare.npz"
    _save_npz(bare, arrays, None)
    result = run("verify", PT_BIDI, bare)
    assert result.exit_code == 1
    assert "different numbers of GRU modules: 1 (4 cells) vs 4 (4 cells)" in result.stderr


@pytest.mark.parametrize("edit, words", [
    (lambda m: m["modules"][0].update(merge="sum"), "merges its directions by concat and"),
    (lambda m: m["cells"]["gru.l1"].update(layer=0, target_name="gru.l1"),
     "layer 0 of gru runs forward + reverse and of gru forward + forward + reverse"),
    (lambda m: m["cells"]["gru.l0_reverse"].update(direction="forward"),
     "runs forward + reverse and of gru forward"),
    (lambda m: m["cells"]["gru.l0"].update(activation="relu"), "activation tanh vs relu"),
])
def test_verify_names_each_structural_difference(run, tmp_path, edit, words):
    out = tmp_path / "keras.npz"
    assert run("convert", PT_BIDI, "--to", "keras", "--out", out).exit_code == 0
    arrays, metadata = _load_npz(out)
    edit(metadata)
    changed = tmp_path / "changed.npz"
    _save_npz(changed, arrays, metadata)
    result = run("verify", PT_BIDI, changed)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert words in line
    assert run("diff", PT_BIDI, changed).exit_code == 1
    assert run("check", PT_BIDI, "--match", changed).exit_code == 1


def test_sum_merge_is_part_of_the_function():
    """The reference runs a merge as Keras does: one module with `sum` is not the same
    function as the same cells concatenated."""
    rng = np.random.default_rng(3)
    weights = {}
    cells = []
    for direction in (FORWARD, REVERSE):
        name = f"c_{direction}"
        cells.append(GruCell(name, "m", 0, direction, "keras-gru", 3, 4, True, "float32", []))
        weights[name] = {key: rng.uniform(-0.5, 0.5, (3 if key.startswith("W_i") else 4, 4)
                                          if key.startswith("W") else (4,))
                         for key in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn",
                                     "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")}
    x = rng.uniform(-2, 2, (5, 2, 3))
    forward = run_cell(weights["c_forward"], x, True)
    backward = run_cell(weights["c_reverse"], x, True, reverse=True)
    summed = run_module(GruModule("m", cells, merge="sum"), weights, x)
    np.testing.assert_allclose(summed, forward + backward)
    assert run_module(GruModule("m", cells, merge="concat"), weights, x).shape == (5, 2, 8)
    averaged = run_module(GruModule("m", cells, merge="ave"), weights, x)
    np.testing.assert_allclose(averaged, (forward + backward) / 2)
    assert structure_difference(GruModule("m", cells, merge="sum"),
                                GruModule("m", cells, merge="concat")) is not None
    # A merge the file does not state matches any.
    assert structure_difference(GruModule("m", cells, merge=None),
                                GruModule("m", cells, merge="sum")) is None


def test_time_reversed_outputs_come_last_read_first():
    rng = np.random.default_rng(4)
    weights = {key: rng.uniform(-0.5, 0.5, (3 if key.startswith("W_i") else 4, 4))
               for key in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")}
    cell = GruCell("g", "g", 0, REVERSE, "keras-gru", 3, 4, False, "float32", [],
                   outputs_time_reversed=True)
    x = rng.uniform(-2, 2, (6, 2, 3))
    aligned = run_cell(weights, x, False, reverse=True)
    got = run_module(GruModule("g", [cell]), {"g": weights}, x)
    np.testing.assert_array_equal(got, aligned[::-1])
    # Step 0 of the output is the state after reading the last input step first.
    np.testing.assert_array_equal(got[0], run_cell(weights, x[-1:], False)[0])


def test_a_pytorch_target_refuses_a_sum_merge(run, tmp_path):
    out = tmp_path / "tf.npz"
    assert run("split", TF_BIDI, "--out", out).exit_code == 0
    arrays, metadata = _load_npz(out)
    metadata["modules"][0]["merge"] = "sum"
    summed = tmp_path / "summed.npz"
    _save_npz(summed, arrays, metadata)
    with grutool.open_checkpoint(summed) as checkpoint:
        assert checkpoint.modules[0].merge == "sum"
    result = run("convert", summed, "--to", "pytorch", "--allow-inexact",
                 "--out", tmp_path / "pt.safetensors")
    assert result.exit_code == 1
    assert "merges its directions by sum, and nn.GRU only concatenates" in result.stderr
    assert not (tmp_path / "pt.safetensors").exists()
    # The keras target keeps the merge in its metadata, and the copy verifies.
    keras = tmp_path / "k.npz"
    assert run("convert", summed, "--to", "keras", "--out", keras).exit_code == 0
    with grutool.open_checkpoint(keras) as checkpoint:
        assert checkpoint.modules[0].merge == "sum"
    assert run("verify", summed, keras).exit_code == 0


def test_a_cell_of_zero_units_is_a_broken_file(run, tmp_path):
    empty = tmp_path / "zero.safetensors"
    from safetensors.numpy import save_file

    save_file({"gru.weight_ih_l0": np.zeros((0, 4), np.float32),
               "gru.weight_hh_l0": np.zeros((0, 0), np.float32)}, str(empty))
    result = run("inspect", empty)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert str(empty) in line and "gru.l0" in line and "zero" in line


def test_cell_names_are_unique(run_json, tmp_path):
    """A canonical cell and a Keras cell that both call themselves `enc` get two names."""
    rng = np.random.default_rng(5)
    arrays = {f"enc/{name}": rng.normal(size=shape).astype(np.float32)
              for name, shape in [("W_ir", (3, 4)), ("W_iz", (3, 4)), ("W_in", (3, 4)),
                                  ("W_hr", (4, 4)), ("W_hz", (4, 4)), ("W_hn", (4, 4))]}
    arrays.update({"enc/kernel": rng.normal(size=(3, 12)).astype(np.float32),
                   "enc/recurrent_kernel": rng.normal(size=(4, 12)).astype(np.float32),
                   "enc/bias": rng.normal(size=(12,)).astype(np.float32)})
    path = tmp_path / "both.npz"
    np.savez(path, **arrays)
    result, report = run_json("inspect", path, "--no-stats")
    names = [cell["name"] for cell in report["cells"]]
    assert len(names) == 2 and len(set(names)) == 2
    assert any("two cells are named enc" in warning for warning in report["warnings"])
