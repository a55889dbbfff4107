"""The progress hook that long library calls take (`progress=`): a callable that receives the
items of a loop and a description of the step ("reading", "checking" …) and returns an
iterable over the same items, in order, free to show how far the loop has got. The library
never draws anything itself; the CLI passes a hook that draws a bar on a terminal."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

Progress = Callable[[Sequence[T], str], Iterable[T]]


def steps(progress: Callable[..., Iterable[T]] | None, items: Sequence[T],
          description: str) -> Iterable[T]:
    """`items` through the caller's hook, if any. A hook of one parameter (grutool 0.1's
    `progress(cells)`) is called without the description."""
    if progress is None:
        return items
    return progress(items, description) if _takes_description(progress) else progress(items)


def _takes_description(hook: Callable[..., object]) -> bool:
    try:
        parameters = list(inspect.signature(hook).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: assume the current protocol
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return len([p for p in parameters if p.kind in positional]) >= 2
