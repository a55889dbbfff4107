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
    if values.dtype.kind not in "fc":  # bfloat16 is kind "V" in ml_dtypes
        values = values.astype(np.float64)
    values = values.astype(np.float64, copy=False)
    finite = np.isfinite(values)
    nan_count = int(np.isnan(values).sum())
    inf_count = int(values.size - finite.sum() - nan_count)
    good = values[finite]
    stats: dict[str, Any] = {"shape": list(values.shape), "nan": nan_count, "inf": inf_count}
    if good.size:
        stats.update(mean=float(good.mean()), std=float(good.std()),
                     min=float(good.min()), max=float(good.max()))
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
