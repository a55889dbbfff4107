"""Flax linen GRUCell parameters written by real Flax (tests/fixtures/flax, made by
make_flax_fixtures.py in a virtualenv with flax and jax): grutool decodes Flax's msgpack
without Flax, finds the cells, and the NumPy GRU run on the split file alone reproduces
Flax's outputs. The .msgpack files need `msgpack` (the flax extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from split_checks import TOLERANCE, load_generator, max_error, split_and_run

import grutool
from grutool.cells import FORWARD, REVERSE
from grutool.errors import CorruptFileError, MissingExtraError

FIXTURES = Path(__file__).parent / "fixtures" / "flax"
GENERATOR = Path(__file__).parent / "fixtures" / "make_flax_fixtures.py"
INPUT, HIDDEN = 3, 4
# Flax gives ir, iz, in, hn a bias and hr, hz none: b_hr, b_hz are absent (zero).
PARTS = {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in", "b_hn"}
DENSES = ["ir/kernel", "ir/bias", "iz/kernel", "iz/bias", "in/kernel", "in/bias",
          "hr/kernel", "hz/kernel", "hn/kernel", "hn/bias"]

# file -> (reference key, module, {cell: direction}, separator)
EXPECTED = {
    "rnn_gru.msgpack": ("rnn_gru", "params/cell", {"params/cell": FORWARD}, "/"),
    "bidirectional_gru.msgpack": ("bidirectional_gru", "params/encoder", {
        "params/encoder/forward_rnn/cell": FORWARD,
        "params/encoder/backward_rnn/cell": REVERSE}, "/"),
    "rnn_gru_dotted.npz": ("rnn_gru", "params.cell", {"params.cell": FORWARD}, "."),
    "nnx_bidirectional_gru.msgpack": ("nnx_bidirectional_gru", "encoder", {
        "encoder/forward_rnn/cell": FORWARD, "encoder/backward_rnn/cell": REVERSE}, "/"),
}
# flax.nnx.GRUCell: two fused Linear layers, a bias only on the input side.
NNX_PARTS = {"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in"}
NNX_TENSORS = ["dense_i/kernel", "dense_i/bias", "dense_h/kernel"]


def check(file: str, directory: Path, out: Path) -> float:
    key, module, cells, sep = EXPECTED[file]
    with np.load(directory / "reference.npz", allow_pickle=False) as npz:
        x, expected = npz["x"], npz[f"{key}/y"]
    outputs, arrays, metadata = split_and_run(directory / file, out, x)
    assert set(outputs) == {module}
    assert set(metadata["cells"]) == set(cells)
    for name, direction in cells.items():
        fields = metadata["cells"][name]
        assert (fields["module"], fields["layer"], fields["direction"]) == (module, 0, direction)
        assert (fields["input_size"], fields["hidden_size"]) == (INPUT, HIDDEN)
        assert fields["layout"] == "flax-gru" and fields["reset_after"] is True
        nnx = file.startswith("nnx")
        tensors, parts = (NNX_TENSORS, NNX_PARTS) if nnx else (DENSES, PARTS)
        assert fields["source_tensors"] == [name + sep + t.replace("/", sep) for t in tensors]
        assert fields["variant"] == ("flax.nnx.GRUCell" if nnx else "flax.linen.GRUCell")
        assert {k for k in arrays if k.startswith(name + "/")} == {f"{name}/{p}" for p in parts}
    error = max_error(outputs[module], expected)
    assert error <= TOLERANCE, (file, error)
    return error


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_committed_fixture_splits_to_flax_outputs(file: str, tmp_path: Path) -> None:
    if file.endswith(".msgpack"):
        pytest.importorskip("msgpack")
    check(file, FIXTURES, tmp_path / "w.npz")


def test_msgpack_missing_is_a_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgpack", None)
    with pytest.raises(MissingExtraError) as raised:
        grutool.open_checkpoint(FIXTURES / "rnn_gru.msgpack")
    assert raised.value.extra == "flax"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_a_map", "short_array"])
def test_damaged_msgpack_is_a_corrupt_file(damage: str, tmp_path: Path) -> None:
    msgpack = pytest.importorskip("msgpack")
    good = (FIXTURES / "rnn_gru.msgpack").read_bytes()
    data = {
        "truncate": good[: len(good) // 2],
        "garbage": b"\xc1" * 16,
        "not_a_map": msgpack.packb([1, 2, 3]),
        # an ndarray entry whose bytes do not fill its shape
        "short_array": msgpack.packb({"a": msgpack.ExtType(1, msgpack.packb(
            ((2, 2), "float32", b"\0" * 8), use_bin_type=True))}),
    }[damage]
    path = tmp_path / "bad.msgpack"
    path.write_bytes(data)
    with pytest.raises(CorruptFileError):
        grutool.open_checkpoint(path)


def test_object_dtypes_are_refused(tmp_path: Path) -> None:
    msgpack = pytest.importorskip("msgpack")
    path = tmp_path / "objects.msgpack"
    path.write_bytes(msgpack.packb({"a": msgpack.ExtType(1, msgpack.packb(
        ((1,), "object", b"\0" * 8), use_bin_type=True))}))
    with pytest.raises(CorruptFileError, match="not numeric"):
        grutool.open_checkpoint(path)


def test_live_flax_fixtures_match(tmp_path: Path) -> None:
    """Make the fixtures afresh with an installed Flax (skipped where there is none)."""
    pytest.importorskip("flax")
    load_generator(GENERATOR).main(tmp_path)
    for file in EXPECTED:
        check(file, tmp_path, tmp_path / f"{file}.npz")
