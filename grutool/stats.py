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
    if values.size <= SMALL_ELEMENTS:
        fast = _small_stats(values)
        if fast is not None:
            return fast
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


# Below this many elements NumPy's mean and std cost more in Python-level overhead than in
# arithmetic; a file of 2000 small cells has 24000 such arrays.
SMALL_ELEMENTS = 4096


def _small_stats(values: np.ndarray) -> dict[str, Any] | None:
    """The same figures as `values.mean(dtype=float64)` and `.std(dtype=float64)`, computed as
    NumPy does (a float64 sum, then the sum of squared deviations from the mean) with fewer
    calls; None when a value is not finite (the general path counts them)."""
    wide = values.astype(np.float64).reshape(-1)
    total = wide.sum()
    if not np.isfinite(total) or not wide.size:
        return None  # NaN or Inf somewhere (or an overflow): the general path sorts it out
    mean = total / wide.size
    deviations = wide - mean
    m2 = float((deviations * deviations).sum())
    return {"nan": 0, "inf": 0, "count": int(wide.size), "mean": float(mean),
            "std": float(np.sqrt(m2 / wide.size)), "m2": m2,
            "min": float(wide.min()), "max": float(wide.max())}


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
    names = [name for name in CANONICAL_NAMES if name in weights]
    together = _small_cell_stats([np.asarray(weights[name]) for name in names])
    if together is not None:
        return dict(zip(names, together, strict=True))
    return {name: array_stats(weights[name]) for name in names}


def _small_cell_stats(arrays: list[np.ndarray]) -> list[dict[str, Any]] | None:
    """`array_stats` of a small cell's arrays all at once: one float64 copy of them end to end
    and the sums of each array's segment (`reduceat`), a dozen NumPy calls per cell instead
    of a dozen per array (a file of 2000 small cells has 24000 arrays). `reduceat` adds in
    order where `sum` adds pairwise: the figures agree with `array_stats` to a few units in
    the last place. None when the general path must decide (big, empty, not numbers, NaN
    or Inf)."""
    sizes = [array.size for array in arrays]
    if not arrays or 0 in sizes or max(sizes) > SMALL_ELEMENTS \
            or any(array.dtype.kind not in "fiu" for array in arrays):
        return None
    flat = np.concatenate([array.astype(np.float64).reshape(-1) for array in arrays])
    starts = np.cumsum([0, *sizes[:-1]])
    counts = np.asarray(sizes, dtype=np.float64)
    totals = np.add.reduceat(flat, starts)
    if not np.isfinite(totals).all():
        return None
    means = totals / counts
    deviations = flat - np.repeat(means, sizes)
    m2 = np.add.reduceat(deviations * deviations, starts)
    stds = np.sqrt(m2 / counts)
    lows, highs = np.minimum.reduceat(flat, starts), np.maximum.reduceat(flat, starts)
    return [{"shape": list(array.shape), "nan": 0, "inf": 0, "mean": float(mean),
             "std": float(std), "min": float(low), "max": float(high)}
            for array, mean, std, low, high in zip(arrays, means, stds, lows, highs, strict=True)]


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
