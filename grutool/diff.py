"""`diff`: how much each gate changed between two checkpoints of one model.

Cells are paired in file order (module, layer, direction), like `verify`, so a checkpoint
diffed against its own split or converted file shows zero change although names differ.
Per canonical array (`W_ir` … `b_hn`):

- relative change ||a − b|| / ||a|| (Frobenius norm, float64); when ||a|| = 0 it is 0 if b is
  zero too and infinite otherwise (written as null in JSON, and above any threshold);
- max |Δ| = max |a − b|;
- cosine similarity a·b / (||a|| ||b||); 1 when both are zero, 0 when only one is.

A bias absent on one side counts as zero there; a bias absent on both sides is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .cells import CANONICAL_NAMES, CanonicalWeights, GruCell, modules_difference
from .progress import steps

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .progress import Progress


@dataclass
class GateChange:
    gate: str
    shape: list[int]
    relative_change: float
    max_abs_change: float
    cosine: float
    absent_in: str | None = None  # "a" or "b": that side has no such bias (zero)

    def exceeds(self, threshold: float) -> bool:
        # NaN compares false with everything; a gate that became NaN has changed.
        return math.isnan(self.relative_change) or self.relative_change > threshold

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.gate, "shape": self.shape,
                "relative_change": _finite_or_none(self.relative_change),
                "max_abs_change": _finite_or_none(self.max_abs_change),
                "cosine": _finite_or_none(self.cosine), "absent_in": self.absent_in}


@dataclass
class CellDiff:
    a: str
    b: str
    gates: list[GateChange]

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "gates": [g.to_json() for g in self.gates]}


@dataclass
class DiffReport:
    a: str
    b: str
    cells: list[CellDiff] = field(default_factory=list)
    problem: str | None = None  # the structures differ: no gate-by-gate comparison
    threshold: float | None = None

    def largest(self) -> tuple[CellDiff, GateChange] | None:
        pairs = [(cell, gate) for cell in self.cells for gate in cell.gates]
        if not pairs:
            return None
        return max(pairs, key=lambda pair: (math.isnan(pair[1].relative_change),
                                            pair[1].relative_change))

    @property
    def max_relative_change(self) -> float | None:
        largest = self.largest()
        return None if largest is None else largest[1].relative_change

    def above_threshold(self) -> list[tuple[CellDiff, GateChange]]:
        if self.threshold is None:
            return []
        return [(cell, gate) for cell in self.cells for gate in cell.gates
                if gate.exceeds(self.threshold)]

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.above_threshold()

    def to_json(self) -> dict[str, Any]:
        largest = self.largest()
        return {"a": self.a, "b": self.b, "ok": self.ok, "problem": self.problem,
                "threshold": self.threshold,
                "max_relative_change": (None if largest is None
                                        else _finite_or_none(largest[1].relative_change)),
                "largest_change": (None if largest is None
                                   else {"cell": largest[0].a, "gate": largest[1].gate}),
                "above_threshold": [{"cell": cell.a, "gate": gate.gate}
                                    for cell, gate in self.above_threshold()],
                "cells": [cell.to_json() for cell in self.cells]}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _as_float64(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).astype(np.float64)


def gate_change(gate: str, a: np.ndarray | None, b: np.ndarray | None) -> GateChange:
    """The change from `a` to `b`; None stands for an absent bias (zero)."""
    if a is None and b is None:
        raise ValueError(f"{gate}: absent on both sides")
    # Where one side is None the other is not (checked above).
    values_a = _as_float64(a) if a is not None else np.zeros(np.shape(cast(np.ndarray, b)))
    values_b = _as_float64(b) if b is not None else np.zeros(np.shape(cast(np.ndarray, a)))
    delta = values_a - values_b
    norm_a, norm_b = float(np.linalg.norm(values_a)), float(np.linalg.norm(values_b))
    norm_delta = float(np.linalg.norm(delta))
    if norm_a > 0:
        relative = norm_delta / norm_a
    else:
        relative = math.nan if math.isnan(norm_delta) else (0.0 if norm_delta == 0 else math.inf)
    if norm_a > 0 and norm_b > 0:
        cosine = float(np.dot(values_a.ravel(), values_b.ravel())) / (norm_a * norm_b)
    elif math.isnan(norm_a) or math.isnan(norm_b):
        cosine = math.nan
    else:
        cosine = 1.0 if norm_a == norm_b == 0 else 0.0
    max_abs = float(np.max(np.abs(delta))) if delta.size else 0.0
    absent = "a" if a is None else "b" if b is None else None
    return GateChange(gate, list(values_a.shape), relative, max_abs, cosine, absent)


def diff_cell(cell_a: GruCell, weights_a: CanonicalWeights, cell_b: GruCell,
              weights_b: CanonicalWeights) -> CellDiff:
    gates = [gate_change(name, weights_a.get(name), weights_b.get(name))
             for name in CANONICAL_NAMES if name in weights_a or name in weights_b]
    return CellDiff(cell_a.name, cell_b.name, gates)


def diff_checkpoints(a: Checkpoint, b: Checkpoint, threshold: float | None = None,
                     progress: Progress | None = None) -> DiffReport:
    """Per cell and gate, the change from `a` to `b`. A structural difference (modules,
    layers, directions, merge, sizes, reset placement, activations; `cells.modules_difference`,
    the rule `verify` uses) is reported in `problem` and nothing is compared. `progress`
    wraps the loop over the pairs of cells (see grutool.progress)."""
    report = DiffReport(str(a.path), str(b.path), threshold=threshold)
    # Structure first, so that a mismatch is reported without reading any weights.
    report.problem = modules_difference(a.modules, b.modules)
    if report.problem:
        return report
    pairs = list(zip(a.cells, b.cells, strict=True))
    report.cells = [diff_cell(cell_a, a.canonical(cell_a), cell_b, b.canonical(cell_b))
                    for cell_a, cell_b in steps(progress, pairs, "comparing")]
    return report
