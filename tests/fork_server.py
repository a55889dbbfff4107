"""Run grutool (or a snippet of Python) many times from one interpreter, each run a forked
child: the tests that need a real process (a terminal, a signal) pay no interpreter start-up
per run (the start-ups were most of those files' time). The server imports only what
grutool runs import; no framework is loaded before a fork.

Requests are JSON lines on stdin; each gets one JSON line back:
- {"args", "env", "cwd", "code", "timeout"}: a child whose stdin, stdout and stderr are a new
  pseudo-terminal (`pty.fork`), so that rich takes its terminal path exactly as in a
  `grutool` run at a shell. Answer: {"exit", "output"} (output: the bytes written to the
  terminal, as latin-1 text). tests/test_terminal.py.
- {"start": args, "env", "cwd", "stderr"}: a child with stdin and stdout on /dev/null and
  stderr into the file `stderr`, answered at once with {"pid"}, so that the caller can signal
  it; then {"wait": pid} answers {"exit"} when it ends, and {"poll": pid} at once, with
  {"exit": null} while it runs. tests/test_split_interrupted.py.
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


def _start(request: dict) -> dict:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        _child({**request, "args": request["start"], "code": None})
    return {"pid": pid}


def _wait(pid: int, options: int = 0) -> dict:
    ended, status = os.waitpid(pid, options)
    return {"exit": os.waitstatus_to_exitcode(status) if ended else None}


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
    # What runs import anyway, loaded once here rather than once per child: the commands,
    # every reader, family and target module (none imports a framework when it loads), and
    # NumPy and h5py, which they use.
    import importlib

    import grutool.api  # noqa: F401
    import grutool.cli  # noqa: F401
    import grutool.render  # noqa: F401
    from grutool.families import families
    from grutool.readers import READER_MODULES
    from grutool.targets import TARGET_MODULES, target

    families()
    for name in READER_MODULES:
        importlib.import_module(f"grutool.readers.{name}")
    for name in TARGET_MODULES:
        target(name)
    import h5py  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        if "start" in request:
            answer = _start(request)
        elif "wait" in request:
            answer = _wait(request["wait"])
        elif "poll" in request:
            answer = _wait(request["poll"], os.WNOHANG)
        else:
            answer = _run(request)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
