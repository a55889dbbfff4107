"""Bounds on zip containers (.npz, .keras, .pt) before anything is extracted.

A hostile archive can declare millions of members, members (or all of them together) far
larger than anything grutool would read, or names that climb out of a folder. These are
refused up front. zipfile never inflates a member past its declared size, and each reader
checks that size against what the member's own header says it holds (an .npy shape, torch's
storage records), so the declared sizes are the bound on what is allocated.

A deflated member is not judged by its compression ratio: deflate tops out near 1032:1, which
an honest array of zeros reaches (`np.savez_compressed` of a 1024x1024 zero matrix), so a ratio
test refuses real files while bounding nothing the declared size does not. bzip2 and lzma,
which no framework writes and which reach millions to one, keep a ratio bound.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import CorruptFileError
from ..remote import RemotePath

MAX_MEMBERS = 100_000
MAX_MEMBER_BYTES = 64 * 2**30
MAX_TOTAL_BYTES = 64 * 2**30
# For methods other than stored and deflated: well above anything but a bomb.
MAX_COMPRESSION_RATIO = 2000
# What zipfile raises on a damaged archive besides BadZipFile: member names that do not
# decode (UnicodeDecodeError), unknown compression methods, "encrypted" members, corrupt
# deflate/lzma streams. A reader catching these reports a corrupt file, not a crash.
DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError,
                      RuntimeError, zlib.error, lzma.LZMAError)


def open_zip(path: Path | RemotePath) -> zipfile.ZipFile:
    """The archive at `path`; at a URL, read through range requests (its central directory,
    then only the members asked for)."""
    if isinstance(path, Path):
        return zipfile.ZipFile(path)
    return zipfile.ZipFile(path.open("rb"))


def check_zip_members(archive: zipfile.ZipFile, path: Path) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise CorruptFileError(f"the archive declares {len(members)} members "
                               f"(more than {MAX_MEMBERS})", path)
    archive_size = path.stat().st_size
    total = sum(member.file_size for member in members)
    if total > MAX_TOTAL_BYTES:
        raise CorruptFileError(f"the archive's members declare {total} bytes in all (more "
                               f"than {MAX_TOTAL_BYTES})", path)
    for member in members:
        name = PurePosixPath(member.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
            raise CorruptFileError(f"archive member {member.filename!r} has an unsafe path", path)
        if member.file_size > MAX_MEMBER_BYTES:
            raise CorruptFileError(f"archive member {member.filename} declares "
                                   f"{member.file_size} bytes", path)
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) \
                and member.file_size > 2**20 and (
                member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1)):
            raise CorruptFileError(f"archive member {member.filename} inflates "
                                   f"{member.file_size // max(member.compress_size, 1)}x "
                                   "(a zip bomb?)", path)
        if member.compress_type == zipfile.ZIP_STORED and member.file_size > archive_size:
            raise CorruptFileError(f"archive member {member.filename} declares more bytes "
                                   "than the file has", path)
    return members
