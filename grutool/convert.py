"""`convert`: re-lay cells out for another framework, and prove it before publishing.

The file is written one cell (or layer) at a time into a temporary file beside the output
(`writers.array_writer`), so memory holds one cell whatever the size of the model. Then the
proof: the written file is opened as any file is (its tensors and `__grutool__` metadata,
with the same reader and family code), its modules are compared with the source's, and both
run through the reference GRU on random inputs with a non-zero initial state, layer by layer
(`verify`). Above tolerance the temporary file is removed and nothing is written; otherwise
the measured error is added to the file's metadata and the file renamed into place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from . import families, targets
from ._version import __version__
from .cells import CanonicalWeights, GruCell, GruModule
from .checkpoint import Checkpoint, open_checkpoint
from .errors import InexactConversionError, UsageError
from .progress import Progress, steps
from .tensors import METADATA_KEY, MemorySource
from .verify import DEFAULT_TOLERANCE, CheckInputs, ModuleRunner, Verification, check_dtype, verify_modules
from .writers import ArrayWriter, array_writer, check_output, header_hint, output_format


@dataclass
class Conversion:
    """A conversion `convert` accepted: the modules and the target, read from `checkpoint`.

    `write_conversion` streams it to a file and proves the file. A library caller who wants
    the converted arrays in memory instead reads `arrays` (the whole conversion at once) and
    `verification` (the proof run on those arrays), made on first use while the checkpoint
    is open."""

    target: str
    source: Path
    modules: list[GruModule]
    inexact_cells: list[str] = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE
    checkpoint: Checkpoint | None = field(default=None, repr=False)
    # The names of the tensors written (or made), in order.
    keys: list[str] = field(default_factory=list)
    _arrays: dict[str, np.ndarray] | None = field(default=None, repr=False)
    _verification: Verification | None = field(default=None, repr=False)

    def _checkpoint(self) -> Checkpoint:
        """The checkpoint the weights are read from (`convert` always gives one)."""
        if self.checkpoint is None:
            raise UsageError("this conversion has no checkpoint to read the weights from",
                             self.source)
        return self.checkpoint

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every converted tensor, in memory."""
        if self._arrays is None:
            weights = {cell.name: self._checkpoint().canonical(cell)
                       for module in self.modules for cell in module.cells}
            self._arrays = targets.target(self.target).from_canonical(self.modules, weights)
            self.keys = list(self._arrays)
        return self._arrays

    @property
    def verification(self) -> Verification:
        """The proof: of the file written, once `write_conversion` has run; else of `arrays`."""
        if self._verification is None:
            self._verification = self._prove_arrays()
        return self._verification

    @verification.setter
    def verification(self, value: Verification) -> None:
        self._verification = value

    def _prove_arrays(self) -> Verification:
        # The converted tensors are read back as a user would read them (the metadata
        # included), their modules found with the same code as for any file.
        target = targets.target(self.target)
        arrays = self.arrays
        read_back = getattr(target, "read_back", None)
        if read_back is not None:
            source_back = read_back(arrays, self.modules)
        else:
            source_back = MemorySource(arrays, f"<{self.target} conversion>", text_metadata={
                METADATA_KEY: json.dumps(self.metadata(None))})
        recognised = families.recognise(source_back)
        return verify_modules(
            self.modules, self._checkpoint().read_weights, recognised.modules,
            lambda cell: families.to_canonical(cell, source_back.read), self.tolerance,
            allow_reset_difference=bool(self.inexact_cells))

    def metadata(self, verification: Verification | None = None) -> dict[str, Any]:
        return {
            "grutool_version": __version__, "target": self.target, "source": str(self.source),
            "modules": [module.to_json() for module in self.modules],
            "cells": {cell.name: self._cell_metadata(module, cell)
                      for module in self.modules for cell in module.cells},
            "verification": (verification.to_json()
                             if verification is not None and verification.modules else None),
            "inexact_cells": self.inexact_cells,
        }

    def _cell_metadata(self, module: GruModule, cell: GruCell) -> dict[str, Any]:
        return cell_metadata(targets.target(self.target), module, cell)

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": self.target,
                "modules": [module.name for module in self.modules],
                "keys": list(self.keys), "inexact_cells": self.inexact_cells,
                "verification": self.verification.to_json()}


def cell_metadata(target, module: GruModule, cell: GruCell) -> dict[str, Any]:
    """What the converted file's metadata says of one source cell: its facts, the name grutool
    gives it when reading the converted file (`target_name`), and where the target keeps its
    tensors (`target_prefix`, for targets that keep cells apart)."""
    facts = {key: value for key, value in cell.to_json().items() if key != "name"}
    facts["target_name"] = target.cell_name(module, cell)
    cell_prefix = getattr(target, "cell_prefix", None)
    if cell_prefix is not None:
        facts["target_prefix"] = cell_prefix(module, cell)
    return facts


def _placement(reset_after: bool) -> str:
    return "after" if reset_after else "before"


def exact_targets(reset_after: bool) -> list[str]:
    return [name for name in targets.names() if reset_after in targets.target(name).RESET_AFTER]


def select_modules(checkpoint: Checkpoint, module: str | None, single: bool) -> list[GruModule]:
    modules = checkpoint.modules
    if module is not None:
        chosen = [m for m in modules if m.name == module]
        if not chosen:
            raise UsageError(f"no module named {module!r}; the file has: "
                             f"{', '.join(m.name for m in modules)}", checkpoint.path)
        return chosen
    if single and len(modules) > 1:
        raise UsageError(f"the file has {len(modules)} modules; choose one with --module "
                         f"({', '.join(m.name for m in modules)})", checkpoint.path)
    return modules


