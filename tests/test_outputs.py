"""Writing outputs: formats that cannot hold a dtype are refused, a failed write is one
line with exit 2, and outputs get the usual file mode."""

from __future__ import annotations

import os
import stat

import pytest
from conftest import TF_GRU_CELL

import grutool


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
