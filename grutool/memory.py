"""A bound on what a file can cost: before an array is allocated, what it needs is compared
with what the machine can give.

A file may declare a tensor far larger than itself (deflated zeros: 1.5 MB of `.npz` holds
1.5 GiB; a hostile one may declare more than any machine has). Reading it would end in a
`MemoryError`, in swapping, or in the kernel's OOM killer; grutool refuses it first, with one
line naming the file, the tensor and the sizes (exit 2). What "can give" means:

* RAM: `MemAvailable` of `/proc/meminfo` (free memory plus the page cache the kernel can
  reclaim), the kernel's own estimate of what a new allocation can get without swapping;
* address space: the soft `RLIMIT_AS` (`ulimit -v`) minus what the process already maps.

Where neither can be read (not Linux), nothing is refused in advance, and a `MemoryError`
still becomes the same one-line error (`named`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MemoryLimitError

# Allocations below this are never checked: reading /proc for each small tensor of a file of
# thousands would cost more than the allocations themselves, and they cannot matter.
CHECK_ABOVE_BYTES = 16 * 2**20
MEMINFO = Path("/proc/meminfo")
STATM = Path("/proc/self/statm")


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} EiB"  # pragma: no cover - the loop always returns


def available_ram() -> int | None:
    """`MemAvailable` in bytes, or None where the kernel does not say."""
    try:
        with MEMINFO.open("rb") as handle:
            for line in handle:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def address_space_limit() -> tuple[int, int] | None:
    """(soft RLIMIT_AS, bytes of address space this process already maps), or None when
    there is no limit or it cannot be read."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    try:
        pages = int(STATM.read_text().split()[0])
        used = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return soft, used


def shortfall(nbytes: int) -> str | None:
    """Why `nbytes` cannot be allocated now, or None if the machine can give them."""
    reasons = []
    ram = available_ram()
    if ram is not None and nbytes > ram:
        reasons.append(f"{human(ram)} of RAM available")
    limit = address_space_limit()
    if limit is not None:
        soft, used = limit
        if nbytes > soft - used:
            reasons.append(f"the address-space limit (ulimit -v) of {human(soft)} leaves "
                           f"{human(max(soft - used, 0))}")
    return " and ".join(reasons) or None


def require(nbytes: int, what: str, path: str | Path | None) -> None:
    """Raise MemoryLimitError when `what` (e.g. "tensor 'x' [2048, 6144] float32") needs
    more than the machine can give."""
    if nbytes < CHECK_ABOVE_BYTES:
        return
    reason = shortfall(nbytes)
    if reason is not None:
        raise MemoryLimitError(f"{what} needs {human(nbytes)}, more than this machine can "
                               f"give ({reason})", path,
                               hint="free memory or read it on a larger machine")


@contextmanager
def named(path: str | Path | None, what: str = "reading it") -> Iterator[None]:
    """Turn a `MemoryError` raised inside the block into the one-line MemoryLimitError
    naming `path`: the fallback where an allocation was not foreseen by `require`."""
    try:
        yield
    except MemoryError as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "MemoryError"
        raise MemoryLimitError(f"ran out of memory {what} ({detail})", path,
                               hint="free memory or read it on a larger machine") from exc
