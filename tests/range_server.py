"""A real HTTP server on 127.0.0.1 for the remote-reading tests and benchmark: it serves a
directory (index pages for directories, as `http.server` does), honours `Range: bytes=a-b`
with 206 answers, and logs every request with the body bytes it sent.

Behaviours a test can switch on, by the first path segment of the URL:

    /ok/...            honours Range
    /norange/...       ignores Range: 200 with the whole body (a server or proxy that does)
    /forbidden/...     403 for everything
    /drop/...          honours Range, but cuts each response larger than 64 KiB off halfway
                       (a connection dropped mid-tensor)

Run as a script to serve a directory in the foreground: python tests/range_server.py DIR [PORT]
"""

from __future__ import annotations

import http.server
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
MODES = ("ok", "norange", "forbidden", "drop")
DROP_ABOVE = 64 * 1024


@dataclass
class Log:
    """Every request the server answered: (method, path, status, body bytes sent)."""

    entries: list[tuple[str, str, int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, status: int, sent: int) -> None:
        with self.lock:
            self.entries.append((method, path, status, sent))

    @property
    def bytes_sent(self) -> int:
        with self.lock:
            return sum(entry[3] for entry in self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    log: Log  # set per server
    # Connections kept open between requests, as the object stores and hubs do (http.server's
    # default, HTTP/1.0, costs a connection and a thread per range request).
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small answer waits for the client's delayed ACK

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass  # quiet: the Log records what tests need

    def _mode_and_path(self) -> tuple[str, str]:
        parts = self.path.split("?", 1)[0].lstrip("/").split("/", 1)
        mode = parts[0] if parts[0] in MODES else "ok"
        rest = parts[1] if parts[0] in MODES and len(parts) > 1 else ("" if parts[0] in MODES
                                                                       else "/".join(parts))
        return mode, "/" + rest

    def translate_path(self, path: str) -> str:
        return super().translate_path(self._mode_and_path()[1])

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        mode, _ = self._mode_and_path()
        if mode == "forbidden":
            self.send_error(403)
            self.log.add(self.command, self.path, 403, 0)
            return
        local = Path(self.translate_path(self.path))
        if local.is_dir():
            # Directory index pages (and the redirect to a trailing slash) as http.server has them.
            before = self.wfile
            counter = _CountingWriter(before)
            self.wfile = counter  # type: ignore[assignment]
            try:
                super().do_HEAD() if head else super().do_GET()
            finally:
                self.wfile = before
            self.log.add(self.command, self.path, 200, counter.count)
            return
        if not local.is_file():
            self.send_error(404)
            self.log.add(self.command, self.path, 404, 0)
            return
        size = local.stat().st_size
        start, end = 0, size
        wanted = _RANGE.match(self.headers.get("Range", "")) if mode != "norange" else None
        if wanted:
            start = int(wanted.group(1))
            end = min(size, int(wanted.group(2)) + 1) if wanted.group(2) else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.log.add(self.command, self.path, 416, 0)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "none" if mode == "norange" else "bytes")
        self.end_headers()
        sent = 0
        if not head:
            limit = end - start
            if mode == "drop" and limit > DROP_ABOVE:
                limit //= 2
            sent = _send(local, start, limit, self.wfile)
            if sent < end - start:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
        self.log.add(self.command, self.path, 206 if wanted else 200, sent)


class _CountingWriter:
    def __init__(self, inner):
        self.inner, self.count = inner, 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return self.inner.write(data)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def _send(local: Path, start: int, count: int, out) -> int:
    sent = 0
    try:
        with local.open("rb") as handle:
            handle.seek(start)
            while sent < count:
                chunk = handle.read(min(1 << 20, count - sent))
                if not chunk:
                    break
                out.write(chunk)
                sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that closes a kept-open connection (a process ending) is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RangeServer:
    """A server on a free port of 127.0.0.1 in a background thread: `url(mode, relative)`."""

    def __init__(self, directory: str | os.PathLike[str], port: int = 0):
        self.log = Log()
        handler = type("Handler", (RangeHandler,), {"log": self.log})
        self._server = _Server(("127.0.0.1", port),
                               partial(handler, directory=os.fspath(directory)))
        # A short poll: shutdown() waits for the loop's next look, 0.5 s by default.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, relative: str = "", mode: str = "ok") -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/{relative}"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    with RangeServer(sys.argv[1], port=int(sys.argv[2]) if len(sys.argv) > 2 else 0) as running:
        print(f"serving {sys.argv[1]} at {running.url()}", file=sys.stderr, flush=True)
        threading.Event().wait()
