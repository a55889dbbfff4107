"""Run many grutool command lines in this one process, each as the CLI would run it, and
print one JSON result per line: {"case", "exit", "stdout", "stderr"}.

tests/test_hostile.py starts this once under a capped address space instead of starting
grutool once per hostile file (a hundred interpreter start-ups were half the suite's time).
Each case runs in its own working folder, with an alarm so that a reader stuck on one file
fails that case instead of the run. Input on stdin: a JSON list of {"case", "args", "cwd"}.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys

TIMEOUT_SECONDS = 20


class CaseTimeout(BaseException):
    """Not an Exception: grutool's own handlers must not turn it into an error line."""


def _alarm(signum: int, frame: object) -> None:
    raise CaseTimeout


def run_case(args: list[str], cwd: str) -> tuple[int, str, str]:
    from grutool.cli import cli

    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_SECONDS)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(args, prog_name="grutool", standalone_mode=True)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    except CaseTimeout:
        code, err = -999, io.StringIO(f"TIMEOUT after {TIMEOUT_SECONDS}s")
    except MemoryError:
        code, err = -998, io.StringIO("MemoryError escaped the CLI")
    finally:
        signal.alarm(0)
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()


def main() -> None:
    cases = json.load(sys.stdin)
    for case in cases:
        code, stdout, stderr = run_case(case["args"], case["cwd"])
        print(json.dumps({"case": case["case"], "exit": code, "stdout": stdout,
                          "stderr": stderr}), flush=True)


if __name__ == "__main__":
    main()
