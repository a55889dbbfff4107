"""The protobuf wire format, decoded without protobuf: enough for the few messages grutool reads
from TensorFlow's files (bundle entries and headers, V1 slices, object graphs, Keras metadata).

`decode_fields` turns a message into field number -> values; the accessors below take one field
and refuse the wrong wire type, so that a crafted message is a `WireError`, never a TypeError.
"""

from __future__ import annotations


class WireError(ValueError):
    """A protobuf message that does not parse; the caller adds which message and file."""


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    if pos < len(buf) and buf[pos] < 0x80:  # one byte: most tags, sizes and lengths
        return buf[pos], pos + 1
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("a varint runs past the end")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("a varint longer than 10 bytes")


def signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def decode_fields(buf: bytes) -> dict[int, list]:
    """Field number -> values in order: ints for varint/fixed fields, bytes for the rest."""
    fields: dict[int, list] = {}
    pos, end = 0, len(buf)
    value: int | bytes
    while pos < end:
        tag = buf[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = decode_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == 0:
            value, pos = decode_varint(buf, pos)
        elif wire_type == 1:
            if pos + 8 > end:
                raise WireError("a fixed64 runs past the end")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire_type == 2:
            length, pos = decode_varint(buf, pos)
            if pos + length > end:
                raise WireError("a length-delimited field runs past the end")
            value, pos = buf[pos:pos + length], pos + length
        elif wire_type == 5:
            if pos + 4 > end:
                raise WireError("a fixed32 runs past the end")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


# A crafted message with valid checksums can send any field with any wire type; these accessors
# refuse the wrong one, so that a shape sent as a varint is a damaged entry, not a TypeError.

def int_field(fields: dict[int, list], number: int, default: int = 0) -> int:
    """The last value of a scalar numeric field (varint or fixed)."""
    values = fields.get(number)
    if not values:
        return default
    if not isinstance(values[-1], int):
        raise WireError(f"field {number} holds bytes where a number belongs")
    return values[-1]


def message_field(fields: dict[int, list], number: int) -> bytes:
    """The last value of an embedded-message or bytes field; b"" when absent."""
    values = fields.get(number)
    if not values:
        return b""
    if isinstance(values[-1], int):
        raise WireError(f"field {number} holds a number where a message belongs")
    return values[-1]


def message_fields(fields: dict[int, list], number: int) -> list[bytes]:
    """Every value of a repeated message or bytes field."""
    values = fields.get(number, [])
    if any(isinstance(value, int) for value in values):
        raise WireError(f"field {number} holds a number where a message belongs")
    return values
