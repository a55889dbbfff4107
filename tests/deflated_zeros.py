"""`.npz` files of deflated zeros, built by hand in a second: an honest one holds what it
declares (1 GiB of zeros in about 1 MB), a hostile one declares far more than its deflate
stream holds (24 GiB in 1.5 MB). `np.savez_compressed` would take seconds per GiB."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

CHUNK = 8 * 2**20
ZIP64 = 0xFFFFFFFF


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    # version 1.0: magic, 2-byte length, the dict padded with spaces to a multiple of 64
    total = 10 + len(text) + 1
    text += b" " * (-total % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def _gf2_times(matrix: list[int], vector: int) -> int:
    """A 32x32 matrix over GF(2) (its columns as ints) times a 32-bit vector."""
    total, column = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[column]
        vector >>= 1
        column += 1
    return total


def _gf2_compose(outer: list[int], inner: list[int]) -> list[int]:
    return [_gf2_times(outer, column) for column in inner]


def _zeros_operator(count: int) -> list[int]:
    """The matrix taking a CRC-32 to the CRC-32 of the same data followed by `count` zero
    bytes, before the final XOR with crc32 of those zeros (as in zlib's crc32_combine)."""
    operator = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit (reflected CRC)
    for _ in range(3):
        operator = _gf2_compose(operator, operator)  # 2, 4, 8 bits: one zero byte
    result = [1 << n for n in range(32)]
    while count:
        if count & 1:
            result = _gf2_compose(operator, result)
        operator = _gf2_compose(operator, operator)
        count >>= 1
    return result


def _zeros_stream(header: bytes, zeros: int) -> tuple[bytes, int]:
    """A raw deflate stream of `header` then `zeros` zero bytes, and its CRC-32."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [compressor.compress(header), compressor.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(header)
    block = bytes(CHUNK)
    full, rest = divmod(zeros, CHUNK)
    if full:
        # After a full flush the compressor starts afresh: equal chunks compress alike.
        compressed = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        parts.append(compressed * full)
        # crc32(a + block) == M(crc32(a)) ^ crc32(block), M the GF(2) operator of CHUNK zero
        # bytes (zlib's crc32_combine): no pass over the gigabytes.
        append_block, block_crc = _zeros_operator(CHUNK), zlib.crc32(block)
        for _ in range(full):
            crc = _gf2_times(append_block, crc) ^ block_crc
    parts.append(compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FINISH))
    crc = zlib.crc32(bytes(rest), crc)
    return b"".join(parts), crc


def write_npz(path: Path, members: dict[str, tuple[tuple[int, ...], int | None]]) -> Path:
    """`members`: name -> (float32 shape, zero bytes actually stored after the header, or None
    for all of them). Sizes go in zip64 fields, so any declared size can be written."""
    local, central = [], []
    offset = 0
    for name, (shape, stored) in members.items():
        header = npy_header(shape)
        declared = len(header) + int(np.prod(shape)) * 4
        data, crc = _zeros_stream(header, declared - len(header) if stored is None else stored)
        filename = f"{name}.npy".encode()
        extra = struct.pack("<HHQQ", 1, 16, declared, len(data))
        local_header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc,
                                   ZIP64, ZIP64, len(filename), len(extra)) + filename + extra
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21,
                                   crc, ZIP64, ZIP64, len(filename), len(extra), 0, 0, 0, 0,
                                   offset) + filename + extra)
        local.append(local_header + data)
        offset += len(local_header) + len(data)
    directory = b"".join(central)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                      len(directory), offset, 0)
    path.write_bytes(b"".join(local) + directory + end)
    return path


def pytorch_gru_npz(path: Path, inputs: int, hidden: int, stored: int | None = None) -> Path:
    """An nn.GRU state dict whose weight_ih_l0 [3H, I] is as big as `inputs` makes it."""
    return write_npz(path, {
        "gru.weight_ih_l0": ((3 * hidden, inputs), stored),
        "gru.weight_hh_l0": ((3 * hidden, hidden), None),
        "gru.bias_ih_l0": ((3 * hidden,), None),
        "gru.bias_hh_l0": ((3 * hidden,), None),
    })
