"""A zip member read in place, as a seekable file object (h5py reads a `.keras` archive's
`model.weights.h5` through one), never copied whole into memory or onto the disk.

* A stored member (what Keras writes) is a byte range of the archive: reads are `pread`s at
  its offset. Its CRC-32 is checked once, at open, in a pass that keeps one block at a time.
* A deflated member cannot be read from the middle, and `zipfile` seeks backwards by
  inflating again from the start (an HDF5 file read that way took 3.5 s for 100 MB, most of
  it re-inflating). Here one pass at open inflates the member, checks its CRC-32 and its
  declared size, and keeps a checkpoint of the inflater every SPACING output bytes (zlib's
  state, about 40 KB, and where its input resumes: the method of zlib's `zran.c`). A read
  then inflates at most one block from the checkpoint before it, keeping the last block for
  the next read. Memory: at most MAX_CHECKPOINTS checkpoints and one block.

Either way a member is never inflated beyond the size it declares.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from ..errors import CorruptFileError

# The handle is a local file or a `RemoteFile` (a URL): both read at an offset.
from ..remote import RemoteFile, SeekableReader, file_size, pread, pread_into, read_range_into

READ_BYTES = 2**20
MIN_SPACING = 4 * 2**20
MAX_CHECKPOINTS = 256
# A stored member at a URL larger than this is not read whole for its CRC-32 at open.
REMOTE_CRC_LIMIT = 16 * 2**20
LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
LOCAL_SIGNATURE = 0x04034B50


def open_member(path: Path, member: zipfile.ZipInfo) -> io.RawIOBase:
    """A read-only, seekable file object over `member` of the archive at `path`."""
    handle = path.open("rb", buffering=0)
    try:
        start = _data_offset(handle, member, path)
        if member.compress_type == zipfile.ZIP_STORED:
            reader: io.RawIOBase = StoredMember(handle, start, member, path)
        elif member.compress_type == zipfile.ZIP_DEFLATED:
            reader = DeflatedMember(handle, start, member, path)
        else:
            raise CorruptFileError(f"{member.filename} is compressed with method "
                                   f"{member.compress_type}, which grutool does not read", path)
    except BaseException:
        handle.close()
        raise
    return reader


def _data_offset(handle, member: zipfile.ZipInfo, path: Path) -> int:
    """Where the member's data starts: after its local header, whose name and extra field
    lengths may differ from the central directory's."""
    # Exactly the 30 bytes: at a URL a block around them would fetch the member's data too.
    header = bytearray(LOCAL_HEADER.size)
    if read_range_into(handle, memoryview(header), member.header_offset) < LOCAL_HEADER.size \
            or LOCAL_HEADER.unpack(header)[0] != LOCAL_SIGNATURE:
        raise CorruptFileError(f"the local header of {member.filename} is damaged", path)
    fields = LOCAL_HEADER.unpack(header)
    start = member.header_offset + LOCAL_HEADER.size + fields[9] + fields[10]
    if start + member.compress_size > file_size(handle):
        raise CorruptFileError(f"{member.filename} runs past the end of the archive", path)
    return start




class _Member(SeekableReader):
    def __init__(self, handle, member: zipfile.ZipInfo, path: Path):
        super().__init__(member.file_size)
        self._handle, self._member, self._path = handle, member, path

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()

    def _corrupt(self, what: str) -> CorruptFileError:
        return CorruptFileError(f"{self._member.filename} {what}", self._path)


