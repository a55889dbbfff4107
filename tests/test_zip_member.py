"""A `.keras` archive's weights member is read in place (grutool.readers.zip_member): stored
or deflated, any read at any offset gives the member's bytes, a damaged member is a one-line
error, and nothing is copied to a temporary file."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

from grutool.errors import CorruptFileError
from grutool.readers import zip_member
from grutool.readers.zip_member import open_member


def _archive(tmp_path: Path, data: bytes, method: int) -> Path:
    path = tmp_path / f"member-{method}.zip"
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("first.json", b"{}")
        archive.writestr("model.weights.h5", data)
    return path


SPACING = 2**16  # the inflater's checkpoint spacing in these tests: the member spans several


@pytest.fixture(scope="module")
def data() -> bytes:
    rng = np.random.default_rng(0)
    # compressible and not: zeros, then noise, so blocks inflate at different ratios
    return bytes(3 * SPACING) + rng.integers(0, 256, 6 * SPACING + 12345, np.uint8).tobytes()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_every_read_gives_the_members_bytes(tmp_path, monkeypatch, data, method):
    monkeypatch.setattr(zip_member, "MIN_SPACING", SPACING)  # several blocks
    path = _archive(tmp_path, data, method)
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("model.weights.h5")
    rng = np.random.default_rng(1)
    with open_member(path, member) as handle:
        assert handle.read() == data
        for _ in range(100):  # backwards, forwards, across blocks, past the end
            start = int(rng.integers(0, len(data) + 10))
            size = int(rng.integers(0, 3 * SPACING))
            handle.seek(start)
            assert handle.read(size) == data[start:start + size]
            assert handle.tell() == min(start + size, len(data)) or start > len(data)
        handle.seek(-5, 2)
        assert handle.read() == data[-5:]


def _damage(path: Path, where: str) -> None:
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("model.weights.h5")
    start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    if where == "data":
        raw[start + member.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_damaged_member_is_refused(tmp_path, data, method):
    path = _archive(tmp_path, data, method)
    _damage(path, "data")
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("model.weights.h5")
    with pytest.raises(CorruptFileError, match="model.weights.h5"):
        open_member(path, member)


def test_a_member_that_inflates_beyond_its_declared_size_is_refused(tmp_path, data):
    path = _archive(tmp_path, data, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("model.weights.h5")
    member.file_size = len(data) // 2  # what a hostile central directory would say
    with pytest.raises(CorruptFileError, match="inflates beyond its declared"):
        open_member(path, member)


def test_a_keras_archive_reads_without_a_temporary_file(tmp_path, monkeypatch):
    import grutool

    source = FIXTURES / "keras" / "k3_stacked" / "model.keras"
    deflated = tmp_path / "deflated.keras"
    with zipfile.ZipFile(source) as original, \
            zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as copy:
        for item in original.infolist():
            copy.writestr(item.filename, original.read(item))

    def no_temporary_files(*args, **kwargs):
        raise AssertionError("a temporary file was made")

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", no_temporary_files)
    monkeypatch.setattr(tempfile, "TemporaryFile", no_temporary_files)
    results = []
    for path in (source, deflated):
        with grutool.open_checkpoint(path) as checkpoint:
            results.append({cell.name: {k: v.copy() for k, v in checkpoint.canonical(cell).items()}
                            for cell in checkpoint.cells})
    assert results[0].keys() == results[1].keys() and results[0]
    for name, weights in results[0].items():
        for key, array in weights.items():
            np.testing.assert_array_equal(array, results[1][name][key])
