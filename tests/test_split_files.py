"""grutool's own split files read back: arrays that do not fit and metadata values of the
wrong kind are warned, not crashed on; what a cell says of itself survives the split."""

from __future__ import annotations

import json

import numpy as np
from conftest import KERAS, TF_GRU_CELL

import grutool


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
