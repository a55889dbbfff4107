"""TensorFlow checkpoints read without TensorFlow: the V2 "tensor bundle" and the V1 single file.

A V2 checkpoint is `PREFIX.index`, a LevelDB-style table mapping tensor names to
`BundleEntryProto`s, plus `PREFIX.data-0000K-of-0000N` shards holding the raw bytes. A V1
checkpoint (TF <= 0.11, still written by `Saver(write_version=V1)`) is one such table whose
values carry the numbers themselves, as `SavedSlice` protos.

Listing reads the index only. `read(name)` reads the tensor's bytes from the shard that holds
them straight into the array it returns, checking their crc32c block by block as they arrive.
Everything the file says (offsets, sizes, shapes, shard counts) is checked against the real
files before anything is allocated. What is valid but not handled here (snappy blocks,
big-endian bundles, dtypes beyond the list below) raises `BuiltinUnsupported`, so that
`tf_checkpoint.open` can hand the file to TensorFlow.

The index is a LevelDB-style table (`tf_table`) and its protobuf messages are decoded by the
small wire-format reader of `protobuf_wire`, so neither protobuf nor TensorFlow is imported; the
module costs numpy and crc32c only.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptFileError, InputError
from ..remote import read_range_into
from ..tensors import TensorInfo, TensorSource
from .protobuf_wire import (
    WireError,
    decode_fields,
    decode_varint,
    int_field,
    message_field,
    message_fields,
    signed64,
)
from .tf_table import BuiltinUnsupported, Table, crc32c, mask_crc

FORMAT = "tf-checkpoint"
MAX_SHARDS = 99_999  # shard file names carry five digits
MAX_RANK = 64
MAX_ELEMENTS = 1 << 48
# Partitioned variables have a few dozen slices; the tiling check compares slices pairwise.
MAX_SLICES = 4096
# An index or V1 file this large is not a checkpoint index; refuse before reading it into memory.
MAX_TABLE_BYTES = 1 << 31
# The bundle versions this reader understands (tensor_bundle.h: kTensorBundleVersion = 1).
BUNDLE_VERSION = 1
SLICE_KEY_PREFIX = b"\x00"

# DataType enum value -> (dtype name in TensorInfo, numpy dtype string or None).
DATA_TYPES: dict[int, tuple[str, str | None]] = {
    1: ("float32", "<f4"), 2: ("float64", "<f8"), 3: ("int32", "<i4"), 4: ("uint8", "u1"),
    5: ("int16", "<i2"), 6: ("int8", "i1"), 7: ("string", None), 8: ("complex64", "<c8"),
    9: ("int64", "<i8"), 10: ("bool", "?"), 14: ("bfloat16", "<u2"), 17: ("uint16", "<u2"),
    18: ("complex128", "<c16"), 19: ("float16", "<f2"), 20: ("resource", None),
    21: ("variant", None), 22: ("uint32", "<u4"), 23: ("uint64", "<u8"),
}
NOT_NUMBERS = ("resource", "variant")


# --- TensorFlow's shape and slice messages ---------------------------------------------------

def _shape(message: bytes) -> tuple[int, ...]:
    """A TensorShapeProto: repeated `dim` (2) each with `size` (1); `unknown_rank` (3)."""
    fields = decode_fields(message)
    if int_field(fields, 3):
        raise WireError("the shape has unknown rank")
    dims = message_fields(fields, 2)
    if len(dims) > MAX_RANK:
        raise WireError(f"rank {len(dims)} is beyond {MAX_RANK}")
    shape = tuple(signed64(int_field(decode_fields(dim), 1)) for dim in dims)
    if any(size < 0 for size in shape):
        raise WireError(f"the shape {list(shape)} has a negative dimension")
    return shape


def _slice_extents(message: bytes) -> tuple[tuple[int, int | None], ...]:
    """A TensorSliceProto: repeated `extent` (1) of `start` (1) and `length` (2; absent = all)."""
    extents = []
    for extent in message_fields(decode_fields(message), 1):
        fields = decode_fields(extent)
        start = signed64(int_field(fields, 1))
        length = signed64(int_field(fields, 2)) if 2 in fields else None
        extents.append((start, length))
    return tuple(extents)


# --- slice keys -------------------------------------------------------------------------------
# Slices of a partitioned variable are stored under TensorFlow's "OrderedCode" encoding of
# (0, name, rank, start_0, length_0, ...), written by EncodeTensorNameSlice. We only ever need to
# *build* such keys from the slices a full entry lists, never to parse them.

_LENGTH_HEADER = {2: (0xC0, 0), 3: (0xE0, 0), 4: (0xF0, 0), 5: (0xF8, 0), 6: (0xFC, 0),
                  7: (0xFE, 0), 8: (0xFF, 0), 9: (0xFF, 0x80), 10: (0xFF, 0xC0)}


def _ordered_unsigned(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _ordered_signed(value: int) -> bytes:
    magnitude = ~value if value < 0 else value
    if magnitude < 64:
        return bytes([(0x80 ^ value) & 0xFF])
    length = next(n for n in range(2, 11) if magnitude.bit_length() <= 7 * n - 1)
    body = bytearray(value.to_bytes(10, "big", signed=True)[10 - length:])
    body[0] ^= _LENGTH_HEADER[length][0]
    body[1] ^= _LENGTH_HEADER[length][1]
    return bytes(body)


def _ordered_string(text: bytes) -> bytes:
    escaped = re.sub(rb"[\x00\xff]", lambda m: b"\x00\xff" if m.group() == b"\x00" else b"\xff\x00",
                     text)
    return escaped + b"\x00\x01"


def slice_key(name: bytes, extents: tuple[tuple[int, int | None], ...]) -> bytes:
    key = [SLICE_KEY_PREFIX, _ordered_string(name), _ordered_unsigned(len(extents))]
    for start, length in extents:
        key += [_ordered_signed(start), _ordered_signed(-1 if length is None else length)]
    return b"".join(key)


def _slice_box(extents, full_shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(start, stop) per dimension, checked to lie inside `full_shape`."""
    if len(extents) != len(full_shape):
        raise WireError(f"a slice of rank {len(extents)} in a tensor of rank {len(full_shape)}")
    box = []
    for (start, length), size in zip(extents, full_shape, strict=False):
        stop = size if length is None else start + length
        if start < 0 or stop < start or stop > size:
            raise WireError(f"the slice {start}:{stop} lies outside the dimension of {size}")
        box.append((start, stop))
    return tuple(box)


