"""The .npy header of each `.npz` member: grutool reads NumPy's own spelling of it with a
pattern (much faster than ast.literal_eval) and anything else with NumPy's reader. Either way
the result must be NumPy's, and the member's data must start where NumPy says it does."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from grutool.errors import CorruptFileError
from grutool.readers import npz
from grutool.readers.npz import _read_npy_header

DTYPES = ["<f4", ">f8", "<f2", "|b1", "<i8", ">u2", "|i1", "<c8", "<U5", "|S3", "|V4", "|O",
          "<M8[ns]", [("a", "<f4"), ("b", ">i2")]]
SHAPES = [(), (0,), (3,), (2, 3), (1, 2, 3, 4), (10, 1)]


def _numpy_reads(data: bytes) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    handle = io.BytesIO(data)
    version = np.lib.format.read_magic(handle)
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = reader(handle)
    return tuple(shape), dtype, bool(fortran), handle.tell()


def _grutool_reads(data: bytes) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    handle = io.BytesIO(data)
    shape, dtype, fortran = _read_npy_header(handle, Path("x.npz"), "a.npy")
    return shape, dtype, fortran, handle.tell()


def _written(array: np.ndarray, version: tuple[int, int] | None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize("version", [None, (1, 0), (2, 0), (3, 0)])
def test_every_header_numpy_writes_reads_as_numpy_reads_it(version):
    checked = 0
    for descr in DTYPES:
        dtype = np.dtype(descr)
        for shape in SHAPES:
            for order in "CF":
                array = np.zeros(shape, dtype=dtype, order=order)
                if dtype.hasobject:  # the header only: write_array would pickle the data
                    header = {"descr": np.lib.format.dtype_to_descr(dtype),
                              "fortran_order": order == "F" and array.ndim > 1, "shape": shape}
                    buffer = io.BytesIO()
                    np.lib.format.write_array_header_1_0(buffer, header)
                    data = buffer.getvalue()
                else:
                    data = _written(array, version)
                got, expected = _grutool_reads(data), _numpy_reads(data)
                assert got == expected, (descr, shape, order, data[:128])
                assert isinstance(got[1], np.dtype) and all(type(n) is int for n in got[0])
                checked += 1
    assert checked == len(DTYPES) * len(SHAPES) * 2


def _v1(header: bytes) -> bytes:
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\x00" * 8


@pytest.mark.parametrize("header", [
    b"{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 1)}\n",  # double quotes
    b"{'shape': (2, 1), 'fortran_order': False, 'descr': '<f4'}\n",  # another key order
    b"{'descr':'<f4','fortran_order':True,'shape':(2,1)}",  # no spaces, no newline
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }    \n",  # NumPy's own
])
def test_a_header_spelt_otherwise_is_read_as_numpy_reads_it(header):
    data = _v1(header)
    assert _grutool_reads(data) == _numpy_reads(data)


@pytest.mark.parametrize("header, words", [
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (012,), }\n", "not a valid .npy"),
    (b"{'descr': '<q9', 'fortran_order': False, 'shape': (2,), }\n", "descr"),
    (b"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }\n", "fortran_order"),
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n", "keys"),
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n" + b" " * 10_000, "too large"),
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), __import__('os')}\n", "valid"),
])
def test_a_header_numpy_refuses_is_a_one_line_error(header, words):
    with pytest.raises(CorruptFileError) as caught:
        _grutool_reads(_v1(header))
    message = caught.value.one_line()
    assert "a.npy" in message and words in message and "\n" not in message


def test_a_cut_length_field_is_an_error():
    with pytest.raises(CorruptFileError, match="cut off"):
        _grutool_reads(b"\x93NUMPY\x02\x00\x10\x00")


def test_an_archive_of_many_arrays_lists_them_all(tmp_path):
    """2,000 members, each header read by the pattern: names, shapes and dtypes as saved."""
    arrays = {f"cell{k}/W_{'ir' if k % 2 else 'hn'}": np.zeros((k % 5 + 1, 3), "<f4" if k % 3
                                                                 else ">f8")
              for k in range(2000)}
    path = tmp_path / "many.npz"
    np.savez(path, **arrays)
    with npz.NpzSource(path) as source:
        listed = {info.name: (info.shape, info.dtype) for info in source.tensors()}
        assert listed == {name: (a.shape, a.dtype.name) for name, a in arrays.items()}
        assert np.array_equal(source.read("cell7/W_ir"), arrays["cell7/W_ir"])
