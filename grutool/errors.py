"""The one exception hierarchy of grutool.

Every error a user can cause (a bad file, a bad option, an impossible conversion) is a
`GrutoolError`. The CLI turns it into one line on stderr and the exit code it carries;
anything else escaping the library is a bug in grutool and is reported as such.
"""

from __future__ import annotations

from pathlib import Path


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's text (libraries' messages run to many lines), or its
    type's name when it has none: what a one-line error quotes of a library's complaint."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return line[:limit] or type(exc).__name__


class GrutoolError(Exception):
    """Base class. `exit_code` follows the contract: 1 = found a problem, 2 = error."""

    exit_code = 2

    def __init__(self, message: str, path: str | Path | object | None = None,
                 hint: str | None = None):
        # `path`: anything whose str() names the input (a Path, a URL's RemotePath).
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint

    def one_line(self) -> str:
        """The single line the CLI prints: file, problem and, where there is one, what to do."""
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        return " ".join(text.split())


class InputError(GrutoolError):
    """The input cannot be read: missing, unreadable, corrupt, truncated or hostile."""


class CorruptFileError(InputError):
    """The file claims to be a known format but its content is inconsistent or damaged."""


class UnsupportedFormatError(InputError):
    """The file is not in a format grutool knows."""


class MissingExtraError(GrutoolError):
    """An optional dependency is needed for this file or target."""

    def __init__(self, message: str, extra: str, path: str | Path | object | None = None):
        super().__init__(message, path, hint=f"install it with: pip install 'grutool[{extra}]'")
        self.extra = extra


class MemoryLimitError(GrutoolError):
    """Reading or building an array would need more memory than the machine can give (its
    available RAM, the process's address-space limit). Checked before allocating
    (`grutool.memory`); also what an unforeseen `MemoryError` becomes."""


class UsageError(GrutoolError):
    """Options that contradict each other or name something that is not there."""


class OutputError(GrutoolError):
    """An output cannot be written (exists without --force, would overwrite an input, I/O failure)."""


class NoCellsError(GrutoolError):
    """The file is readable but holds no GRU cell."""

    exit_code = 1


class InexactConversionError(GrutoolError):
    """The conversion asked for cannot compute the same function (reset before vs after)."""

    exit_code = 1


class VerificationError(GrutoolError):
    """A numerical check found the two sides computing different functions."""

    exit_code = 1
