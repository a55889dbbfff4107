"""`convert`: re-lay cells out for another framework, and prove it before writing.

The proof: the converted tensors are read back by the same family code that reads the
target framework's files, and every cell, source and converted, runs through the reference
GRU on random inputs with a non-zero initial state. Above tolerance nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, families, targets
from .api import Checkpoint
from .cells import GruCell, GruModule
from .errors import InexactConversionError, UsageError
from .tensors import MemorySource
from .verify import DEFAULT_TOLERANCE, Verification, cell_order, verify_cells
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
            "verification": self.verification.to_json(),
            "inexact_cells": self.inexact_cells,
        }

    def _cell_metadata(self, module: GruModule, cell: GruCell) -> dict[str, Any]:
        facts = {key: value for key, value in cell.to_json().items() if key != "name"}
        cell_prefix = getattr(targets.target(self.target), "cell_prefix", None)
        if cell_prefix is not None:  # where the target keeps this cell's tensors
            facts["target_prefix"] = cell_prefix(module, cell)
        return facts

    def to_json(self) -> dict[str, Any]:
        return {"source": str(self.source), "target": self.target,
                "modules": [module.name for module in self.modules],
                "keys": list(self.arrays), "inexact_cells": self.inexact_cells,
                "verification": self.verification.to_json()}


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
            allow_inexact: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> Conversion:
    """Convert the cells of `checkpoint` for framework `to`; raises InexactConversionError
    where the target cannot compute the same function and `allow_inexact` is false."""
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
    weights = {cell.name: checkpoint.canonical(cell) for cell in cells}
    arrays = target.from_canonical(modules, weights)
    read_back = getattr(target, "read_back", None)
    source_back = read_back(arrays, modules) if read_back else MemorySource(arrays, f"<{to} conversion>")
    recognised = families.recognise(source_back)
    source_cells = cell_order(cells)
    converted_cells = _pair_by_name(target, modules, source_cells, recognised.cells) \
        or cell_order(recognised.cells)
    if not getattr(target, "STORES_ACTIVATIONS", True):
        # The target's tensors cannot say which activations to build the layer with; the
        # user builds it with the source's (the metadata records them), so check those.
        for source_cell, converted_cell in zip(source_cells, converted_cells):
            converted_cell.activation = source_cell.activation
            converted_cell.recurrent_activation = source_cell.recurrent_activation
    verification = verify_cells(
        [(cell, weights[cell.name]) for cell in source_cells],
        [(cell, families.to_canonical(cell, source_back.read)) for cell in converted_cells],
        tolerance)
    return Conversion(to, checkpoint.path, modules, arrays, verification, inexact)


def _pair_by_name(target, modules: list[GruModule], source_cells: list[GruCell],
                  converted: list[GruCell]) -> list[GruCell] | None:
    """The converted cells in the order of `source_cells`, found by the name the target gives
    each (a Keras target keeps no direction, so file order alone could mispair a
    bidirectional module); None when the target names no cells or a name is not found."""
    cell_prefix = getattr(target, "cell_prefix", None)
    if cell_prefix is None:
        return None
    module_of = {cell.name: module for module in modules for cell in module.cells}
    by_name = {cell.name: cell for cell in converted}
    names = [cell_prefix(module_of[cell.name], cell) for cell in source_cells]
    if len(converted) != len(source_cells) or not all(name in by_name for name in names):
        return None
    return [by_name[name] for name in names]


def write_conversion(conversion: Conversion, out: Path, force: bool, inputs: list[Path]) -> None:
    """Write the converted tensors, unless the verification failed for an exact conversion."""
    target = targets.target(conversion.target)
    suffix = out.suffix.lower()
    output_format(out, target.SUFFIXES)
    verification = conversion.verification
    # An inexact conversion is written with its error reported; anything else that fails the
    # check (a cell that should have been exact, a structure that did not survive) is not.
    exact_failures = [c for c in verification.comparisons if c.a not in conversion.inexact_cells
                      and not c.ok(verification.tolerance)]
    if verification.problem or exact_failures or (
            not verification.ok and not conversion.inexact_cells):
        verification.raise_if_failed(str(conversion.source))
    for path in getattr(target, "output_files", lambda p: [p])(out):
        check_output(path, force, inputs)
    if suffix in getattr(target, "OWN_SUFFIXES", ()):
        target.write(out, conversion.arrays, conversion.metadata(), conversion.modules)
    else:
        write_arrays(out, conversion.arrays, conversion.metadata())
