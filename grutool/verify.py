"""Numerical equivalence of two sets of GRU cells.

Two cells compute the same function when the reference GRU (grutool.gru), run with each
cell's own reset placement and activations on the same random inputs and the same non-zero
initial state, gives the same outputs. Cells are paired in file order (module, layer,
direction), so a TF stack and its PyTorch conversion pair up although their names differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .cells import CanonicalWeights, GruCell, Recognition
from .errors import VerificationError
from .gru import random_inputs, run_cell

if TYPE_CHECKING:
    from .api import Checkpoint

DEFAULT_TOLERANCE = 1e-5


@dataclass
class CellComparison:
    a: str
    b: str
    max_abs_error: float | None
    problem: str | None = None

    def ok(self, tolerance: float) -> bool:
        return (self.problem is None and self.max_abs_error is not None
                and self.max_abs_error <= tolerance)

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "max_abs_error": self.max_abs_error,
                "problem": self.problem}


@dataclass
class Verification:
    tolerance: float
    comparisons: list[CellComparison] = field(default_factory=list)
    problem: str | None = None

    @property
    def max_abs_error(self) -> float | None:
        errors = [c.max_abs_error for c in self.comparisons if c.max_abs_error is not None]
        return max(errors) if errors else None

    @property
    def ok(self) -> bool:
        return (self.problem is None and bool(self.comparisons)
                and all(c.ok(self.tolerance) for c in self.comparisons))

    def failure(self) -> str:
        if self.problem:
            return self.problem
        for c in self.comparisons:
            if c.problem:
                return f"{c.a} vs {c.b}: {c.problem}"
        return (f"outputs differ by up to {self.max_abs_error:.3g} "
                f"(tolerance {self.tolerance:g})")

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "tolerance": self.tolerance, "max_abs_error": self.max_abs_error,
                "problem": None if self.ok else self.failure(),
                "cells": [c.to_json() for c in self.comparisons]}

    def raise_if_failed(self, path: str | None = None) -> None:
        if not self.ok:
            raise VerificationError(f"numerical verification failed: {self.failure()}", path)


def cell_order(cells: list[GruCell]) -> list[GruCell]:
    """Modules in file order, each bottom layer first, forward before reverse."""
    return [cell for module in Recognition(cells).modules
            for layer in module.layers() for cell in layer]


def compare_cells(cell_a: GruCell, weights_a: CanonicalWeights, cell_b: GruCell,
                  weights_b: CanonicalWeights, seed: int = 0) -> CellComparison:
    if (cell_a.input_size, cell_a.hidden_size) != (cell_b.input_size, cell_b.hidden_size):
        return CellComparison(cell_a.name, cell_b.name, None,
                              f"sizes differ: {cell_a.input_size}→{cell_a.hidden_size} vs "
                              f"{cell_b.input_size}→{cell_b.hidden_size}")
    rng = np.random.default_rng(seed + 1)
    worst = 0.0
    for inputs in random_inputs(cell_a.input_size, seed=seed):
        initial = rng.uniform(-1.0, 1.0, size=(inputs.shape[1], cell_a.hidden_size))
        outputs = [run_cell(weights, inputs, cell.reset_after, initial,
                            activation=cell.activation,
                            recurrent_activation=cell.recurrent_activation)
                   for cell, weights in ((cell_a, weights_a), (cell_b, weights_b))]
        difference = np.abs(outputs[0] - outputs[1])
        worst = max(worst, float(np.nanmax(difference)) if difference.size else 0.0)
        if np.isnan(difference).any():
            worst = float("inf")
    return CellComparison(cell_a.name, cell_b.name, worst)


def verify_cells(cells_a: list[tuple[GruCell, CanonicalWeights]],
                 cells_b: list[tuple[GruCell, CanonicalWeights]],
                 tolerance: float = DEFAULT_TOLERANCE, seed: int = 0) -> Verification:
    """Compare two lists of (cell, canonical weights), paired in order."""
    result = Verification(tolerance)
    if len(cells_a) != len(cells_b):
        result.problem = f"different numbers of GRU cells: {len(cells_a)} vs {len(cells_b)}"
        return result
    for (cell_a, weights_a), (cell_b, weights_b) in zip(cells_a, cells_b):
        result.comparisons.append(compare_cells(cell_a, weights_a, cell_b, weights_b, seed))
    return result


def verify_checkpoints(a: "Checkpoint", b: "Checkpoint", tolerance: float = DEFAULT_TOLERANCE,
                       seed: int = 0) -> Verification:
    return verify_cells([(cell, a.canonical(cell)) for cell in cell_order(a.cells)],
                        [(cell, b.canonical(cell)) for cell in cell_order(b.cells)],
                        tolerance, seed)
