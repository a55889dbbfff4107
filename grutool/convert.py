"""`convert`: re-lay cells out for another framework, and prove it before writing.

The proof: the converted tensors are read back by the same family code that reads the
target framework's files, and every cell, source and converted, runs through the reference
GRU on random inputs with a non-zero initial state. Above tolerance nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, families, targets
from .api import Checkpoint
from .cells import GruCell, GruModule
from .errors import InexactConversionError, UsageError
from .families.canonical import METADATA_KEY
from .progress import Progress, steps
from .tensors import MemorySource
from .verify import DEFAULT_TOLERANCE, Verification, verify_modules
from .writers import check_output, output_format, write_arrays


@dataclass
class Conversion:
    target: str
    source: Path
    modules: list[GruModule]
    arrays: dict[str, np.ndarray]
    verification: Verification
    inexact_cells: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "grutool_version": __version__, "target": self.target, "source": str(self.source),
            "modules": [module.to_json() for module in self.modules],
            "cells": {cell.name: self._cell_metadata(module, cell)
                      for module in self.modules for cell in module.cells},
            "verification": self.verification.to_json() if self.verification.modules else None,
            "inexact_cells": self.inexact_cells,
        }

    def _cell_metadata(self, module: GruModule, cell: GruCell) -> dict[str, Any]:
        return cell_metadata(targets.target(self.target), module, cell)

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": self.target,
                "modules": [module.name for module in self.modules],
                "keys": list(self.arrays), "inexact_cells": self.inexact_cells,
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
            progress: "Progress | None" = None) -> Conversion:
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
    weights = {cell.name: checkpoint.canonical(cell) for cell in steps(progress, cells, "reading")}
    arrays = target.from_canonical(modules, weights)
    conversion = Conversion(to, checkpoint.path, modules, arrays, Verification(tolerance), inexact)
    # The proof reads the converted file back as a user would (its metadata included), finds
    # its modules with the same code as for any file, and runs both sides' whole modules.
    read_back = getattr(target, "read_back", None)
    if read_back is not None:
        source_back = read_back(arrays, modules)
    else:
        source_back = MemorySource(arrays, f"<{to} conversion>", text_metadata={
            METADATA_KEY: json.dumps(conversion.metadata())})
    recognised = families.recognise(source_back)
    conversion.verification = verify_modules(
        modules, lambda cell: weights[cell.name], recognised.modules,
        lambda cell: families.to_canonical(cell, source_back.read), tolerance,
        allow_reset_difference=bool(inexact), progress=progress)
    return conversion


def write_conversion(conversion: Conversion, out: Path, force: bool, inputs: list[Path]) -> None:
    """Write the converted tensors, unless the verification failed for an exact conversion."""
    target = targets.target(conversion.target)
    suffix = out.suffix.lower()
    output_format(out, target.SUFFIXES)
    verification = conversion.verification
    # An inexact conversion is written with its error reported; anything else that fails the
    # check (a module of exact cells, a structure that did not survive) is not.
    inexact = set(conversion.inexact_cells)
    module_cells = {module.name: {cell.name for cell in module.cells} for module in conversion.modules}
    exact_failures = [m for m in verification.modules if m.problem or (
        not m.ok(verification.tolerance) and not module_cells.get(m.a, set()) & inexact)]
    if verification.problem or exact_failures or (not verification.ok and not inexact):
        verification.raise_if_failed(str(conversion.source))
    for path in getattr(target, "output_files", lambda p: [p])(out):
        check_output(path, force, inputs)
    if suffix in getattr(target, "OWN_SUFFIXES", ()):
        target.write(out, conversion.arrays, conversion.metadata(), conversion.modules)
    else:
        write_arrays(out, conversion.arrays, conversion.metadata())
