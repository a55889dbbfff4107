"""Just enough protobuf and LevelDB-table writing to build TF checkpoint indexes byte by byte,
for the tests and the hostile corpus that need a damaged or crafted index with valid crcs."""

from __future__ import annotations

import struct

from grutool.readers.tf_table import TABLE_MAGIC, masked_crc32c


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def proto_field(number: int, value: int | bytes, wire: int | None = None) -> bytes:
    """A protobuf field: bytes length-delimited, an int as a varint (or fixed32 with wire=5)."""
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    if wire == 5:
        return varint(number << 3 | 5) + struct.pack("<I", value)
    return varint(number << 3) + varint(value & ((1 << 64) - 1))


def table_block(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A block with every entry a restart point (no shared key prefixes)."""
    body = bytearray()
    restarts = []
    for key, value in entries:
        restarts.append(len(body))
        body += varint(0) + varint(len(key)) + varint(len(value)) + key + value
    for restart in restarts:
        body += struct.pack("<I", restart)
    body += struct.pack("<I", len(restarts))
    return bytes(body)


def footer(meta_handle: tuple[int, int], index_handle: tuple[int, int], magic: int) -> bytes:
    handles = b"".join(varint(n) for n in (*meta_handle, *index_handle))
    return handles + b"\x00" * (40 - len(handles)) + struct.pack("<Q", magic)


def table_bytes(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A LevelDB-style table of `entries` (sorted here): one data block, an empty metaindex,
    an index block, the footer; every block with its valid crc trailer."""
    entries = sorted(entries)
    out = bytearray()

    def put(block: bytes) -> tuple[int, int]:
        offset = len(out)
        out.extend(block + b"\x00")
        out.extend(struct.pack("<I", masked_crc32c(block + b"\x00")))
        return offset, len(block)

    data_handle = put(table_block(entries))
    meta_handle = put(struct.pack("<II", 0, 1))  # an empty block: one restart at 0
    index_handle = put(table_block([(entries[-1][0] + b"\xff",
                                     varint(data_handle[0]) + varint(data_handle[1]))]))
    out += footer(meta_handle, index_handle, TABLE_MAGIC)
    return bytes(out)