def convert(checkpoint: Checkpoint, to: str, module: str | None = None,
            allow_inexact: bool = False, tolerance: float = DEFAULT_TOLERANCE,
            progress: Progress | None = None) -> Conversion:
    """Convert the cells of `checkpoint` for framework `to`; raises InexactConversionError
    where the target cannot compute the same function and `allow_inexact` is false.
    `progress` wraps reading the cells and the check (see grutool.progress)."""
    target = targets.target(to)
    checkpoint.require_cells()
    modules = select_modules(checkpoint, module, single=getattr(target, "ONE_MODULE", False))
    cells = [cell for m in modules for cell in m.cells]
    reasons = [target.unsupported(cell) for cell in cells]
    reasons += [getattr(target, "unsupported_module", lambda m: None)(m) for m in modules]
    for reason in filter(None, reasons):
        raise InexactConversionError(f"cannot convert to {to}: {reason}", checkpoint.path)
    inexact = [cell.name for cell in cells if cell.reset_after not in target.RESET_AFTER]
    if inexact and not allow_inexact:
        first = checkpoint.cell(inexact[0])
        raise InexactConversionError(
            f"cannot convert exactly to {to}: {first.name} applies the reset gate "
            f"{_placement(first.reset_after)} the recurrent product and {to}'s GRU only "
            f"{_placement(not first.reset_after)}, which computes a different function",
            checkpoint.path,
            hint=f"exact targets for this file: {', '.join(exact_targets(first.reset_after))}; "
                 "--allow-inexact converts anyway and reports the error")
    return Conversion(to, checkpoint.path, modules, inexact, tolerance, checkpoint)


def write_conversion(conversion: Conversion, out: Path, force: bool, inputs: list[Path],
                     progress: Progress | None = None) -> None:
    """Write the converted tensors to `out`, one cell at a time, then prove the file written;
    unless the proof passes (or the conversion is inexact and allowed, with its error
    reported), nothing is left at `out`. `progress`, if given, wraps the loop over the cells.

    `.pt` and `.ckpt` are written by torch and TensorFlow themselves, from the whole
    conversion in memory, after the proof of the arrays."""
    target = targets.target(conversion.target)
    suffix = out.suffix.lower()
    output_format(out, target.SUFFIXES)
    for path in getattr(target, "output_files", lambda p: [p])(out):
        check_output(path, force, inputs)
    stream_writer = getattr(target, "stream_writer", None)
    if suffix in getattr(target, "OWN_SUFFIXES", ()) and stream_writer is None:
        _refuse_failures(conversion, conversion.verification)
        target.write(out, conversion.arrays, conversion.metadata(conversion.verification),
                     conversion.modules)
        return
    checkpoint = conversion._checkpoint()
    cells = [cell for module in conversion.modules for cell in module.cells]
    ticks = iter(steps(progress, cells, "converting")) if progress is not None else None

    # The source's side of the proof runs as each cell is converted (its weights are in
    # hand), so that the proof after the write reads only the written file.
    runners = {module.name: ModuleRunner(module, partial(CheckInputs.of, module),
                                         check_dtype(module))
               for module in conversion.modules}

    def weights_of(cell: GruCell) -> CanonicalWeights:
        if ticks is not None:
            next(ticks, None)
        weights = checkpoint.read_weights(cell)
        runners[cell.module].feed(cell, dict(weights))
        return weights

    metadata = conversion.metadata(None)
    factory = None
    if suffix in getattr(target, "OWN_SUFFIXES", ()) and stream_writer is not None:
        def factory(temporary: Path, label: Path, hint: int) -> ArrayWriter:
            return stream_writer(temporary, label, conversion.modules, hint)
    names = [f"{cell.name}/{key}" for cell in cells for key in ("kernel", "recurrent", "bias")]
    with array_writer(out, header_hint(names, metadata), factory) as writer:
        for name, array in target.iter_arrays(conversion.modules, weights_of):
            writer.add(name, array)
            del array
        if ticks is not None:
            next(ticks, None)  # the bar ends with the last cell
        writer.finish(metadata)
        conversion.keys = list(writer.names)
        with writer.proof_source() as written, open_checkpoint(written) as back:
            verification = verify_modules(
                conversion.modules, checkpoint.read_weights, back.modules, back.read_weights,
                conversion.tolerance, allow_reset_difference=bool(conversion.inexact_cells),
                runs_a={name: runner.result() for name, runner in runners.items()},
                progress=progress)
        conversion.verification = verification
        _refuse_failures(conversion, verification)
        writer.replace_metadata(writer.path, conversion.metadata(verification))


def _refuse_failures(conversion: Conversion, verification: Verification) -> None:
    """Raise VerificationError unless the proof passed, or failed only numerically on cells
    whose inexact conversion was allowed (a structure that did not survive always fails)."""
    inexact = set(conversion.inexact_cells)
    module_cells = {module.name: {cell.name for cell in module.cells} for module in conversion.modules}
    exact_failures = [m for m in verification.modules if m.problem or (
        not m.ok(verification.tolerance) and not module_cells.get(m.a, set()) & inexact)]
    if verification.problem or exact_failures or (not verification.ok and not inexact):
        verification.raise_if_failed(str(conversion.source))
