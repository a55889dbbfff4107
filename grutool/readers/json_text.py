"""JSON that a file carries (a safetensors header, a Keras config), parsed with one rule:
whatever is wrong with it, including nesting too deep for the parser, is a `CorruptFileError`
naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CorruptFileError, first_line


def load_json(text: str | bytes, what: str, path: str | Path) -> Any:
    """`text` parsed; `what` names the part of the file it came from, for the message."""
    try:
        return json.loads(text)
    except RecursionError as exc:  # `[[[[…` a few thousand deep exhausts the C parser's stack
        raise CorruptFileError(f"{what} nests too deeply to be read", path) from exc
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes
        raise CorruptFileError(f"{what} is not valid JSON: {first_line(exc)}", path) from exc
