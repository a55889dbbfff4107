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

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

from .activations import known
from .cells import CanonicalWeights, GruCell, GruModule, modules_difference, structure_difference
from .defaults import DEFAULT_TOLERANCE
from .errors import VerificationError
from .gru import merge_outputs, random_inputs, run_cell_in_module
from .progress import steps
from .threads import blas_threads

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .progress import Progress



@dataclass
class Comparison:
    """One pair compared, a pair of cells or of whole modules: the largest output
    difference, or the problem that kept the pair from being run."""

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


# The names the rest of the code reads: what is compared, cells or modules.
CellComparison: TypeAlias = Comparison
ModuleComparison: TypeAlias = Comparison


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


@dataclass
class CheckInputs:
    """What both sides of a module's check run on: the sequences, and per sequence the
    initial state of the cell in each place (model order), the same on both sides."""

    sequences: list[np.ndarray]
    states: list[list[np.ndarray]]

    @classmethod
    def of(cls, module: GruModule, seed: int = 0) -> CheckInputs:
        sequences = random_inputs(module.input_size, seed=seed, lengths=CHECK_LENGTHS,
                                  batch=CHECK_BATCH)
        rng = np.random.default_rng(seed + 1)
        # Every cell starts from a random non-zero state, the same for the two cells in its place.
        states = [[rng.uniform(-1.0, 1.0, size=(x.shape[1], cell.hidden_size))
                   for cell in module.ordered_cells()] for x in sequences]
        return cls(sequences, states)


@dataclass
class SideRun:
    """One side of a module's check, run: each cell's outputs (model order) and the
    module's, per sequence, computed in `dtype`."""

    dtype: np.dtype
    cells: list[list[np.ndarray]]
    outputs: list[np.ndarray]


class ModuleRunner:
    """Runs one side of a module's check layer by layer, as its cells' weights arrive in
    model order (`feed`), holding one cell's weights at a time: the check of a conversion
    runs the source while it is being converted, so the source is read once."""

    def __init__(self, module: GruModule, inputs: Callable[[], CheckInputs], dtype: np.dtype):
        """`inputs`: made when the first cell arrives, after its weights were read (and
        bounded by what the machine can give: see grutool.memory)."""
        self.module, self._make_inputs, self.dtype = module, inputs, np.dtype(dtype)
        self.inputs: CheckInputs | None = None
        self._layers = module.layers()
        self._place = {id(cell): index for index, cell in enumerate(module.ordered_cells())}
        self._layer_input: list[np.ndarray] = []
        self._layer = 0
        self._done: list[GruCell] = []
        self._cells: list[list[np.ndarray] | None] = [None] * len(self._place)
        self.broken = False  # cells came out of order: the run cannot be used

    def feed(self, cell: GruCell, weights: CanonicalWeights) -> None:
        """Run `cell` over every sequence; `weights` is consumed (see gru.run_cell_sequences)."""
        if self.broken or self._layer >= len(self._layers) \
                or not any(cell is other for other in self._layers[self._layer]) \
                or self._cells[self._place[id(cell)]] is not None:  # fed twice
            self.broken = True
            return
        if self.inputs is None:
            self.inputs = self._make_inputs()
            self._layer_input = [x.astype(self.dtype) for x in self.inputs.sequences]
        place = self._place[id(cell)]
        initial = [state[place] for state in self.inputs.states]
        with blas_threads(1):  # vector-matrix products: see grutool.threads
            self._cells[place] = run_cell_in_module(cell, weights, self._layer_input, initial,
                                                    self.dtype)
        self._done.append(cell)
        layer = self._layers[self._layer]
        if len(self._done) == len(layer):
            # every cell of the layer has run (each once: see the guard above)
            outputs = [cast("list[np.ndarray]", self._cells[self._place[id(c)]]) for c in layer]
            self._layer_input = [merge_outputs([o[s] for o in outputs], self.module.merge)
                                 for s in range(len(self.inputs.sequences))]
            self._layer, self._done = self._layer + 1, []

    def result(self) -> SideRun | None:
        """The run, or None when it is incomplete or its cells came out of order."""
        if self.broken or self._layer != len(self._layers):
            return None
        # every layer ran whole, so every cell has its outputs
        return SideRun(self.dtype, cast("list[list[np.ndarray]]", list(self._cells)), self._layer_input)