# --- the reader -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    dtype: str
    shape: tuple[int, ...]
    shard: int = 0
    offset: int = 0
    size: int = 0
    crc: int | None = None
    # For a partitioned variable: the slices' boxes and the entries holding their bytes.
    slices: tuple[tuple[tuple[tuple[int, int], ...], _Entry], ...] = ()


def _element_count(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _dtype_of(enum: int, what: str) -> str:
    if enum not in DATA_TYPES:
        raise BuiltinUnsupported(f"{what} has TensorFlow DataType {enum}, which the built-in "
                                 "reader does not know")
    return DATA_TYPES[enum][0]


def _itemsize(dtype: str) -> int | None:
    numpy_dtype = next(np_dtype for name, np_dtype in DATA_TYPES.values() if name == dtype)
    return None if numpy_dtype is None else np.dtype(numpy_dtype).itemsize


def open_bundle(prefix: Path) -> TensorSource:
    """Open the checkpoint at `prefix` (a V2 bundle prefix, or a V1 single file)."""
    index_path = prefix.with_name(prefix.name + ".index")
    if not index_path.is_file() and prefix.is_file():
        return V1CheckpointSource(prefix)
    return TensorBundleSource(prefix)


def _read_table_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if size > MAX_TABLE_BYTES:
                raise CorruptFileError(f"{size} bytes is too large for a checkpoint index", path)
            handle.seek(0)
            return handle.read()
    except FileNotFoundError as exc:
        raise InputError("no such file", path) from exc
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", path) from exc


class TensorBundleSource(TensorSource):
    """A V2 checkpoint: `.index` table plus `.data-*` shards."""

    def __init__(self, prefix: Path):
        self.index_path = prefix.with_name(prefix.name + ".index")
        super().__init__(path=prefix, format=FORMAT, files=[self.index_path])
        self._entries: dict[str, _Entry] = {}
        self._handles: dict[int, Any] = {}  # local files, or RemoteFiles at a URL
        table = _read_table_file(self.index_path)
        header: dict[int, list] | None = None
        plain: list[tuple[str, dict[int, list]]] = []
        slice_entries: dict[bytes, dict[int, list]] = {}
        try:
            for key, value in Table(table, self.index_path).entries():
                if key == b"":
                    header = decode_fields(value)
                elif key.startswith(SLICE_KEY_PREFIX):
                    slice_entries[key] = decode_fields(value)
                else:
                    plain.append((key.decode("utf-8", "surrogateescape"), decode_fields(value)))
        except WireError as exc:
            raise CorruptFileError(f"a tensor entry does not parse: {exc}", self.index_path) from exc
        if header is None:
            raise CorruptFileError("the index has no bundle header (its \"\" entry)",
                                   self.index_path)
        try:
            self.num_shards = self._check_header(header)
        except WireError as exc:
            raise CorruptFileError(f"the bundle header is damaged: {exc}",
                                   self.index_path) from exc
        self.shard_paths = [prefix.with_name(f"{prefix.name}.data-{k:05d}-of-{self.num_shards:05d}")
                            for k in range(self.num_shards)]
        self.files += self.shard_paths
        self._shard_sizes = [self._shard_size(path) for path in self.shard_paths]
        for name, fields in plain:
            try:
                entry = self._entry(name, fields, slice_entries)
            except WireError as exc:
                raise CorruptFileError(f"the entry of {name!r} is damaged: {exc}",
                                       self.index_path) from exc
            self._entries[name] = entry
            self.infos[name] = TensorInfo(name, entry.shape, entry.dtype)

    def _check_header(self, header: dict[int, list]) -> int:
        num_shards = signed64(int_field(header, 1))
        if not 1 <= num_shards <= MAX_SHARDS:
            raise CorruptFileError(f"the bundle header claims {num_shards} shards",
                                   self.index_path)
        if int_field(header, 2) != 0:
            raise BuiltinUnsupported("the checkpoint was written big-endian")
        version = decode_fields(message_field(header, 3))
        if int_field(version, 2) > BUNDLE_VERSION:
            raise BuiltinUnsupported(f"the bundle needs a reader of format version "
                                     f"{int_field(version, 2)} or later")
        return num_shards

    def _shard_size(self, path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError as exc:
            raise InputError(f"the data shard {path.name} of this checkpoint is missing",
                             path) from exc
        except OSError as exc:
            raise InputError(f"cannot read the data shard: {exc.strerror or exc}", path) from exc

    def _entry(self, name: str, fields: dict[int, list],
               slice_entries: dict[bytes, dict[int, list]]) -> _Entry:
        dtype = _dtype_of(int_field(fields, 1), repr(name))
        shape = _shape(message_field(fields, 2))
        if _element_count(shape) > MAX_ELEMENTS:
            raise WireError(f"the shape {list(shape)} is implausibly large")
        slice_messages = message_fields(fields, 7)
        if not slice_messages:
            return self._stored(name, dtype, shape, fields)
        if dtype in ("string",) + NOT_NUMBERS:
            raise BuiltinUnsupported(f"{name!r} is a partitioned {dtype} tensor")
        _check_slice_count(len(slice_messages))
        slices = []
        for message in slice_messages:
            extents = _slice_extents(message)
            box = _slice_box(extents, shape)
            key = slice_key(name.encode("utf-8", "surrogateescape"), extents)
            if key not in slice_entries:
                raise WireError(f"its slice {_box_text(box)} is missing from the index")
            part_fields = slice_entries[key]
            part = self._stored(f"{name}[{_box_text(box)}]", _dtype_of(int_field(part_fields, 1), name),
                                _shape(message_field(part_fields, 2)), part_fields)
            if part.dtype != dtype or part.shape != tuple(stop - start for start, stop in box):
                raise WireError(f"its slice {_box_text(box)} is stored as {part.dtype} "
                                 f"{list(part.shape)}")
            slices.append((box, part))
        _check_tiling(shape, [box for box, _ in slices])
        return _Entry(dtype, shape, slices=tuple(slices))

    def _stored(self, name: str, dtype: str, shape: tuple[int, ...],
                fields: dict[int, list]) -> _Entry:
        shard, offset, size = (signed64(int_field(fields, n)) for n in (3, 4, 5))
        crc = int_field(fields, 6) if 6 in fields else None
        if not 0 <= shard < self.num_shards:
            raise WireError(f"shard {shard} of {self.num_shards}")
        if offset < 0 or size < 0:
            raise WireError(f"a negative offset {offset} or size {size}")
        if offset + size > self._shard_sizes[shard]:
            raise CorruptFileError(f"the shard is truncated: {name!r} needs bytes {offset} to "
                                   f"{offset + size}, the file has {self._shard_sizes[shard]}",
                                   self.shard_paths[shard])
        itemsize = _itemsize(dtype)
        if itemsize is not None and size != _element_count(shape) * itemsize:
            raise WireError(f"{size} bytes for {dtype} {list(shape)}")
        return _Entry(dtype, shape, shard, offset, size, crc)

    # --- reading ---

    def _read(self, name: str) -> np.ndarray:
        entry = self._entries[name]
        if entry.dtype == "string":
            raise InputError(f"{name!r} is a string tensor, not numbers "
                             "(TensorBundleSource.read_strings returns its bytes)", self.path)
        if entry.dtype in NOT_NUMBERS:
            raise InputError(f"{name!r} holds a TensorFlow {entry.dtype}, not numbers", self.path)
        if not entry.slices:
            return self._array(name, entry)
        full = np.empty(entry.shape, dtype=_numpy_dtype(entry.dtype))
        for box, part in entry.slices:
            full[tuple(slice(start, stop) for start, stop in box)] = self._array(name, part)
        return full

    def read_strings(self, name: str) -> list[bytes]:
        """A string tensor's elements, flattened in row-major order."""
        if name not in self._entries or self._entries[name].dtype != "string":
            raise InputError(f"no string tensor named {name!r}", self.path)
        entry = self._entries[name]
        raw = self._bytes(name, entry, check_crc=False)
        try:
            strings = _decode_strings(raw, _element_count(entry.shape), entry.crc)
        except WireError as exc:
            raise CorruptFileError(f"the string tensor {name!r} is damaged: {exc}",
                                   self.shard_paths[entry.shard]) from exc
        return strings

    def _array(self, name: str, entry: _Entry) -> np.ndarray:
        """The tensor read from its shard straight into the array returned (one copy, from
        the page cache), its crc32c computed block by block as the bytes arrive."""
        array = np.empty(entry.shape, dtype=DATA_TYPES_BY_NAME[entry.dtype])
        if array.nbytes != entry.size:  # checked at open time; a guard against a bad dtype table
            raise CorruptFileError(f"{name!r} holds {entry.size} bytes, not {array.nbytes}",
                                   self.shard_paths[entry.shard])
        self._read_into(name, entry, array.reshape(-1).view(np.uint8).data)
        if entry.dtype == "bfloat16":
            import ml_dtypes

            array = array.view(ml_dtypes.bfloat16)
        return array

    def _bytes(self, name: str, entry: _Entry, check_crc: bool = True) -> bytearray:
        """The entry's bytes (a string tensor's encoding)."""
        raw = bytearray(entry.size)
        self._read_into(name, entry, memoryview(raw), check_crc)
        return raw

    def _read_into(self, name: str, entry: _Entry, target: memoryview,
                   check_crc: bool = True) -> None:
        """Fill `target` with the entry's bytes and check their crc32c on the way.

        Read, not mapped: the pages of a map stay in the process's resident memory once
        touched, so mapping the shard would make `inspect`'s memory grow with the file; a
        read leaves them in the page cache only."""
        shard_path = self.shard_paths[entry.shard]
        crc = 0
        if entry.size:
            handle = self._shard(entry.shard)
            position = entry.offset
            for start in range(0, entry.size, READ_BLOCK_BYTES):
                block = target[start:start + READ_BLOCK_BYTES]
                got = 0
                while got < len(block):
                    count = read_range_into(handle, block[got:], position + got)
                    if not count:
                        raise CorruptFileError(f"the data of {name!r} lies beyond the end of the "
                                               "shard; it was truncated", shard_path)
                    got += count
                position += len(block)
                if check_crc:
                    crc = crc32c.crc32c(block, crc)
        if check_crc and entry.crc is not None and mask_crc(crc) != entry.crc:
            raise CorruptFileError(f"the data of {name!r} fails its crc32c check; the shard is "
                                   "damaged", shard_path)

    def _shard(self, shard: int):
        if shard not in self._handles:
            path = self.shard_paths[shard]
            try:
                self._handles[shard] = path.open("rb", buffering=0)
            except FileNotFoundError as exc:
                raise InputError(f"the data shard {path.name} of this checkpoint is missing",
                                 path) from exc
            except OSError as exc:
                raise InputError(f"cannot read the data shard: {exc.strerror or exc}",
                                 path) from exc
        return self._handles[shard]

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


# A tensor is read and checked in blocks of this size, each checked while it is in the cache.
READ_BLOCK_BYTES = 4 * 2**20

DATA_TYPES_BY_NAME = {name: np_dtype for name, np_dtype in DATA_TYPES.values()}


def _numpy_dtype(dtype: str) -> np.dtype:
    if dtype == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(DATA_TYPES_BY_NAME[dtype])


def _decode_strings(raw: bytes | bytearray, count: int, entry_crc: int | None) -> list[bytes]:
    """A string tensor's bytes: the element lengths as varints, a masked crc32c of those lengths
    (each taken as a little-endian uint32), then the elements back to back. The entry's crc32c
    covers the lengths as uint32s, that checksum, then the elements: not the bytes as stored."""
    lengths, pos = [], 0
    for _ in range(count):
        length, pos = decode_varint(raw, pos)
        lengths.append(length)
    as_uint32 = b"".join((length & 0xFFFFFFFF).to_bytes(4, "little") for length in lengths)
    crc = crc32c.crc32c(as_uint32)
    if pos + 4 > len(raw):
        raise WireError("it ends inside its length checksum")
    checksum = raw[pos:pos + 4]
    if mask_crc(crc) != int.from_bytes(checksum, "little"):
        raise WireError("its element lengths fail their crc32c check")
    pos += 4
    if pos + sum(lengths) != len(raw):
        raise WireError("its element lengths do not add up to its size")
    crc = crc32c.crc32c(checksum, crc)
    strings = []
    for length in lengths:
        strings.append(bytes(raw[pos:pos + length]))
        crc = crc32c.crc32c(strings[-1], crc)
        pos += length
    if entry_crc is not None and mask_crc(crc) != entry_crc:
        raise WireError("its bytes fail their crc32c check")
    return strings


def _box_text(box: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{start}:{stop}" for start, stop in box)


def _check_slice_count(count: int) -> None:
    if count > MAX_SLICES:
        raise WireError(f"{count} slices (more than {MAX_SLICES})")


def _check_tiling(shape: tuple[int, ...], boxes: list[tuple[tuple[int, int], ...]]) -> None:
    """The slices must cover the tensor exactly once: disjoint, and as many elements as it has."""
    if sum(_element_count(tuple(stop - start for start, stop in box)) for box in boxes) \
            != _element_count(shape):
        raise WireError("its slices do not cover it exactly")
    if len(boxes) < 2 or not shape:
        return
    # Sorted by where they start along the first axis, a slice can only overlap those after it
    # that start before it stops there: none at all for the usual split along one axis, so
    # the check is O(n log n) on real files and a bounded numpy sweep on hostile ones.
    corners = np.array([[bound for extent in box for bound in extent] for box in boxes],
                       dtype=np.int64).reshape(len(boxes), len(shape), 2)
    order = np.argsort(corners[:, 0, 0], kind="stable")
    starts, stops = corners[order, :, 0], corners[order, :, 1]
    # Empty slices cover nothing and overlap nothing.
    nonempty = np.all(stops > starts, axis=1)
    starts, stops, order = starts[nonempty], stops[nonempty], order[nonempty]
    reach = np.searchsorted(starts[:, 0], stops[:, 0], side="left")
    for i in range(len(starts)):
        if reach[i] <= i + 1:
            continue
        later = slice(i + 1, reach[i])
        overlapping = np.all((np.maximum(starts[later], starts[i])
                              < np.minimum(stops[later], stops[i])), axis=1)
        if overlapping.any():
            j = i + 1 + int(np.argmax(overlapping))
            raise WireError(f"its slices {_box_text(boxes[order[i]])} and "
                             f"{_box_text(boxes[order[j]])} overlap")


# TensorProto fields holding the values of a V1 slice, by dtype: (field, wire kind).
# V1 writes them as typed repeated fields (saved_tensor_slice_util.h), not as tensor_content.
V1_VALUE_FIELDS = {
    "float32": (5, "<f4"), "float64": (6, "<f8"), "int32": (7, "varint"), "int16": (7, "varint"),
    "int8": (7, "varint"), "uint8": (7, "varint"), "int64": (10, "varint"), "bool": (11, "varint"),
    "complex64": (9, "<f4"), "complex128": (12, "<f8"), "float16": (13, "varint"),
    "uint16": (7, "varint"), "bfloat16": (13, "varint"), "uint32": (16, "varint"),
    "uint64": (17, "varint"),
}
TENSOR_CONTENT_FIELD = 4
V1_STRING_FIELD = 8


class _ClosableBytes(bytes):
    """A V1 file's bytes where an mmap is not possible (at a URL), closable like the map."""

    def close(self) -> None:
        pass


class V1CheckpointSource(TensorSource):
    """A V1 checkpoint (TF <= 0.11, or `Saver(write_version=V1)`): one table whose `""` entry
    lists the tensors and their slices (`SavedTensorSliceMeta`), and whose other entries, under
    slice keys, hold each slice's values in a `SavedSlice`'s TensorProto."""

    def __init__(self, path: Path):
        super().__init__(path=path, format=FORMAT, files=[path])
        self._slices: dict[str, list[tuple[tuple[tuple[int, int], ...], bytes]]] = {}
        try:
            if isinstance(path, Path):
                with path.open("rb") as handle:
                    self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            else:  # at a URL: a legacy format, read whole
                self._map = _ClosableBytes(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the file: {exc}", path) from exc
        try:
            self._list_tensors()
        except BaseException:
            self._map.close()
            raise

    def _list_tensors(self) -> None:
        self._table = Table(self._map, self.path)
        meta = self._table.get(b"")
        if meta is None:
            raise CorruptFileError("the V1 checkpoint has no tensor list (its \"\" entry)",
                                   self.path)
        try:
            for message in message_fields(decode_fields(message_field(decode_fields(meta), 1)), 1):
                self._add(decode_fields(message))
        except WireError as exc:
            raise CorruptFileError(f"the V1 tensor list is damaged: {exc}", self.path) from exc

    def _add(self, fields: dict[int, list]) -> None:
        name = bytes(message_field(fields, 1)).decode("utf-8", "surrogateescape")
        dtype = _dtype_of(int_field(fields, 3), repr(name))
        shape = _shape(message_field(fields, 2))
        # Every value takes at least one byte of the file, whatever its encoding; a larger
        # count is a lie, refused before `_read` allocates for it.
        if _element_count(shape) > len(self._map):
            raise WireError(f"{name!r} declares shape {list(shape)}, more values than the "
                             f"file's {len(self._map)} bytes can hold")
        if dtype in NOT_NUMBERS:
            raise BuiltinUnsupported(f"{name!r} is a {dtype} tensor in a V1 checkpoint")
        slice_messages = message_fields(fields, 4)
        _check_slice_count(len(slice_messages))
        slices = []
        for message in slice_messages:
            extents = _slice_extents(message)
            slices.append((_slice_box(extents, shape), slice_key(name.encode("utf-8",
                                                                             "surrogateescape"),
                                                                 extents)))
        _check_tiling(shape, [box for box, _ in slices])
        self._slices[name] = slices
        self.infos[name] = TensorInfo(name, shape, dtype)

    def _read(self, name: str) -> np.ndarray:
        info = self.infos[name]
        if info.dtype == "string":
            raise InputError(f"{name!r} is a string tensor, not numbers "
                             "(V1CheckpointSource.read_strings returns its bytes)", self.path)
        full = np.empty(info.shape, dtype=_numpy_dtype(info.dtype))
        for box, values in self._slice_values(name):
            full[tuple(slice(start, stop) for start, stop in box)] = values
        return full

    def read_strings(self, name: str) -> list[bytes]:
        """A string tensor's elements, flattened in row-major order."""
        if name not in self.infos or self.infos[name].dtype != "string":
            raise InputError(f"no string tensor named {name!r}", self.path)
        full = np.empty(self.infos[name].shape, dtype=object)
        for box, values in self._slice_values(name):
            full[tuple(slice(start, stop) for start, stop in box)] = values
        return list(full.reshape(-1))

    def _slice_values(self, name: str) -> Iterator[tuple[tuple[tuple[int, int], ...], np.ndarray]]:
        dtype = self.infos[name].dtype
        for box, key in self._slices[name]:
            where = f"the slice {_box_text(box)} of {name!r}"
            value = self._table.get(key)
            if value is None:
                raise CorruptFileError(f"{where} is missing", self.path)
            shape = tuple(stop - start for start, stop in box)
            try:
                saved_slice = decode_fields(message_field(decode_fields(value), 2))
                proto = decode_fields(message_field(saved_slice, 3))
                values = _v1_values(proto, dtype, _element_count(shape))
            except WireError as exc:
                raise CorruptFileError(f"{where} is damaged: {exc}", self.path) from exc
            yield box, values.reshape(shape)

    def close(self) -> None:
        self._map.close()


def _v1_values(proto: dict[int, list], dtype: str, count: int) -> np.ndarray:
    if dtype == "string":
        strings = [bytes(s) for s in message_fields(proto, V1_STRING_FIELD)]
        if len(strings) != count:
            raise WireError(f"{len(strings)} strings where {count} were expected")
        array = np.empty(count, dtype=object)
        array[:] = strings
        return array
    target = _numpy_dtype(dtype)
    if TENSOR_CONTENT_FIELD in proto:
        raw = b"".join(bytes(part) for part in message_fields(proto, TENSOR_CONTENT_FIELD))
        if len(raw) != count * target.itemsize:
            raise WireError(f"{len(raw)} bytes where {count * target.itemsize} were expected")
        return np.frombuffer(raw, dtype=DATA_TYPES_BY_NAME[dtype]).view(target).copy()
    if dtype not in V1_VALUE_FIELDS:
        raise WireError(f"V1 values of dtype {dtype} are not known")
    field, kind = V1_VALUE_FIELDS[dtype]
    parts = proto.get(field, [])
    per_element = 2 if dtype.startswith("complex") else 1
    if kind == "varint":
        numbers: list[int] = []
        for part in parts:
            if isinstance(part, int):
                numbers.append(part)
            else:
                pos = 0
                while pos < len(part):
                    number, pos = decode_varint(part, pos)
                    numbers.append(number)
        if len(numbers) != count:
            raise WireError(f"{len(numbers)} values where {count} were expected")
        if dtype in ("float16", "bfloat16"):  # half_val holds each value's 16 bits
            return np.array([n & 0xFFFF for n in numbers], dtype=np.uint16).view(target)
        return np.array([signed64(n) for n in numbers], dtype=np.int64).astype(target)
    width = np.dtype(kind).itemsize
    if any(isinstance(part, int) and part >> (8 * width) for part in parts):
        raise WireError(f"a {dtype} value does not fit in {width} bytes")
    raw = b"".join(bytes(part) if not isinstance(part, int) else part.to_bytes(width, "little")
                   for part in parts)
    if len(raw) != count * per_element * width:
        raise WireError(f"{len(raw) // width} values where {count * per_element} were expected")
    return np.frombuffer(raw, dtype=kind).view(target).copy() if per_element == 2 \
        else np.frombuffer(raw, dtype=kind).astype(target)
