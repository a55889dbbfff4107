"""Several inputs in one run (`grutool check a b c`, `grutool inspect run/ --every-checkpoint`):
one outcome per file, in the order given, a file that cannot be read recorded as an error
without stopping the others, and the run's exit code the worst of the files' (2 over 1 over 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import GrutoolError


@dataclass
class Outcome:
    """One input's result: the object the command prints for it (`report`, with its `path`
    and `ok`), its exit code, and for an input that could not be done the one-line message."""

    path: str
    exit_code: int
    report: dict[str, Any]
    error: str | None = None
    seconds: float = 0.0


# One file's work: its report and exit code; a GrutoolError is that file's error outcome.
Work = Callable[[Any], "tuple[dict[str, Any], int]"]  # a Path or a RemotePath (a URL)


def run_each(paths: Iterable[Any], work: Work) -> Iterator[Outcome]:
    """`work` on each path in turn, yielded as it finishes (so output can follow along).
    Only a GrutoolError becomes an error outcome; anything else is a bug and propagates."""
    for path in paths:
        started = time.perf_counter()
        try:
            report, code = work(path)
        except GrutoolError as exc:
            message = exc.one_line()
            yield Outcome(str(path), exc.exit_code, {"path": str(path), "ok": False,
                                                     "error": message},
                          message, time.perf_counter() - started)
        else:
            yield Outcome(report.get("path", str(path)), code, report,
                          report.get("error"), time.perf_counter() - started)


def worst_exit_code(outcomes: Iterable[Outcome]) -> int:
    return max((outcome.exit_code for outcome in outcomes), default=0)


def combined_report(outcomes: list[Outcome]) -> dict[str, Any]:
    """The `--json` object of a run over several inputs: `{"ok", "results"}` (and `error`,
    one line, when some input failed)."""
    failed = [outcome for outcome in outcomes if outcome.exit_code]
    data: dict[str, Any] = {"ok": not failed, "results": [o.report for o in outcomes]}
    if failed:
        data["error"] = summary(outcomes)
    return data


def summary(outcomes: list[Outcome]) -> str:
    """"2 of 3 files failed: a, b" or "all 3 files passed"."""
    failed = [outcome.path for outcome in outcomes if outcome.exit_code]
    files = f"{len(outcomes)} file{'s' * (len(outcomes) != 1)}"
    if not failed:
        return f"all {files} passed" if len(outcomes) != 1 else "the file passed"
    shown = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{len(failed)} of {files} failed: {shown}"
