"""The LevelDB-style table of a TensorFlow checkpoint: a V2 bundle's `.index`, or a whole V1 file.

Data blocks of prefix-compressed (key, value) entries, each block followed by its compression
type and a masked crc32c; a restart array ends each block; an index block maps a separator key
to each data block's handle; a 48-byte footer at the end locates the index block. Every block
is checked against the table's length and its crc32c before an entry of it is read.
"""

from __future__ import annotations

import bisect
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import CorruptFileError
from .protobuf_wire import WireError, decode_varint

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
NO_COMPRESSION, SNAPPY_COMPRESSION = 0, 1


def _crc32c_module():
    """The crc32c package's C extension, loaded without the package's `__init__`, which imports
    importlib.metadata (about 10 ms, a twentieth of a whole `grutool inspect`) only to learn
    its own version. Falls back to the plain import wherever that shortcut does not apply."""
    if "crc32c" not in sys.modules:
        try:
            package = importlib.util.find_spec("crc32c")
            spec = importlib.machinery.PathFinder.find_spec(
                "crc32c._crc32c", package.submodule_search_locations) if package else None
            if spec is not None and isinstance(spec.loader,
                                               importlib.machinery.ExtensionFileLoader):
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module
        except (ImportError, AttributeError, TypeError, OSError):
            pass
    import crc32c

    return crc32c


crc32c = _crc32c_module()


class BuiltinUnsupported(Exception):
    """The checkpoint is valid but uses something this reader does not handle."""


def masked_crc32c(data) -> int:
    return mask_crc(crc32c.crc32c(data))


def mask_crc(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


class Table:
    """A LevelDB-style table in `data` (bytes, or an mmap of a V1 file read lazily)."""

    def __init__(self, data, path: Path):
        self.data, self.path = data, path
        if len(data) < FOOTER_SIZE:
            raise CorruptFileError(f"too short for a checkpoint table ({len(data)} bytes)", path)
        footer = data[len(data) - FOOTER_SIZE:]
        if int.from_bytes(footer[-8:], "little") != TABLE_MAGIC:
            raise CorruptFileError("not a checkpoint table: the footer's magic number is wrong",
                                   path)
        try:
            _metaindex_offset, pos = decode_varint(footer, 0)
            _metaindex_size, pos = decode_varint(footer, pos)
            index_offset, pos = decode_varint(footer, pos)
            index_size, pos = decode_varint(footer, pos)
        except WireError as exc:
            raise CorruptFileError(f"the table footer is damaged: {exc}", path) from exc
        if pos > FOOTER_SIZE - 8:
            raise CorruptFileError("the table footer is damaged: its block handles overflow it",
                                   path)
        index_block = _block(data, index_offset, index_size, "index", path)
        # (last key of the data block or a key between it and the next, handle of the block)
        self.index: list[tuple[bytes, tuple[int, int]]] = []
        for separator, handle in _block_entries(index_block, "index", path):
            try:
                offset, pos = decode_varint(handle, 0)
                size, _ = decode_varint(handle, pos)
            except WireError as exc:
                raise CorruptFileError(f"a block handle in the index block is damaged: {exc}",
                                       path) from exc
            self.index.append((bytes(separator), (offset, size)))
        self._separators = [separator for separator, _ in self.index]

    def entries(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value), in key order."""
        for _separator, (offset, size) in self.index:
            yield from _block_entries(_block(self.data, offset, size, "data", self.path), "data",
                                      self.path)

    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, reading only the one data block that may hold it."""
        position = bisect.bisect_left(self._separators, key)
        if position == len(self.index):
            return None
        offset, size = self.index[position][1]
        block = _block(self.data, offset, size, "data", self.path)
        for entry_key, value in _block_entries(block, "data", self.path):
            if entry_key == key:
                return value
        return None


def _block(data: bytes, offset: int, size: int, kind: str, path: Path) -> bytes:
    end = offset + size + BLOCK_TRAILER_SIZE
    if end > len(data) - FOOTER_SIZE:
        raise CorruptFileError(f"the {kind} block at offset {offset} (size {size}) runs past "
                               "the end of the table; the file is truncated or damaged", path)
    contents = data[offset:offset + size]
    compression = data[offset + size]
    stored_crc = int.from_bytes(data[offset + size + 1:end], "little")
    if masked_crc32c(data[offset:offset + size + 1]) != stored_crc:
        raise CorruptFileError(f"the {kind} block at offset {offset} fails its crc32c check",
                               path)
    if compression == SNAPPY_COMPRESSION:
        raise BuiltinUnsupported(f"{path.name}: the table's blocks are snappy-compressed")
    if compression != NO_COMPRESSION:
        raise CorruptFileError(f"the {kind} block at offset {offset} has unknown compression "
                               f"type {compression}", path)
    return contents


def _block_entries(block: bytes, kind: str, path: Path) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise CorruptFileError(f"a {kind} block is too short to hold its restart array", path)
    num_restarts = int.from_bytes(block[-4:], "little")
    entries_end = len(block) - 4 - 4 * num_restarts
    if num_restarts == 0 or entries_end < 0:
        raise CorruptFileError(f"a {kind} block has a damaged restart array", path)
    key = b""
    pos = 0
    try:
        while pos < entries_end:
            shared, pos = decode_varint(block, pos)
            unshared, pos = decode_varint(block, pos)
            value_size, pos = decode_varint(block, pos)
            if shared > len(key) or pos + unshared + value_size > entries_end:
                raise WireError("an entry overruns the block")
            key = key[:shared] + block[pos:pos + unshared]
            pos += unshared
            yield key, block[pos:pos + value_size]
            pos += value_size
    except WireError as exc:
        raise CorruptFileError(f"a {kind} block is damaged: {exc}", path) from exc
