"""Run grutool (or a snippet of Python) on a pseudo-terminal, many times, from one interpreter.

tests/test_terminal.py starts this once instead of one interpreter per run (the start-ups were
most of that file's time). For each request line on stdin, a JSON object {"args", "env",
"cwd", "code", "timeout"}, it forks a child whose stdin, stdout and stderr are a new
pseudo-terminal (`pty.fork`), so that rich takes its terminal path exactly as in a `grutool`
run at a shell, and answers with one line: {"exit", "output"} (output: the bytes written to
the terminal, as latin-1 text). The server imports only what a grutool run imports; no
framework is loaded before a fork.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import time
import traceback


def _child(request: dict) -> None:
    """In the forked child: become a `grutool …` (or `python -c code …`) run; never return."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        # The standard streams as a fresh interpreter opens them on a terminal (line-buffered).
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
        try:
            if request["code"] is not None:
                sys.argv = ["-c", *request["args"]]
                exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
            else:
                sys.argv = ["grutool", *request["args"]]
                from grutool.cli import main

                main()
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _run(request: dict) -> dict:
    sys.stdout.flush()
    pid, controller = pty.fork()
    if pid == 0:
        _child(request)
    chunks = []
    deadline = time.monotonic() + request["timeout"]
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(controller)
    _, status = os.waitpid(pid, 0)
    return {"exit": os.waitstatus_to_exitcode(status), "output": b"".join(chunks).decode("latin-1")}


def main() -> None:
    # What every run imports anyway, loaded once here rather than once per child.
    import grutool.api  # noqa: F401
    import grutool.cli  # noqa: F401
    import grutool.render  # noqa: F401

    for line in sys.stdin:
        print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
