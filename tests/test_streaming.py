"""`split` and `convert` write one cell at a time, into a temporary file renamed into place
only when complete (and, for `convert`, proved): what they write reads back as the arrays
themselves, an error or an interruption anywhere leaves nothing behind, and the memory they
hold is about one cell, whatever the number of cells."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

import grutool
from grutool.errors import InputError, VerificationError
from grutool.writers import H5Writer, NpzWriter, SafetensorsWriter, array_writer

STACK = FIXTURES / "tf_gru_cell" / "stack2"
SUFFIXES = [".npz", ".h5", ".safetensors"]


def _canonical(path: Path) -> dict[str, np.ndarray]:
    with grutool.open_checkpoint(path) as checkpoint:
        return {f"{cell.name}/{name}": array.copy() for cell in checkpoint.cells
                for name, array in checkpoint.canonical(cell).items()}


def _read_any(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The file's arrays and metadata, read by each format's own library."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        return arrays, json.loads(str(arrays.pop("__grutool__")))
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path) as handle:
            arrays = {}
            handle.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                              if isinstance(item, h5py.Dataset) else None)
            return arrays, json.loads(handle.attrs["__grutool__"])
    from safetensors import safe_open

    with safe_open(str(path), "np") as handle:
        return ({name: handle.get_tensor(name) for name in handle.keys()},
                json.loads(handle.metadata()["__grutool__"]))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_split_reads_back_as_the_arrays(tmp_path, suffix):
    out = tmp_path / f"w{suffix}"
    grutool.split(STACK, out)
    arrays, metadata = _read_any(out)
    expected = _canonical(STACK)
    assert list(arrays) == list(expected) or set(arrays) == set(expected)
    for name, array in expected.items():
        assert arrays[name].dtype == array.dtype
        np.testing.assert_array_equal(arrays[name], array)
    assert list(metadata["cells"]) == ["encoder/rnn/multi_rnn_cell/cell_0/gru_cell",
                                       "encoder/rnn/multi_rnn_cell/cell_1/gru_cell"]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("writer", [NpzWriter, H5Writer, SafetensorsWriter])
def test_views_dtypes_and_a_short_header_hint(tmp_path, writer):
    """Arrays of every layout (a column block, a transpose, a 0-d value), and for
    safetensors a header that outgrows the space reserved for it (the data moves once)."""
    rng = np.random.default_rng(0)
    fused = rng.standard_normal((70, 90)).astype(np.float32)
    arrays = {"block": fused[:, 30:60], "transposed": fused.T, "ints": np.arange(7),
              "empty": np.zeros((0, 3), np.float16), "scalar": np.float64(2.5) * np.ones(()),
              **{f"long/name/{'x' * 40}/{k}": fused[k] for k in range(60)}}
    suffix = writer.SUFFIX
    out = tmp_path / f"w{suffix}"
    with array_writer(out, hint=0) as stream:
        for name, array in arrays.items():
            stream.add(name, array)
        stream.finish({"note": "y" * 5000})
    read, metadata = _read_any(out)
    assert metadata == {"note": "y" * 5000}
    for name, array in arrays.items():
        np.testing.assert_array_equal(read[name], array)
        assert read[name].shape == array.shape and read[name].dtype == array.dtype


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_metadata_of_a_finished_file_can_be_replaced(tmp_path, suffix):
    out = tmp_path / f"w{suffix}"
    grutool.split(STACK, out)
    before, metadata = _read_any(out)
    metadata["verification"] = {"ok": True, "note": "z" * 20000}  # longer than before
    writer = {".npz": NpzWriter, ".h5": H5Writer, ".safetensors": SafetensorsWriter}[suffix]
    writer.replace_metadata(out, metadata)
    after, replaced = _read_any(out)
    assert replaced == metadata
    assert after.keys() == before.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
    if suffix == ".npz":
        with zipfile.ZipFile(out) as archive:
            names = archive.namelist()
            assert len(names) == len(set(names)) and archive.testzip() is None


class Interrupted(Exception):
    pass


def _fail_after(monkeypatch, count: int, error: BaseException) -> None:
    """Checkpoint.read_weights raises `error` once `count` cells have been read."""
    original = grutool.Checkpoint.read_weights
    calls = {"n": 0}

    def reading(self, cell):
        calls["n"] += 1
        if calls["n"] > count:
            raise error
        return original(self, cell)

    monkeypatch.setattr(grutool.Checkpoint, "read_weights", reading)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("error", [InputError("damaged", "x"), KeyboardInterrupt()])
def test_a_split_that_fails_midway_leaves_nothing(tmp_path, monkeypatch, suffix, error):
    _fail_after(monkeypatch, 1, error)
    with pytest.raises(type(error)):
        grutool.split(STACK, tmp_path / f"w{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target, suffix", [("keras", ".npz"), ("keras", ".h5"),
                                            ("tf", ".safetensors"), ("onnx", ".onnx")])
@pytest.mark.parametrize("after", [1, 2, 3])
def test_a_conversion_that_fails_midway_leaves_nothing(tmp_path, monkeypatch, target, suffix,
                                                       after):
    """`after` 1: while writing; 2 and 3: while proving (the source is read again)."""
    if target == "onnx":
        pytest.importorskip("onnx")
    _fail_after(monkeypatch, after, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        grutool.convert_file(STACK, target, tmp_path / f"out{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target, suffix", [("keras", ".safetensors"), ("onnx", ".onnx")])
def test_a_failed_proof_leaves_nothing(tmp_path, monkeypatch, target, suffix):
    if target == "onnx":
        pytest.importorskip("onnx")
    from grutool import families

    original = families.to_canonical

    def wrong(cell, read):  # the written file reads back with one gate negated
        weights = original(cell, read)
        if cell.layout != "tf-gru-cell":
            weights = {**weights, "W_hn": -weights["W_hn"]}
        return weights

    monkeypatch.setattr(families, "to_canonical", wrong)
    with pytest.raises(VerificationError, match="outputs differ"):
        grutool.convert_file(STACK, target, tmp_path / f"out{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_a_conversion_records_its_proof_in_the_file(tmp_path):
    out = tmp_path / "k.safetensors"
    conversion = grutool.convert_file(STACK, "keras", out)
    _, metadata = _read_any(out)
    assert metadata["verification"]["ok"] is True
    assert metadata["verification"]["max_abs_error"] == conversion.verification.max_abs_error
    assert conversion.keys == [f"{cell}/{key}" for cell in metadata["cells"]
                               for key in ("kernel", "recurrent_kernel", "bias")]


# --- memory ---------------------------------------------------------------------------------

CELLS, UNITS = 12, 256  # one cell: 6 x 256 x 256 float32 = 1.5 MiB of weights


@pytest.fixture(scope="module")
def many_big_cells(tmp_path_factory) -> Path:
    """A 12-layer nn.GRU state dict (.safetensors): 18 MiB of weights."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    arrays = {}
    for k in range(CELLS):
        for kind, columns in (("ih", UNITS), ("hh", UNITS)):
            arrays[f"gru.weight_{kind}_l{k}"] = rng.uniform(-0.06, 0.06, (3 * UNITS, columns)).astype(np.float32)
            arrays[f"gru.bias_{kind}_l{k}"] = rng.uniform(-0.06, 0.06, 3 * UNITS).astype(np.float32)
    path = tmp_path_factory.mktemp("big") / "gru.safetensors"
    save_file(arrays, str(path))
    return path


def _peak_mib(action) -> float:
    """NumPy's allocations are traced by tracemalloc: the peak of what `action` holds."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


CELL_MIB = 6 * UNITS * UNITS * 4 / 2**20


@pytest.mark.parametrize("what", ["inspect", "split", "convert", "verify"])
def test_memory_holds_a_few_cells_not_the_file(tmp_path, many_big_cells, what):
    source = many_big_cells
    out = tmp_path / "out.npz"
    if what == "verify":
        grutool.convert_file(source, "keras", out)

    def action():
        if what == "inspect":
            with grutool.open_checkpoint(source) as checkpoint:
                grutool.inspect_report(checkpoint)
        elif what == "split":
            grutool.split(source, out)
        elif what == "convert":
            grutool.convert_file(source, "keras", out)
        else:
            assert grutool.verify_files(source, out).ok

    peak = _peak_mib(action)
    # The whole file is 12 cells; one cell's source, its target copy and the check's own
    # copies of its recurrent matrices make about 4.
    assert peak < 5 * CELL_MIB, f"{what} held {peak:.1f} MiB, one cell is {CELL_MIB:.1f} MiB"
