"""NumPy `.npz` archives, read without ever unpickling.

A zip of `.npy` members. Each member's header is parsed for shape and dtype at open time;
object arrays (which would need pickle) are listed as dtype "object" and refused on read.
"""

from __future__ import annotations

import io
import math
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import CorruptFileError, InputError
from ..tensors import TensorInfo, TensorSource
from .zip_safety import DAMAGED_ZIP_ERRORS, check_zip_members, open_zip

FORMAT = "npz"
ZIP_MAGIC = b"PK\x03\x04"


def matches(path: Path, head: bytes) -> bool:
    if not head.startswith(ZIP_MAGIC):
        return path.suffix.lower() == ".npz" and path.is_file()
    if path.suffix.lower() == ".npz":
        return True
    try:
        with open_zip(path) as archive:
            names = archive.namelist()
    except (*DAMAGED_ZIP_ERRORS, OSError):
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


class NpzSource(TensorSource):
    def __init__(self, path: Path):
        super().__init__(path=path, format=FORMAT, files=[path])
        self._handle: BinaryIO | None = None
        try:
            self._zip = open_zip(path)
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
            # name -> (member, bytes of its .npy header, dtype, Fortran order)
            self._layout: dict[str, tuple[zipfile.ZipInfo, int, np.dtype, bool]] = {}
            for member in members:
                if not member.filename.endswith(".npy"):
                    continue
                name = member.filename[: -len(".npy")]
                with self._zip.open(member) as handle:
                    shape, dtype, fortran = _read_npy_header(handle, path, member.filename)
                    header_bytes = handle.tell()
                    _check_declared_size(header_bytes, shape, dtype.name if not dtype.hasobject
                                         else "object", member, path)
                self._members[name] = member.filename
                self._layout[name] = (member, header_bytes, dtype, fortran)
                self.infos[name] = TensorInfo(name, shape, "object" if dtype.hasobject else dtype.name)
        except DAMAGED_ZIP_ERRORS as exc:
            raise CorruptFileError(f"not a valid .npz (zip) archive: {exc}", path) from exc
        except OSError as exc:
            raise InputError(f"cannot read the archive: {exc}", path) from exc

    def _read(self, name: str) -> np.ndarray:
        info = self.infos[name]
        if info.dtype == "object":
            raise InputError(f"{name!r} holds Python objects, which grutool never unpickles",
                             self.path)
        member, header_bytes, dtype, fortran = self._layout[name]
        shape = info.shape[::-1] if fortran else info.shape
        # Read straight into the array returned: a stored member from its bytes in the
        # archive, its CRC-32 computed block by block on the way; a compressed one through
        # zipfile, which inflates and checks it.
        array = np.empty(shape, dtype=dtype)
        target = array.reshape(-1).view(np.uint8).data if array.size else memoryview(b"")
        try:
            if member.compress_type == zipfile.ZIP_STORED:
                self._read_stored(name, member, header_bytes, target)
            else:
                with self._zip.open(member) as handle:
                    handle.read(header_bytes)
                    _fill(handle, target, name, self.path)
                    if handle.read(1):
                        raise CorruptFileError(f"array {name!r} holds more bytes than its "
                                               "header declares", self.path)
        except (*DAMAGED_ZIP_ERRORS, OSError) as exc:
            raise CorruptFileError(f"cannot read array {name!r}: {exc}", self.path) from exc
        return array.T if fortran else array

    def _read_stored(self, name: str, member: zipfile.ZipInfo, header_bytes: int,
                     target: memoryview) -> None:
        from ..remote import pread, read_range_into
        from .zip_member import _data_offset

        if self._handle is None:
            self._handle = self.path.open("rb", buffering=0)
        start = _data_offset(self._handle, member, self.path)
        crc = zlib.crc32(pread(self._handle, header_bytes, start))
        position = start + header_bytes
        for offset in range(0, len(target), READ_BLOCK_BYTES):
            block = target[offset:offset + READ_BLOCK_BYTES]
            if read_range_into(self._handle, block, position + offset) != len(block):
                raise CorruptFileError(f"array {name!r} is truncated", self.path)
            crc = zlib.crc32(block, crc)
        if crc != member.CRC:
            raise CorruptFileError(f"array {name!r} fails its CRC-32 check; the archive is "
                                   "damaged", self.path)

    def close(self) -> None:
        self._zip.close()
        if self._handle is not None:
            self._handle.close()
            self._handle = None


READ_BLOCK_BYTES = 4 * 2**20


def _fill(handle, target: memoryview, name: str, path: Path) -> None:
    done = 0
    while done < len(target):
        count = handle.readinto(target[done:done + READ_BLOCK_BYTES])
        if not count:
            raise CorruptFileError(f"array {name!r} is truncated", path)
        done += count


# The header NumPy's own writer makes (numpy.lib.format), a dict literal of three keys in this
# order: "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 4), }", then spaces and a
# newline. Matched by this pattern, it is read without ast.literal_eval, which took 0.1 ms a
# member: most of the time of listing an archive of many small arrays. Any other header
# (another writer's spelling, a structured or datetime dtype) goes through NumPy's reader.
_PLAIN_HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[A-Za-z]\d*)', 'fortran_order': (True|False), "
    rb"'shape': \(((?:(?:0|[1-9]\d*), )*(?:0|[1-9]\d*),?)?\), \} *\n?")
# NumPy's own bound on a header's length (its `max_header_size`): a longer one is refused
# before it is read.
MAX_HEADER_BYTES = 10000


def _read_npy_header(handle, path: Path, member: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, Fortran order) of a member's .npy header; `handle` is left at the
    member's first data byte."""
    try:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown .npy version {version}")
        length_format = "<H" if version == (1, 0) else "<I"  # 2 or 4 bytes
        length_bytes = handle.read(struct.calcsize(length_format))
        try:
            (length,) = struct.unpack(length_format, length_bytes)
        except struct.error:
            raise EOFError("the header's length is cut off") from None
        if length > MAX_HEADER_BYTES:
            raise ValueError(f"a header of {length} bytes is too large to be read safely "
                             f"(NumPy reads at most {MAX_HEADER_BYTES})")
        header = handle.read(length)
        plain = _PLAIN_HEADER.fullmatch(header)
        if plain is not None:
            descr, fortran, dims = plain.groups()
            try:
                dtype = np.dtype(descr.decode("ascii"))
            except TypeError:
                dtype = None  # not a dtype: NumPy's reader says so in its words
            if dtype is not None:
                shape = tuple(int(n) for n in dims.split(b",") if n.strip()) if dims else ()
                return shape, dtype, fortran == b"True"
        # NumPy's reader, over the same bytes.
        again = io.BytesIO(np.lib.format.magic(*version) + length_bytes + header)
        np.lib.format.read_magic(again)
        reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = reader(again, max_header_size=MAX_HEADER_BYTES)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise CorruptFileError(f"member {member} is not a valid .npy array: {exc}", path) from exc
    return tuple(int(n) for n in shape), dtype, bool(fortran)


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
