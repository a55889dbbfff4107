"""Per-gate statistics and the health flags `inspect` and `check` show."""

from __future__ import annotations

from typing import Any

import numpy as np

from .cells import CANONICAL_NAMES, CanonicalWeights, GruCell

# TF 1 GRUCell (and GRUBlockCell) initialise the gates bias to exactly 1.0; a checkpoint
# that still holds that value was saved before any training step.
UNTRAINED_BIAS_LAYOUTS = ("tf-gru-cell", "tf-gru-block-cell")


# Arrays up to this many elements are summarised at once; larger ones block by block, so that
# no float64 copy of a whole gate (32 MiB for a 2048 x 2048 one) is ever made.
BLOCK_ELEMENTS = 2**20


def array_stats(array: np.ndarray) -> dict[str, Any]:
    """Shape, NaN and Inf counts, and the mean, std, min and max of the finite values, in
    float64 accumulators. Views (a gate sliced out of a fused tensor) are read in place."""
    values = np.asarray(array)
    if values.size <= BLOCK_ELEMENTS:
        stats = _block_stats(values)
    else:
        stats = _combine(_block_stats(block) for block in _blocks(values))
        stats["std"] = float(np.sqrt(stats["m2"] / stats["count"])) if stats["count"] else None
    return {"shape": list(values.shape), **{key: stats[key] for key in
                                            ("nan", "inf", "mean", "std", "min", "max")}}


def _block_stats(values: np.ndarray) -> dict[str, Any]:
    if values.dtype.kind != "f" or values.dtype.itemsize < 4:
        values = values.astype(np.float64)  # bfloat16 (kind "V"), float16, ints
    stats: dict[str, Any] = {"nan": 0, "inf": 0}
    finite = np.isfinite(values)
    if not finite.all():  # the common case, all finite, skips the masking
        stats["nan"] = int(np.isnan(values).sum())
        stats["inf"] = int(values.size - finite.sum() - stats["nan"])
        values = values[finite]
    stats["count"] = int(values.size)
    if values.size:
        # float64 accumulators: no copy of a float32 array, no float32 rounding in the sums
        std = float(values.std(dtype=np.float64))
        stats.update(mean=float(values.mean(dtype=np.float64)), std=std,
                     m2=std * std * values.size,
                     min=float(values.min()), max=float(values.max()))
    else:
        stats.update(mean=None, std=None, m2=0.0, min=None, max=None)
    return stats


def _blocks(values: np.ndarray):
    """Views of `values` of about BLOCK_ELEMENTS each, covering it once."""
    if values.ndim <= 1 or values.flags.c_contiguous:
        flat = values.reshape(-1)  # a view: contiguous, or already flat
        for start in range(0, flat.size, BLOCK_ELEMENTS):
            yield flat[start:start + BLOCK_ELEMENTS]
        return
    per_row = values.size // values.shape[0]
    if per_row > BLOCK_ELEMENTS:
        for row in values:
            yield from _blocks(row)
        return
    rows = max(1, BLOCK_ELEMENTS // per_row)
    for start in range(0, values.shape[0], rows):
        yield values[start:start + rows]


def _combine(parts) -> dict[str, Any]:
    """Blocks' statistics merged exactly (Chan et al.'s pairwise update for mean and M2)."""
    total: dict[str, Any] = {"nan": 0, "inf": 0, "count": 0, "mean": None, "m2": 0.0,
                             "min": None, "max": None}
    for part in parts:
        total["nan"] += part["nan"]
        total["inf"] += part["inf"]
        count = part["count"]
        if not count:
            continue
        if not total["count"]:
            total.update(count=count, mean=part["mean"], m2=part["m2"], min=part["min"],
                         max=part["max"])
            continue
        merged = total["count"] + count
        delta = part["mean"] - total["mean"]
        total["mean"] += delta * count / merged
        total["m2"] += part["m2"] + delta * delta * total["count"] * count / merged
        total["count"] = merged
        total["min"] = min(total["min"], part["min"])
        total["max"] = max(total["max"], part["max"])
    return total


def gate_stats(weights: CanonicalWeights) -> dict[str, dict[str, Any]]:
    return {name: array_stats(weights[name]) for name in CANONICAL_NAMES if name in weights}


def looks_untrained(cell: GruCell, weights: CanonicalWeights) -> bool:
    if cell.layout not in UNTRAINED_BIAS_LAYOUTS:
        return False
    return all(np.all(np.asarray(weights[name]) == 1) for name in ("b_ir", "b_iz"))


def cell_problems(cell: GruCell, weights: CanonicalWeights,
                  stats_by_gate: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Plain-language findings about one cell: NaN/Inf values, untouched initial biases.
    `stats_by_gate`: the cell's `gate_stats`, when already computed."""
    problems = []
    if stats_by_gate is None:
        stats_by_gate = gate_stats(weights)
    for name, stats in stats_by_gate.items():
        if stats["nan"] or stats["inf"]:
            problems.append(f"{name} has {stats['nan']} NaN and {stats['inf']} Inf values")
    if looks_untrained(cell, weights):
        problems.append("looks untrained: the gates bias is still exactly 1.0, "
                        "TensorFlow's initial value")
    return problems
