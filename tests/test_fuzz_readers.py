"""Property: whatever bytes a reader is given, it either reads them or raises a GrutoolError.

Each reader gets a real fixture with bytes flipped, overwritten, cut or inserted at offsets
Hypothesis chooses; every cell's canonical arrays and every tensor are then read. Any other
exception type, or a hang (an alarm after a few seconds), fails. Derandomized, so that CI
sees the same examples every run; CI runs six times as many as a local run (the `ci` and
`dev` settings profiles of tests/conftest.py).
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import grutool
from grutool.errors import GrutoolError

TF_SINGLE = FIXTURES / "tf_gru_cell" / "single"
EXAMPLE_SECONDS = 10
# The number of examples is the settings profile's (tests/conftest.py): 300 under CI, 50 in
# a local run.
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

mutation = st.tuples(st.sampled_from(["flip", "overwrite", "truncate", "insert"]),
                     st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8))
mutations = st.lists(mutation, min_size=1, max_size=3)


def mutate(data: bytes, changes: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, payload in changes:
        if not out:
            break
        offset = int(where * len(out))
        if kind == "flip":
            out[offset] ^= payload[0] or 1
        elif kind == "overwrite":
            out[offset:offset + len(payload)] = payload
        elif kind == "truncate":
            del out[offset:]
        else:
            out[offset:offset] = payload
    return bytes(out)


class Hang(Exception):
    """An example ran past its alarm."""


def _alarm(signum, frame):
    raise Hang(f"a reader ran for more than {EXAMPLE_SECONDS}s")


def read_everything(path: Path | str) -> None:
    """Open `path` as the CLI would and read every cell's arrays and every tensor."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(EXAMPLE_SECONDS)
    try:
        with grutool.open_checkpoint(path) as checkpoint:
            for cell in checkpoint.cells:
                checkpoint.canonical(cell)
            for info in checkpoint.source.tensors():
                if info.dtype not in ("string", "object", "resource", "variant"):
                    checkpoint.source.read(info.name)
    except GrutoolError:
        pass
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


SCRATCH = Path(tempfile.mkdtemp(prefix="grutool-fuzz-"))


@pytest.fixture(scope="module", autouse=True)
def _scratch():
    """One folder for the module's examples: a folder made and removed per example costs
    more than the read on some file systems."""
    yield
    shutil.rmtree(SCRATCH, ignore_errors=True)


def write_fresh(path: Path, data: bytes) -> None:
    """`path` holds `data`, as a new file (not truncated and rewritten in place)."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def check_mutated_file(base: bytes, name: str, changes) -> None:
    path = SCRATCH / name
    write_fresh(path, mutate(base, changes))
    read_everything(path)


def h5_bytes() -> bytes:
    pytest.importorskip("h5py")
    import h5py

    with grutool.open_checkpoint(TF_SINGLE / "model.ckpt") as checkpoint:
        arrays = grutool.api.split_arrays(checkpoint)
    path = SCRATCH / "base.h5"
    with h5py.File(path, "w") as handle:
        for key, array in arrays.items():
            handle.create_dataset(key, data=array)
    return path.read_bytes()


@given(changes=mutations, in_index=st.booleans())
@FUZZ
def test_tf_bundle(changes, in_index):
    folder = SCRATCH / "tf_bundle"
    folder.mkdir(exist_ok=True)
    target = "model.ckpt.index" if in_index else "model.ckpt.data-00000-of-00001"
    for source in TF_SINGLE.glob("model.ckpt.*"):
        data = source.read_bytes()
        write_fresh(folder / source.name, mutate(data, changes) if source.name == target else data)
    read_everything(folder / "model.ckpt")


@given(changes=mutations)
@FUZZ
def test_npz(changes):
    check_mutated_file((FIXTURES / "flax" / "rnn_gru_dotted.npz").read_bytes(), "w.npz", changes)


H5 = None


@given(changes=mutations)
@FUZZ
def test_hdf5(changes):
    global H5
    if H5 is None:
        H5 = h5_bytes()
    check_mutated_file(H5, "w.h5", changes)


@given(changes=mutations)
@FUZZ
def test_safetensors(changes):
    check_mutated_file((FIXTURES / "pytorch" / "gru_bidir_2layer.safetensors").read_bytes(),
                       "w.safetensors", changes)


@pytest.mark.torch
@given(changes=mutations, legacy=st.booleans())
@FUZZ
def test_pytorch(changes, legacy):
    pytest.importorskip("torch")
    name = "gru_cell_legacy.pt" if legacy else "gru_cell.pt"
    check_mutated_file((FIXTURES / "pytorch" / name).read_bytes(), "w.pt", changes)


@pytest.mark.onnx
@given(changes=mutations)
@FUZZ
def test_onnx(changes):
    pytest.importorskip("onnx")
    check_mutated_file((FIXTURES / "onnx" / "forward_lbr0.onnx").read_bytes(), "w.onnx", changes)


@given(changes=mutations)
@FUZZ
def test_flax_msgpack(changes):
    pytest.importorskip("msgpack")
    check_mutated_file((FIXTURES / "flax" / "rnn_gru.msgpack").read_bytes(), "w.msgpack",
                       changes)


KERAS = None


@given(changes=mutations, member=st.sampled_from(["archive", "config.json",
                                                   "model.weights.h5"]))
@FUZZ
def test_keras_archive(changes, member):
    """Damage the archive itself, or one member inside an intact archive."""
    global KERAS
    if KERAS is None:
        config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "GRU", "config": {"name": "gru", "units": 4, "reset_after": False}}]}}
        KERAS = {"config.json": json.dumps(config).encode(), "model.weights.h5": h5_bytes(),
                 "metadata.json": b'{"keras_version": "3.0.0"}'}
    members = dict(KERAS)
    if member != "archive":
        members[member] = mutate(members[member], changes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), payload)
    data = buffer.getvalue()
    check_mutated_file(data, "w.keras", changes if member == "archive" else [])


def test_mutate_changes_the_bytes():
    """The fuzzing is not vacuous: each mutation kind changes the file."""
    base = bytes(range(64))
    for kind in ("flip", "overwrite", "truncate", "insert"):
        assert mutate(base, [(kind, 0.5, b"\xaa")]) != base
    assert np.frombuffer(mutate(base, [("truncate", 0.25, b"x")]), np.uint8).size == 16


PT_BASE = FIXTURES / "pytorch" / "gru_bidir_2layer.pt"


@given(changes=mutations, in_pickle=st.booleans())
# Found by CI: a member name no longer UTF-8, a local header naming another member.
@example(changes=[("flip", 0.234375, b"\x80")], in_pickle=False)
@FUZZ
def test_pytorch_zip_at_a_url(changes, in_pickle):
    """A torch.save zip at a URL is read by grutool's restricted unpickler (torch_pickle), not
    torch.load: its data.pkl mutated inside a valid zip, or the whole archive mutated."""
    import fsspec

    if in_pickle:
        buffer = io.BytesIO()
        with zipfile.ZipFile(PT_BASE) as source, zipfile.ZipFile(buffer, "w") as target:
            for info in source.infolist():
                data = source.read(info)
                target.writestr(info, mutate(data, changes) if info.filename.endswith("data.pkl")
                                else data)
        data = buffer.getvalue()
    else:
        data = mutate(PT_BASE.read_bytes(), changes)
    fsspec.filesystem("memory").pipe("/fuzz/w.pt", data)
    read_everything("memory://fuzz/w.pt")
