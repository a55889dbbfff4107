"""Checkpoints at a URL (`s3://`, `gs://`, `https://`, `hf://`, `memory://` …), read through
fsspec with range requests: only the bytes a command needs cross the network.

`location(text)` turns what a user typed into what the readers open: a `pathlib.Path` for a
local file (and for `file://` URLs), a `RemotePath` otherwise. `RemotePath` offers the part of
`Path`'s interface the readers use (`name`, `with_name`, `/`, `is_file`, `stat`, `open`,
`read_bytes`, `iterdir`, `glob` …), so a reader that works through `Path` works on a URL; its
`open` gives a `RemoteFile` whose reads are byte-range requests.

* Only what is asked is fetched. A read of BLOCK bytes or more is one request for exactly
  those bytes (a tensor); smaller reads (a header, an HDF5 B-tree node, a zip directory)
  fetch the aligned BLOCK around them and keep the last MAX_BLOCKS blocks, so metadata
  scattered across a file costs a few requests, not one per field.
* HTTP has no directories: a URL that ends in `/` is one (listed from the server's index
  page), any other URL is a file. Asking an HTTP server whether a file is a directory would
  mean downloading it.
* Credentials come from the protocol library's usual places (environment, config files)
  or the URL itself; `str(RemotePath)` and every message show the URL without its user
  information and query string (where presigned tokens live), and so does split metadata.
* Every network failure (refused, timed out, 403, 404, a server that ignores Range, a
  connection dropped mid-tensor) becomes one `InputError` naming the URL: exit 2, nothing
  written (outputs are only ever renamed into place after the whole command succeeded).
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import InputError, MissingExtraError, UsageError, first_line

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_URL_IN_TEXT = re.compile(r"(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+)")
BLOCK = 64 * 1024
MAX_BLOCKS = 64
# Seconds to connect, and to wait for the next bytes of a response; GRUTOOL_NETWORK_TIMEOUT
# changes both (a slow link to a far bucket).
DEFAULT_TIMEOUT = 60.0


def is_url(text: object) -> bool:
    """Whether `text` is a URL (a scheme and `://`) rather than a local path."""
    return isinstance(text, str) and _SCHEME.match(text) is not None


def location(text: str | os.PathLike[str] | RemotePath) -> Path | RemotePath:
    """What the readers open for `text`: a local `Path`, or a `RemotePath` for a URL.
    `file://` URLs are local paths (read with the local readers' memory maps)."""
    if isinstance(text, (Path, RemotePath)):
        return text
    text = os.fspath(text)
    if not is_url(text):
        return Path(text)
    parts = urlsplit(text)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    return RemotePath(text)


def public_url(url: str) -> str:
    """`url` without user information, query string or fragment: what may be printed or
    stored (a presigned URL's signature, a token in `?…`, `user:password@` are dropped)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def redact(text: str) -> str:
    """`text` with every URL in it shown as `public_url` shows it: libraries' messages quote
    the URL they were given, query string and all."""
    return _URL_IN_TEXT.sub(lambda match: public_url(match.group("url")), text)


@dataclass
class Transfer:
    """What crossed the network in this process: body bytes received (the progress bar's
    "fetched" column)."""

    bytes: int = 0


TRANSFER = Transfer()
_transfer_lock = threading.Lock()


def _count(size: int) -> None:
    with _transfer_lock:
        TRANSFER.bytes += size


def reset_transfer() -> None:
    """Start counting from zero."""
    with _transfer_lock:
        TRANSFER.bytes = 0


@dataclass(frozen=True)
class RemoteStat:
    st_size: int
    st_mtime: float


class RemotePath:
    """A file or directory at a URL, with the `pathlib.Path` methods the readers use."""

    def __init__(self, url: str, _posix: PurePosixPath | None = None):
        parts = urlsplit(url)
        self._scheme = parts.scheme.lower()
        self._netloc = parts.netloc
        self._query = f"?{parts.query}" if parts.query else ""
        self._posix = _posix if _posix is not None else PurePosixPath(parts.path or "/")
        self._trailing_slash = _posix is None and parts.path.endswith("/") and parts.path != "/"

    # -- names (no network) --------------------------------------------------------------
    @property
    def url(self) -> str:
        """The URL to fetch, credentials and query string included."""
        path = str(self._posix) + ("/" if self._trailing_slash else "")
        return f"{self._scheme}://{self._netloc}{path}{self._query}"

    def __str__(self) -> str:
        return public_url(self.url)

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[str, str, PurePosixPath]:
        return self._scheme, self._netloc, self._posix

    def _derived(self, posix: PurePosixPath, directory: bool = False) -> RemotePath:
        # A sibling keeps the query string: a token that opens one file of a bucket through a
        # proxy usually opens its neighbours (a presigned URL does not, and says 403).
        derived = RemotePath(self.url, posix)
        derived._trailing_slash = directory
        return derived

    @property
    def name(self) -> str:
        return self._posix.name

    @property
    def suffix(self) -> str:
        return self._posix.suffix

    @property
    def suffixes(self) -> list[str]:
        return self._posix.suffixes

    @property
    def stem(self) -> str:
        return self._posix.stem

    @property
    def parent(self) -> RemotePath:
        return self._derived(self._posix.parent)

    def with_name(self, name: str) -> RemotePath:
        return self._derived(self._posix.with_name(name))

    def with_suffix(self, suffix: str) -> RemotePath:
        return self._derived(self._posix.with_suffix(suffix))

    def __truediv__(self, name: str) -> RemotePath:
        return self._derived(self._posix / name)

    def joinpath(self, *names: str) -> RemotePath:
        return self._derived(self._posix.joinpath(*names))

    def is_absolute(self) -> bool:
        return True

    def resolve(self) -> RemotePath:
        return self

    # -- the file system (network) -------------------------------------------------------
    @property
    def _fs(self) -> Any:
        return filesystem(self)

    def _info(self) -> dict[str, Any] | None:
        """The file system's record of this path, or None when nothing is there."""
        key = self.url
        with _info_lock:
            if key in _info_cache:
                return _info_cache[key]
        with network_errors(self):
            try:
                info = self._fs.info(self.url)
            except FileNotFoundError as exc:
                # fsspec's HTTP file system says "not found" for every failure (403, refused,
                # timed out); the failure it wraps tells which.
                cause = exc.__cause__ or exc.__context__
                if cause is not None and getattr(cause, "status", None) != 404 \
                        and not isinstance(cause, FileNotFoundError):
                    raise InputError(describe_network_error(cause), self) from exc
                info = None
        with _info_lock:
            if len(_info_cache) > 4096:
                _info_cache.clear()
            _info_cache[key] = info
        return info

    def _is_http(self) -> bool:
        return self._scheme in ("http", "https")

    def exists(self) -> bool:
        return self.is_dir() or self._info() is not None

    def is_dir(self) -> bool:
        if self._is_http():
            return self._trailing_slash and self._info() is not None  # its index page
        info = self._info()
        return info is not None and info.get("type") == "directory"

    def is_file(self) -> bool:
        if self._is_http() and self._trailing_slash:
            return False
        info = self._info()
        return info is not None and info.get("type", "file") == "file"

    def stat(self) -> RemoteStat:
        info = self._info()
        if info is None:
            raise InputError("no such file at this URL", self)
        size = info.get("size")
        if size is None:
            raise InputError("the server does not say how big the file is, so it cannot "
                             "be read in ranges", self)
        mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or 0
        try:
            mtime = float(mtime)
        except (TypeError, ValueError):
            mtime = float(getattr(mtime, "timestamp", lambda: 0.0)())
        return RemoteStat(int(size), mtime)

    def iterdir(self) -> Iterator[RemotePath]:
        listing_url = self.url if not self._is_http() else self._directory_url()
        with network_errors(self):
            entries = self._fs.ls(listing_url, detail=True)
        for entry in entries:
            name = PurePosixPath(str(entry["name"]).split("?", 1)[0].rstrip("/")).name
            if not name or name in (".", ".."):
                continue
            # Over HTTP a directory is a URL ending in "/" (see is_dir).
            child = self._derived(self._posix / name,
                                  directory=entry.get("type") == "directory" and self._is_http())
            if entry.get("type") == "file" and entry.get("size") is not None:
                with _info_lock:  # the listing told the size: no HEAD request for it
                    _info_cache.setdefault(child.url, entry)
            yield child

    def _directory_url(self) -> str:
        return f"{self._scheme}://{self._netloc}{str(self._posix).rstrip('/')}/{self._query}"

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        """Entries of this directory whose names match `pattern` (one level, as the readers
        use it); an HTTP server without index pages lists nothing."""
        import fnmatch

        try:
            entries = list(self.iterdir())
        except InputError:
            return
        for entry in entries:
            if fnmatch.fnmatchcase(entry.name, pattern):
                yield entry

    def open(self, mode: str = "rb", buffering: int = -1) -> RemoteFile:
        if mode not in ("rb", "r"):
            raise ValueError(f"a URL is opened for reading only, not {mode!r}")
        return RemoteFile(self)

    def read_bytes(self) -> bytes:
        with self.open() as handle:
            return handle.read()

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)


