"""Do two sets of GRU modules compute the same function?

Modules are paired in model order (a TF stack and its PyTorch conversion pair up although
their names differ). Each pair is compared as a structure first (`cells.structure_difference`:
layers, directions, merge, reset placement, activations, sizes): a difference there is a
failure named in one sentence, whatever the weights. Then both whole modules run through the
reference GRU (what `gru.run_module` computes: every layer, both directions, the merge) on
random sequences of several lengths, every cell starting from a random non-zero state (the
same for the two cells in the same place), and the largest output difference is the
module's error. Each cell's own output is compared too, so a failure names the first cell
that goes wrong. The modules run layer by layer, one cell of one side in memory at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .activations import known
from .cells import CanonicalWeights, GruCell, GruModule, modules_difference, structure_difference
from .errors import VerificationError
from .gru import merge_outputs, random_inputs, run_cell_in_module
from .threads import blas_threads

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


# The sequences every check runs: lengths that reach a state far from the initial one, and
# one sequence of each (a batch of one: each step is then a vector-matrix product, which
# reads each matrix once; a batch of three costs four times as long and finds nothing more).
CHECK_LENGTHS = (1, 7, 23)
CHECK_BATCH = 1


def check_dtype(*modules: GruModule) -> np.dtype:
    """The precision of the check: the weights' own, at least float32 (float64 when a side
    holds float64 weights). Both sides compute alike, so equal weights give equal outputs;
    float32 is what the frameworks compute in, and halves the memory and time of float64."""
    wide = any(cell.dtype in ("float64", "complex128") for module in modules
               for cell in module.cells)
    return np.dtype(np.float64 if wide else np.float32)


def compare_modules(module_a: GruModule, weights_a: WeightsOf, module_b: GruModule,
                    weights_b: WeightsOf, seed: int = 0, allow_reset_difference: bool = False
                    ) -> tuple[ModuleComparison, list[CellComparison]]:
    """Structure first, then the two whole modules run on the same random sequences.
    `allow_reset_difference`: measure an inexact conversion (reset placement changed).

    Layer by layer, and within a layer one cell of one side at a time: a cell's weights are
    read, run over every sequence and dropped before the next cell's are read, so memory
    holds one cell whatever the size of the module. Each side's layer k+1 reads its own
    layer k's (merged) outputs, so the last layer's outputs are the whole modules'."""
    cells_a, cells_b = module_a.ordered_cells(), module_b.ordered_cells()
    problem = structure_difference(module_a, module_b, allow_reset_difference) \
        or _unrunnable(module_a) \
        or _unrunnable(module_b)
    if problem:
        pairs = ([CellComparison(a.name, b.name, None, "not compared: the modules differ")
                  for a, b in zip(cells_a, cells_b)] if len(cells_a) == len(cells_b) else [])
        return ModuleComparison(module_a.name, module_b.name, None, problem), pairs
    dtype = check_dtype(module_a, module_b)
    sequences = random_inputs(module_a.input_size, seed=seed, lengths=CHECK_LENGTHS,
                              batch=CHECK_BATCH)
    rng = np.random.default_rng(seed + 1)
    # Every cell starts from a random non-zero state, the same for the two cells in its place.
    states = [{a.name: rng.uniform(-1.0, 1.0, size=(x.shape[1], a.hidden_size))
               for a in cells_a} for x in sequences]
    inputs_a = [x.astype(dtype) for x in sequences]
    inputs_b = list(inputs_a)
    errors: dict[str, float] = {}
    with blas_threads(1):  # vector-matrix products: see grutool.threads
        for layer_a, layer_b in zip(module_a.layers(), module_b.layers(), strict=True):
            outputs_a, outputs_b = [], []
            for a, b in zip(layer_a, layer_b, strict=True):
                initial = [state[a.name] for state in states]
                out_a = run_cell_in_module(a, dict(weights_a(a)), inputs_a, initial, dtype)
                out_b = run_cell_in_module(b, dict(weights_b(b)), inputs_b, initial, dtype)
                errors[a.name] = max(_max_difference(x, y) for x, y in zip(out_a, out_b))
                outputs_a.append(out_a)
                outputs_b.append(out_b)
            inputs_a = [merge_outputs([o[s] for o in outputs_a], module_a.merge)
                        for s in range(len(sequences))]
            inputs_b = [merge_outputs([o[s] for o in outputs_b], module_b.merge)
                        for s in range(len(sequences))]
    worst_module = max(_max_difference(x, y) for x, y in zip(inputs_a, inputs_b))
    cells = [CellComparison(a.name, b.name, errors[a.name])
             for a, b in zip(cells_a, cells_b, strict=True)]
    return ModuleComparison(module_a.name, module_b.name, worst_module), cells


def verify_modules(modules_a: list[GruModule], weights_a: WeightsOf,
                   modules_b: list[GruModule], weights_b: WeightsOf,
                   tolerance: float = DEFAULT_TOLERANCE, seed: int = 0,
                   allow_reset_difference: bool = False) -> Verification:
    """Compare two lists of modules, paired in model order."""
    result = Verification(tolerance)
    if len(modules_a) != len(modules_b):
        result.problem = modules_difference(modules_a, modules_b)
        return result
    for module_a, module_b in zip(modules_a, modules_b, strict=True):
        module, cells = compare_modules(module_a, weights_a, module_b, weights_b, seed,
                                        allow_reset_difference)
        result.modules.append(module)
        result.comparisons.extend(cells)
    return result


def verify_checkpoints(a: "Checkpoint", b: "Checkpoint", tolerance: float = DEFAULT_TOLERANCE,
                       seed: int = 0) -> Verification:
    return verify_modules(a.modules, a.read_weights, b.modules, b.read_weights, tolerance, seed)
