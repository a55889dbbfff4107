"""Do two sets of GRU modules compute the same function?

Modules are paired in model order (a TF stack and its PyTorch conversion pair up although
their names differ). Each pair is compared as a structure first (`cells.structure_difference`:
layers, directions, merge, reset placement, activations, sizes): a difference there is a
failure named in one sentence, whatever the weights. Then both whole modules run through the
reference GRU (`gru.run_module`: every layer, both directions, the merge) on random sequences
of several lengths, every cell starting from a random non-zero state (the same for the two
cells in the same place), and the largest output difference is the module's error. Each
cell's own output is compared too, so a failure names the first cell that goes wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .activations import known
from .cells import CanonicalWeights, GruCell, GruModule, modules_difference, structure_difference
from .errors import VerificationError
from .gru import random_inputs, run_module
from .progress import steps

if TYPE_CHECKING:
    from .api import Checkpoint
    from .progress import Progress

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
class ModuleComparison:
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
    modules: list[ModuleComparison] = field(default_factory=list)
    problem: str | None = None

    @property
    def max_abs_error(self) -> float | None:
        errors = [c.max_abs_error for c in [*self.modules, *self.comparisons]
                  if c.max_abs_error is not None]
        return max(errors) if errors else None

    @property
    def ok(self) -> bool:
        return (self.problem is None and bool(self.modules)
                and all(m.ok(self.tolerance) for m in self.modules)
                and all(c.ok(self.tolerance) for c in self.comparisons))

    def failure(self) -> str:
        if self.problem:
            return self.problem
        for m in self.modules:
            if m.problem:
                return m.problem
        for c in self.comparisons:
            if c.problem:
                return f"{c.a} vs {c.b}: {c.problem}"
            if not c.ok(self.tolerance):
                return (f"{c.a} vs {c.b}: outputs differ by up to {c.max_abs_error:.3g} "
                        f"(tolerance {self.tolerance:g})")
        if not self.modules:
            return "no modules were compared"
        return (f"outputs differ by up to {self.max_abs_error:.3g} "
                f"(tolerance {self.tolerance:g})")

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "tolerance": self.tolerance, "max_abs_error": self.max_abs_error,
                "problem": None if self.ok else self.failure(),
                "modules": [m.to_json() for m in self.modules],
                "cells": [c.to_json() for c in self.comparisons]}

    def raise_if_failed(self, path: str | None = None) -> None:
        if not self.ok:
            raise VerificationError(f"numerical verification failed: {self.failure()}", path)


WeightsOf = Callable[[GruCell], CanonicalWeights]


def _unrunnable(module: GruModule) -> str | None:
    for cell in module.cells:
        for role in ("activation", "recurrent_activation"):
            name = getattr(cell, role)
            if not known(name):
                return (f"{cell.name}'s {role.replace('_', ' ')} is {name}, which grutool "
                        "cannot compute, so its outputs cannot be checked")
    return None


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    difference = np.abs(a - b)
    if np.isnan(difference).any():
        return float("inf")
    return float(difference.max()) if difference.size else 0.0


def compare_modules(module_a: GruModule, weights_a: WeightsOf, module_b: GruModule,
                    weights_b: WeightsOf, seed: int = 0, allow_reset_difference: bool = False
                    ) -> tuple[ModuleComparison, list[CellComparison]]:
    """Structure first, then the two whole modules run on the same random sequences.
    `allow_reset_difference`: measure an inexact conversion (reset placement changed)."""
    # A merge one file does not state is taken to be the other's: it matches any.
    if module_a.merge is None:
        module_a = replace(module_a, merge=module_b.merge)
    if module_b.merge is None:
        module_b = replace(module_b, merge=module_a.merge)
    cells_a, cells_b = module_a.ordered_cells(), module_b.ordered_cells()
    problem = structure_difference(module_a, module_b, allow_reset_difference) \
        or _unrunnable(module_a) \
        or _unrunnable(module_b)
    if problem:
        pairs = ([CellComparison(a.name, b.name, None, "not compared: the modules differ")
                  for a, b in zip(cells_a, cells_b)] if len(cells_a) == len(cells_b) else [])
        return ModuleComparison(module_a.name, module_b.name, None, problem), pairs
    # One module at a time: its weights are read here and dropped when it is done.
    wa = {cell.name: weights_a(cell) for cell in cells_a}
    wb = {cell.name: weights_b(cell) for cell in cells_b}
    rng = np.random.default_rng(seed + 1)
    worst_module = 0.0
    worst_cell = [0.0] * len(cells_a)
    for inputs in random_inputs(module_a.input_size, seed=seed):
        states_a, states_b = {}, {}
        for a, b in zip(cells_a, cells_b, strict=True):
            state = rng.uniform(-1.0, 1.0, size=(inputs.shape[1], a.hidden_size))
            states_a[a.name], states_b[b.name] = state, state
        outputs_a: dict[str, np.ndarray] = {}
        outputs_b: dict[str, np.ndarray] = {}
        result_a = run_module(module_a, wa, inputs, states_a, outputs_a)
        result_b = run_module(module_b, wb, inputs, states_b, outputs_b)
        worst_module = max(worst_module, _max_difference(result_a, result_b))
        for index, (a, b) in enumerate(zip(cells_a, cells_b, strict=True)):
            worst_cell[index] = max(worst_cell[index],
                                    _max_difference(outputs_a[a.name], outputs_b[b.name]))
    cells = [CellComparison(a.name, b.name, error)
             for a, b, error in zip(cells_a, cells_b, worst_cell, strict=True)]
    return ModuleComparison(module_a.name, module_b.name, worst_module), cells


def verify_modules(modules_a: list[GruModule], weights_a: WeightsOf,
                   modules_b: list[GruModule], weights_b: WeightsOf,
                   tolerance: float = DEFAULT_TOLERANCE, seed: int = 0,
                   allow_reset_difference: bool = False,
                   progress: "Progress | None" = None) -> Verification:
    """Compare two lists of modules, paired in model order. `progress` wraps the loop over
    the pairs (see grutool.progress)."""
    result = Verification(tolerance)
    if len(modules_a) != len(modules_b):
        result.problem = modules_difference(modules_a, modules_b)
        return result
    pairs = list(zip(modules_a, modules_b, strict=True))
    for module_a, module_b in steps(progress, pairs, "checking"):
        module, cells = compare_modules(module_a, weights_a, module_b, weights_b, seed,
                                        allow_reset_difference)
        result.modules.append(module)
        result.comparisons.extend(cells)
    return result


def verify_checkpoints(a: "Checkpoint", b: "Checkpoint", tolerance: float = DEFAULT_TOLERANCE,
                       seed: int = 0, progress: "Progress | None" = None) -> Verification:
    """`progress` wraps reading each file's cells, then the loop over module pairs."""
    if not modules_difference(a.modules, b.modules):
        for checkpoint in (a, b):
            for cell in steps(progress, checkpoint.cells, "reading"):
                checkpoint.canonical(cell)  # cached for the comparison
    return verify_modules(a.modules, a.canonical, b.modules, b.canonical, tolerance, seed,
                          progress=progress)