class StoredMember(_Member):
    def __init__(self, handle, start: int, member: zipfile.ZipInfo, path: Path):
        super().__init__(handle, member, path)
        self._start = start
        if member.compress_size != member.file_size:
            raise self._corrupt(f"is stored but declares {member.compress_size} bytes stored "
                                f"for {member.file_size}")
        if isinstance(handle, RemoteFile) and self._size > REMOTE_CRC_LIMIT:
            # At a URL the CRC pass would fetch the whole member to read a few tensors of it;
            # the format inside (HDF5) checks its own structure, and a short read is an error.
            return
        crc, buffer = 0, bytearray(READ_BYTES)
        for offset in range(0, self._size, READ_BYTES):
            view = memoryview(buffer)[:min(READ_BYTES, self._size - offset)]
            if pread_into(handle, view, start + offset) != len(view):
                raise self._corrupt("is truncated")
            crc = zlib.crc32(view, crc)
        if crc != member.CRC:
            raise self._corrupt("fails its CRC-32 check; the archive is damaged")

    def readinto(self, target) -> int:
        view = memoryview(target).cast("B")
        count = max(0, min(len(view), self._size - self._position))
        done = pread_into(self._handle, view[:count], self._start + self._position)
        self._position += done
        return done


class DeflatedMember(_Member):
    def __init__(self, handle, start: int, member: zipfile.ZipInfo, path: Path):
        super().__init__(handle, member, path)
        self._end = start + member.compress_size
        self._spacing = max(MIN_SPACING, -(-self._size // MAX_CHECKPOINTS))
        # Per block k: (where the input resumes, input already read but not used, inflater).
        # (zlib._Decompress is the type stubs' name for an inflater; this annotation is never evaluated.)
        self._checkpoints: list[tuple[int, bytes, zlib._Decompress]] = []
        self._block: tuple[int, bytes] = (-1, b"")
        self._index(start)

    def _index(self, start: int) -> None:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        position, pending, produced, crc = start, b"", 0, 0
        self._checkpoints.append((position, pending, inflater.copy()))
        while not inflater.eof:
            if not pending:
                if position >= self._end:
                    raise self._corrupt("is truncated: its deflate stream ends early")
                pending = pread(self._handle, min(READ_BYTES, self._end - position), position)
                if not pending:
                    raise self._corrupt("runs past the end of the archive")
                position += len(pending)
            boundary = len(self._checkpoints) * self._spacing
            try:
                out = inflater.decompress(pending, boundary - produced)
            except zlib.error as exc:
                raise self._corrupt(f"is not a valid deflate stream ({exc})") from exc
            pending = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
            crc = zlib.crc32(out, crc)
            produced += len(out)
            if produced > self._size:
                raise self._corrupt(f"inflates beyond its declared {self._size} bytes")
            if produced == boundary and not inflater.eof:
                self._checkpoints.append((position, pending, inflater.copy()))
        if produced != self._size:
            raise self._corrupt(f"inflates to {produced} bytes, not the {self._size} it declares")
        if crc != self._member.CRC:
            raise self._corrupt("fails its CRC-32 check; the archive is damaged")

    def _inflate_block(self, index: int) -> bytes:
        if self._block[0] == index:
            return self._block[1]
        position, pending, state = self._checkpoints[index]
        inflater = state.copy()
        wanted = min(self._spacing, self._size - index * self._spacing)
        parts, produced = [], 0
        while produced < wanted:
            if not pending:
                pending = pread(self._handle, min(READ_BYTES, self._end - position), position)
                if not pending:
                    raise self._corrupt("changed since it was opened")
                position += len(pending)
            out = inflater.decompress(pending, wanted - produced)
            pending = inflater.unconsumed_tail
            parts.append(out)
            produced += len(out)
            if inflater.eof and produced < wanted:
                raise self._corrupt("changed since it was opened")
        self._block = (index, b"".join(parts))
        return self._block[1]

    def readinto(self, target) -> int:
        view = memoryview(target).cast("B")
        done = 0
        while done < len(view) and self._position < self._size:
            index = self._position // self._spacing
            block = self._inflate_block(index)
            offset = self._position - index * self._spacing
            count = min(len(view) - done, len(block) - offset)
            view[done:done + count] = block[offset:offset + count]
            done += count
            self._position += count
        return done
