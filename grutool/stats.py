"""Per-gate statistics and the health flags `inspect` and `check` show."""

from __future__ import annotations

from typing import Any

import numpy as np

from .cells import CANONICAL_NAMES, CanonicalWeights, GruCell

# TF 1 GRUCell (and GRUBlockCell) initialise the gates bias to exactly 1.0; a checkpoint
# that still holds that value was saved before any training step.
UNTRAINED_BIAS_LAYOUTS = ("tf-gru-cell", "tf-gru-block-cell")


def array_stats(array: np.ndarray) -> dict[str, Any]:
    values = np.asarray(array)
    if values.dtype.kind != "f" or values.dtype.itemsize < 4:
        values = values.astype(np.float64)  # bfloat16 (kind "V"), float16, ints
    stats: dict[str, Any] = {"shape": list(values.shape), "nan": 0, "inf": 0}
    finite = np.isfinite(values)
    if not finite.all():  # the common case, all finite, skips the masking
        stats["nan"] = int(np.isnan(values).sum())
        stats["inf"] = int(values.size - finite.sum() - stats["nan"])
        values = values[finite]
    if values.size:
        # float64 accumulators: no copy of a float32 array, no float32 rounding in the sums
        stats.update(mean=float(values.mean(dtype=np.float64)),
                     std=float(values.std(dtype=np.float64)),
                     min=float(values.min()), max=float(values.max()))
    else:
        stats.update(mean=None, std=None, min=None, max=None)
    return stats


def gate_stats(weights: CanonicalWeights) -> dict[str, dict[str, Any]]:
    return {name: array_stats(weights[name]) for name in CANONICAL_NAMES if name in weights}


def looks_untrained(cell: GruCell, weights: CanonicalWeights) -> bool:
    if cell.layout not in UNTRAINED_BIAS_LAYOUTS:
        return False
    return all(np.all(np.asarray(weights[name]) == 1) for name in ("b_ir", "b_iz"))


def cell_problems(cell: GruCell, weights: CanonicalWeights) -> list[str]:
    """Plain-language findings about one cell: NaN/Inf values, untouched initial biases."""
    problems = []
    for name, stats in gate_stats(weights).items():
        if stats["nan"] or stats["inf"]:
            problems.append(f"{name} has {stats['nan']} NaN and {stats['inf']} Inf values")
    if looks_untrained(cell, weights):
        problems.append("looks untrained: the gates bias is still exactly 1.0, "
                        "TensorFlow's initial value")
    return problems