def run_side(module: GruModule, weights_of: WeightsOf, inputs: CheckInputs,
             dtype: np.dtype) -> SideRun:
    """One side of a module's check: layer by layer, one cell's weights read, run over every
    sequence and dropped before the next cell's are read."""
    runner = ModuleRunner(module, lambda: inputs, dtype)
    for cell in module.ordered_cells():
        runner.feed(cell, dict(weights_of(cell)))
    run = runner.result()
    assert run is not None
    return run


def compare_modules(module_a: GruModule, weights_a: WeightsOf, module_b: GruModule,
                    weights_b: WeightsOf, seed: int = 0, allow_reset_difference: bool = False,
                    run_a: SideRun | None = None) -> tuple[ModuleComparison, list[CellComparison]]:
    """Structure first, then the two whole modules run on the same random sequences.
    `allow_reset_difference`: measure an inexact conversion (reset placement changed).
    `run_a`: side A already run (by a `ModuleRunner` on `CheckInputs.of(module_a, seed)`).

    Each side runs layer by layer, one cell of one side in memory at a time (`run_side`):
    memory holds one cell whatever the size of the module. Each side's layer k+1 reads its
    own layer k's (merged) outputs, so the last layer's outputs are the whole modules'; each
    cell's outputs are compared with the other side's cell in the same place."""
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
                  for a, b in zip(cells_a, cells_b, strict=True)] if len(cells_a) == len(cells_b) else [])
        return ModuleComparison(module_a.name, module_b.name, None, problem), pairs
    dtype = check_dtype(module_a, module_b)
    inputs = CheckInputs.of(module_a, seed)
    if run_a is None or run_a.dtype != dtype:
        run_a = run_side(module_a, weights_a, inputs, dtype)
    run_b = run_side(module_b, weights_b, inputs, dtype)
    cells = [CellComparison(a.name, b.name,
                            max(_max_difference(x, y) for x, y in zip(out_a, out_b, strict=True)))
             for a, b, out_a, out_b in zip(cells_a, cells_b, run_a.cells, run_b.cells,
                                           strict=True)]
    worst_module = max(_max_difference(x, y) for x, y in zip(run_a.outputs, run_b.outputs, strict=True))
    return ModuleComparison(module_a.name, module_b.name, worst_module), cells


def verify_modules(modules_a: list[GruModule], weights_a: WeightsOf,
                   modules_b: list[GruModule], weights_b: WeightsOf,
                   tolerance: float = DEFAULT_TOLERANCE, seed: int = 0,
                   allow_reset_difference: bool = False,
                   runs_a: dict[str, SideRun | None] | None = None,
                   progress: Progress | None = None) -> Verification:
    """Compare two lists of modules, paired in model order. `runs_a`: module name -> side A
    already run, where it was (see `compare_modules`). `progress` wraps the loop over the
    pairs (see grutool.progress)."""
    result = Verification(tolerance)
    if len(modules_a) != len(modules_b):
        result.problem = modules_difference(modules_a, modules_b)
        return result
    pairs = list(zip(modules_a, modules_b, strict=True))
    for module_a, module_b in steps(progress, pairs, "checking"):
        module, cells = compare_modules(module_a, weights_a, module_b, weights_b, seed,
                                        allow_reset_difference,
                                        (runs_a or {}).get(module_a.name))
        result.modules.append(module)
        result.comparisons.extend(cells)
    return result


def verify_checkpoints(a: Checkpoint, b: Checkpoint, tolerance: float = DEFAULT_TOLERANCE,
                       seed: int = 0, progress: Progress | None = None) -> Verification:
    """Each side's weights are read as its layers run, one cell at a time; `progress` wraps
    the loop over module pairs."""
    return verify_modules(a.modules, a.read_weights, b.modules, b.read_weights, tolerance, seed,
                          progress=progress)
