"""How many BLAS threads a computation gets: as many as its products can use, no more.

The numerical check multiplies small batches by big matrices, one time step after another:
products that read a matrix once and are bound by memory, not by arithmetic. BLAS libraries
start every thread they may for each of them; on a busy 2-core machine the check of a
16-layer H = 1024 stack took 50-74 s with OpenBLAS's default threads and 8 s with one. A
product gets one thread per PRODUCT_FLOPS_PER_THREAD of work, at most one per core.

threadpoolctl (a dependency: small, pure Python, no dependencies of its own) sets the limit
for whichever BLAS NumPy was built with; where it is missing, nothing is limited.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

# A product below this much work per thread is faster on one thread (measured: a [31, 2048]
# by [2048, 2048] float32 product, 0.26 GFLOP, takes 19 ms on one thread and 157 ms on two
# of a busy 2-core machine).
PRODUCT_FLOPS_PER_THREAD = 2e9

def threads_for(flops: float) -> int:
    cores = os.cpu_count() or 1
    return max(1, min(cores, int(flops // PRODUCT_FLOPS_PER_THREAD)))


@contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """Limit the BLAS threads to `count` inside the block."""
    controller = _controller()
    if controller is None:  # pragma: no cover - a dependency; without it, nothing is limited
        yield
        return
    with controller.limit(limits=count, user_api="blas"):
        yield


@lru_cache(maxsize=1)
def _controller() -> Any:
    """The libraries loaded, found once (about a millisecond)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()