_info_cache: dict[str, dict[str, Any] | None] = {}
_info_lock = threading.Lock()
_filesystems: dict[tuple[str, str, float], Any] = {}
# Loggers of the protocol libraries: unconfigured, Python prints their warnings and retry
# tracebacks on stderr (gcsfs without credentials: several lines and a traceback before it
# fails). grutool reports the failure in one line; --debug lets them through.
PROTOCOL_LOGGERS = ("fsspec", "aiohttp", "gcsfs", "s3fs", "aiobotocore", "botocore", "boto3",
                    "google", "urllib3", "huggingface_hub", "httpx")


def _quiet_protocol_loggers() -> None:
    from .frameworks import native_logs_are_shown

    if native_logs_are_shown():
        return
    for name in PROTOCOL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())



def filesystem(where: RemotePath) -> Any:
    """The fsspec file system for `where`'s scheme and host (one per process and timeout: it
    holds the connection pool). fsspec takes the host (ftp, sftp) and credentials written in
    the URL from the URL itself."""
    scheme, shown = where._scheme, str(where)
    try:
        timeout = float(os.environ.get("GRUTOOL_NETWORK_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        raise UsageError("GRUTOOL_NETWORK_TIMEOUT must be a number of seconds") from None
    key = (scheme, where._netloc, timeout)
    if key in _filesystems:
        return _filesystems[key]
    _quiet_protocol_loggers()
    try:
        import fsspec
        import fsspec.core
    except ImportError as exc:
        raise MissingExtraError("reading a URL needs fsspec", "remote", shown) from exc
    options: dict[str, Any] = {}
    if scheme in ("http", "https"):
        try:
            import aiohttp
        except ImportError as exc:
            raise MissingExtraError("reading http(s):// URLs needs aiohttp", "remote",
                                    shown) from exc

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(
            total=None, sock_connect=timeout, sock_read=timeout)}
    elif scheme in ("s3", "s3a"):
        # botocore's own timeouts (60 s each, by default) and retries, set from the same value
        options["config_kwargs"] = {"connect_timeout": timeout, "read_timeout": timeout}
    if scheme not in fsspec.available_protocols():
        raise InputError(f"{scheme}:// is not a protocol fsspec knows", shown,
                         hint="known: s3, gs, http(s), hf, and the others fsspec lists")
    try:
        fs = fsspec.core.url_to_fs(where.url, **options)[0]
    except ImportError as exc:
        # fsspec says which package a protocol needs ("Install s3fs to access S3").
        raise MissingExtraError(f"reading {scheme}:// URLs: {redact(first_line(exc))}", "remote",
                                shown) from exc
    except Exception as exc:  # noqa: BLE001 - each protocol library fails in its own way
        raise InputError(f"cannot open a {scheme}:// connection: {redact(first_line(exc))}",
                         shown) from exc
    _filesystems[key] = fs
    return fs


@contextmanager
def network_errors(where: RemotePath) -> Iterator[None]:
    """Turn whatever a protocol library raises into one InputError naming the URL (grutool's
    own errors, and "not found", which callers decide about, pass through)."""
    try:
        yield
    except (InputError, MissingExtraError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - each protocol library fails in its own way
        raise InputError(describe_network_error(exc), where) from exc


def describe_network_error(exc: BaseException) -> str:
    """One line for a network failure, without credentials."""
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    if isinstance(status, int) and 400 <= status < 600:
        reason = {401: "authentication required", 403: "access denied", 404: "not found",
                  416: "the byte range asked is outside the file"}.get(status, "")
        return f"the server answered HTTP {status}" + (f" ({reason})" if reason else "")
    if isinstance(exc, PermissionError):
        return f"access denied: {redact(first_line(exc))}"
    if isinstance(exc, TimeoutError) or type(exc).__name__ in ("TimeoutError", "ServerTimeoutError"):
        return "the server did not answer in time (GRUTOOL_NETWORK_TIMEOUT sets the seconds)"
    name = type(exc).__name__
    if name in ("ClientPayloadError", "ServerDisconnectedError", "ContentLengthError",
                "IncompleteRead", "ChunkedEncodingError"):
        return f"the connection dropped while reading ({redact(first_line(exc))})"
    if name in ("ClientConnectorError", "ClientConnectionError", "ClientOSError") or \
            isinstance(exc, ConnectionError):
        return f"cannot connect: {redact(first_line(exc))}"
    if "support range requests" in str(exc):
        return "the server ignores HTTP Range requests, so the file cannot be read in parts"
    return f"cannot read the URL: {redact(first_line(exc))}"


class SeekableReader(io.RawIOBase):
    """A read-only file of known size: the position bookkeeping of io's protocol, shared by
    a URL's file and a zip member read in place. Subclasses read in `readinto`."""

    def __init__(self, size: int):
        super().__init__()
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._position = base + offset
        return self._position


class RemoteFile(SeekableReader):
    """A seekable, read-only file over a URL whose reads are range requests (see the module
    docstring for the block cache). `pread` reads at an offset without moving the position."""

    def __init__(self, where: RemotePath):
        super().__init__(where.stat().st_size)
        self.where = where
        self._handle: Any = None
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = self.pread_into(view, self._position)
        self._position += count
        return count

    def readall(self) -> bytes:
        # One request for the rest, not io's loop of 8 KiB reads.
        return self.read(max(self.size - self._position, 0))

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        data = self.pread(size, self._position)
        self._position += len(data)
        return data

    def pread(self, size: int, position: int) -> bytes:
        size = max(0, min(size, self.size - position))
        if size == 0:
            return b""
        if size >= BLOCK:
            return self._fetch(position, position + size)
        first, last = position // BLOCK, (position + size - 1) // BLOCK
        pieces = [self._block(index) for index in range(first, last + 1)]
        data = b"".join(pieces) if len(pieces) > 1 else pieces[0]
        start = position - first * BLOCK
        return data[start:start + size]

    def pread_into(self, view: memoryview, position: int) -> int:
        data = self.pread(len(view), position)
        view[:len(data)] = data
        return len(data)

    def read_range_into(self, view: memoryview, position: int) -> int:
        """Fill `view` from `position` with one request for exactly those bytes, whatever
        their size: a tensor's data, which nothing else shares."""
        size = max(0, min(len(view), self.size - position))
        if size:
            view[:size] = self._fetch(position, position + size)
        return size

    def _block(self, index: int) -> bytes:
        # Shared by every RemoteFile of the process: recognising a format and opening it
        # read the same header and directory blocks through different handles.
        key = (self.where.url, self.size, index)
        with _blocks_lock:
            if key in _blocks:
                _blocks.move_to_end(key)
                return _blocks[key]
        start = index * BLOCK
        data = self._fetch(start, min(start + BLOCK, self.size))
        with _blocks_lock:
            _blocks[key] = data
            while len(_blocks) > MAX_BLOCKS:
                _blocks.popitem(last=False)
        return data

    def _fetch(self, start: int, end: int) -> bytes:
        """Bytes [start, end) in one request: exactly those, or an error."""
        with network_errors(self.where):
            try:
                with self._lock:
                    if self._handle is None:
                        self._handle = self._open()
                    self._handle.seek(start)
                    data = self._handle.read(end - start)
            except FileNotFoundError as exc:
                raise InputError("the file disappeared from the server while it was read",
                                 self.where) from exc
        _count(len(data))
        if len(data) != end - start:
            raise InputError(f"the server sent {len(data)} bytes for a range of {end - start} "
                             f"(at offset {start}); the file changed or was cut short",
                             self.where)
        return data

    def _open(self) -> Any:
        # No cache of fsspec's own: the blocks above are the cache, and a read must fetch
        # exactly what it asks. The size is known already (no second HEAD request), where
        # the protocol's file class takes it.
        fs = self.where._fs
        try:
            return fs.open(self.where.url, "rb", cache_type="none", size=self.size)
        except TypeError:
            return fs.open(self.where.url, "rb", cache_type="none")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a URL has no file descriptor")

    def close(self) -> None:
        if self._handle is not None:
            try:
                self._handle.close()
            except Exception:  # noqa: BLE001 - closing a read-only network file cannot lose data
                pass
            self._handle = None
        super().close()


_blocks: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
_blocks_lock = threading.Lock()


def pread(handle: Any, size: int, position: int) -> bytes:
    """`size` bytes at `position` of a local file or a `RemoteFile`, without moving it."""
    if isinstance(handle, RemoteFile):
        return handle.pread(size, position)
    return os.pread(handle.fileno(), size, position)


def pread_into(handle: Any, view: memoryview, position: int) -> int:
    """Fill `view` from `position` (fewer bytes only at the end of the file); at a URL,
    small reads go through the block cache (metadata: headers, directories, B-trees)."""
    if isinstance(handle, RemoteFile):
        return handle.pread_into(view, position)
    return _local_pread_into(handle, view, position)


def read_range_into(handle: Any, view: memoryview, position: int) -> int:
    """`pread_into` for a tensor's data: at a URL, one request for exactly its bytes (a
    block around a small tensor would fetch its neighbours, which no one asked for)."""
    if isinstance(handle, RemoteFile):
        return handle.read_range_into(view, position)
    return _local_pread_into(handle, view, position)


def _local_pread_into(handle: Any, view: memoryview, position: int) -> int:
    done = 0
    while done < len(view):
        count = os.preadv(handle.fileno(), [view[done:]], position + done)
        if count == 0:
            break
        done += count
    return done


def file_size(handle: Any) -> int:
    if isinstance(handle, RemoteFile):
        return handle.size
    return os.fstat(handle.fileno()).st_size


def clear_caches() -> None:
    """Forget what is known of every URL (sizes, cached blocks): the next read asks again."""
    with _info_lock:
        _info_cache.clear()
    with _blocks_lock:
        _blocks.clear()
