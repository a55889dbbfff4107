"""The names recognition sees: `--rename REGEX=REPLACEMENT` rules, and the view that applies them.

A file's own tensor names are facts; the names the GRU families read may differ from them in
three ways, each decided outside the readers:

- a TF 2 checkpoint or SavedModel names its variables by object path (`variables/0/.ATTRIBUTES/
  VARIABLE_VALUE`) and keeps their real names (`gru/gru_cell/kernel`) in its object graph
  (`object_names`);
- the user's `--rename` rules, applied in order to every name, with `re.sub` semantics;
- `--slot NAME`, which reads each weight's per-variable copy instead of the weight (`slots`).

`NameView` is a `TensorSource` over the file's source that lists the tensors under the names
recognition sees and sends every read to the file's own name. Nothing is written into the
reader's source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .tensors import TensorInfo, TensorSource

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class RenameRule:
    """One `REGEX=REPLACEMENT`: the first `=` separates the two parts."""

    pattern: re.Pattern[str]
    replacement: str

    @property
    def text(self) -> str:
        return f"{self.pattern.pattern}={self.replacement}"

    @classmethod
    def parse(cls, text: str | RenameRule) -> RenameRule:
        if isinstance(text, RenameRule):
            return text
        regex, equals, replacement = str(text).partition("=")
        if not equals:
            raise UsageError(f"--rename {text!r}: expected REGEX=REPLACEMENT "
                             "(the first '=' separates them)")
        if not regex:
            raise UsageError(f"--rename {text!r}: the regular expression is empty")
        try:
            pattern = re.compile(regex)
            pattern.sub(replacement, "")  # a bad group reference in REPLACEMENT fails here
        except (re.error, IndexError) as exc:
            raise UsageError(f"--rename {text!r}: {exc}") from exc
        return cls(pattern, replacement)

    def apply(self, name: str) -> str:
        try:
            return self.pattern.sub(self.replacement, name)
        except (re.error, IndexError) as exc:  # e.g. \2 of a group that did not take part
            raise UsageError(f"--rename {self.text!r} on {name!r}: {exc}") from exc


def parse_rules(rules: Iterable[str | RenameRule] | None) -> list[RenameRule]:
    if isinstance(rules, (str, RenameRule)):
        rules = [rules]
    return [RenameRule.parse(rule) for rule in rules or ()]


def apply_rules(name: str, rules: list[RenameRule]) -> str:
    for rule in rules:
        name = rule.apply(name)
    return name


class NameView(TensorSource):
    """The tensors of `inner` under other names; reads go to the file's own name.

    `names` maps a file name to the name recognition sees (absent: unchanged). `hidden` are
    names kept out of `tensors()` (per-variable copies, which families must not read as
    weights) but still readable. `redirects` sends a name's reads to another file tensor (a
    weight to its `--slot` copy).
    """

    def __init__(self, inner: TensorSource, names: dict[str, str] | None = None):
        super().__init__(path=inner.path, format=inner.format,
                         keras_config=inner.keras_config, graph=inner.graph,
                         text_metadata=inner.text_metadata, files=inner.files)
        self.inner = inner
        self._file_of: dict[str, str] = {}
        self.hidden: set[str] = set()
        self.redirects: dict[str, str] = {}
        # An order of weights stated outside the reader (a TF 2 checkpoint's object graph).
        self.stated_order: dict[str, tuple[int, int]] = {}
        names = names or {}
        for info in inner.tensors():
            seen = names.get(info.name, info.name)
            if seen in self._file_of:
                raise UsageError(f"the names {self._file_of[seen]!r} and {info.name!r} would "
                                 f"both be read as {seen!r}", inner.path,
                                 hint="make the --rename rules tell them apart")
            if not seen:
                raise UsageError(f"{info.name!r} would be renamed to an empty name", inner.path)
            self._file_of[seen] = info.name
            self.infos[seen] = TensorInfo(seen, info.shape, info.dtype)

    def tensors(self) -> list[TensorInfo]:
        return [info for name, info in self.infos.items() if name not in self.hidden]

    @property
    def weight_order(self) -> dict[str, tuple[int, int]]:
        """The reader's stated order of weights (a Keras 2 `.h5`'s `weight_names`), by the
        names recognition sees."""
        order = getattr(self.inner, "weight_order", None) or {}
        seen = {file: name for name, file in self._file_of.items()}
        return {seen.get(name, name): position for name, position in order.items()} \
            or dict(self.stated_order)

    def __getattr__(self, name: str) -> Any:
        # Other raw facts a reader exposes (Keras 3's `group_names`, HDF5 attributes) are
        # the file's own; recognition reads them from the reader beneath.
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def file_name(self, name: str) -> str:
        """The file tensor that a read of `name` reads."""
        if name in self.redirects:
            return self.redirects[name]
        return self._file_of.get(name, name)

    def own_name(self, name: str) -> str:
        """The file's own name of `name`, ignoring redirects."""
        return self._file_of.get(name, name)

    def seen_as(self) -> dict[str, str]:
        """File name -> the name recognition sees, for the names that differ."""
        return {file: seen for seen, file in self._file_of.items() if file != seen}

    def _read(self, name: str) -> np.ndarray:
        return self.inner.read(self.file_name(name))

    def size_bytes(self) -> int:
        return self.inner.size_bytes()

    def close(self) -> None:
        self.inner.close()
