"""NumPy `.npz` archives, read without ever unpickling.

A zip of `.npy` members. Each member's header is parsed for shape and dtype at open time;
object arrays (which would need pickle) are listed as dtype "object" and refused on read.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, InputError
from ..tensors import TensorInfo, TensorSource
from .zip_safety import DAMAGED_ZIP_ERRORS, check_zip_members

FORMAT = "npz"
ZIP_MAGIC = b"PK\x03\x04"


def matches(path: Path, head: bytes) -> bool:
    if not head.startswith(ZIP_MAGIC):
        return path.suffix.lower() == ".npz" and path.is_file()
    if path.suffix.lower() == ".npz":
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (*DAMAGED_ZIP_ERRORS, OSError):
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


class NpzSource(TensorSource):
    def __init__(self, path: Path):
        super().__init__(path=path, format=FORMAT, files=[path])
        try:
            self._zip = zipfile.ZipFile(path)
        except DAMAGED_ZIP_ERRORS as exc:
            raise CorruptFileError(f"not a valid .npz (zip) archive: {exc}", path) from exc
        except OSError as exc:
            raise InputError(f"cannot read the archive: {exc}", path) from exc
        try:
            self._list_members()
        except BaseException:
            self._zip.close()
            raise

    def _list_members(self) -> None:
        path = self.path
        try:
            members = check_zip_members(self._zip, path)
            self._members: dict[str, str] = {}
            for member in members:
                if not member.filename.endswith(".npy"):
                    continue
                name = member.filename[: -len(".npy")]
                with self._zip.open(member) as handle:
                    shape, dtype = _read_npy_header(handle, path, member.filename)
                    _check_declared_size(handle.tell(), shape, dtype, member, path)
                self._members[name] = member.filename
                self.infos[name] = TensorInfo(name, shape, dtype)
        except DAMAGED_ZIP_ERRORS as exc:
            raise CorruptFileError(f"not a valid .npz (zip) archive: {exc}", path) from exc
        except OSError as exc:
            raise InputError(f"cannot read the archive: {exc}", path) from exc

    def _read(self, name: str) -> np.ndarray:
        info = self.infos[name]
        if info.dtype == "object":
            raise InputError(f"{name!r} holds Python objects, which grutool never unpickles",
                             self.path)
        try:
            with self._zip.open(self._members[name]) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
        except (*DAMAGED_ZIP_ERRORS, OSError) as exc:
            raise CorruptFileError(f"cannot read array {name!r}: {exc}", self.path) from exc

    def close(self) -> None:
        self._zip.close()


def _read_npy_header(handle, path: Path, member: str) -> tuple[tuple[int, ...], str]:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise CorruptFileError(f"member {member} is not a valid .npy array: {exc}", path) from exc
    name = "object" if dtype.hasobject else dtype.name
    return tuple(int(n) for n in shape), name


def _check_declared_size(header_bytes: int, shape: tuple[int, ...], dtype: str,
                         member: zipfile.ZipInfo, path: Path) -> None:
    """A header's shape must match the member's size, so that a shape of 2^40 x 2^40 over a
    few bytes is refused before anything is allocated for it."""
    if dtype == "object":
        return  # pickled: no fixed size, and never read anyway
    expected = header_bytes + math.prod(shape) * _itemsize(dtype)
    if expected != member.file_size:
        raise CorruptFileError(f"member {member.filename} declares shape {list(shape)} "
                               f"({expected} bytes) but holds {member.file_size} bytes", path)


def _itemsize(dtype_name: str) -> int:
    # numpy names fixed-width text by its width in bits ("str66144"), which np.dtype cannot parse
    if dtype_name.startswith("str"):
        return int(dtype_name[3:]) // 8
    if dtype_name.startswith("bytes"):
        return int(dtype_name[5:]) // 8
    return np.dtype(dtype_name).itemsize


def open(path: Path) -> NpzSource:  # noqa: A001 - the reader protocol's name
    return NpzSource(path)
