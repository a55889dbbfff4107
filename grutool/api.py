"""The library a Python user calls; the CLI is a thin layer over these functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from . import families
from .cells import CANONICAL_NAMES, CanonicalWeights, GruCell, GruModule, Recognition
from .errors import NoCellsError, UsageError
from .readers import open_source
from .reading import Reading, ReadingOptions, read_cells
from .tensors import TensorSource


@dataclass
class Checkpoint:
    """An opened file: its tensors, the GRU cells and modules found in it, and their weights."""

    source: TensorSource
    recognition: Recognition
    # The names recognition saw, the copies of the weights, the options (--rename, --slot).
    reading: Reading | None = None
    _canonical_cache: dict[str, CanonicalWeights] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def format(self) -> str:
        return self.source.format

    @property
    def cells(self) -> list[GruCell]:
        """Every cell, in model order."""
        return self.recognition.ordered_cells()

    @property
    def modules(self) -> list[GruModule]:
        return self.recognition.modules

    @property
    def warnings(self) -> list[str]:
        return self.recognition.warnings

    def cell(self, name: str) -> GruCell:
        for cell in self.cells:
            if cell.name == name:
                return cell
        raise KeyError(name)

    def canonical(self, cell: GruCell | str) -> CanonicalWeights:
        """The cell's per-gate arrays (`W_ir` … `b_hn`, absent biases omitted), x @ W
        orientation, source dtype. Reads only this cell's tensors."""
        if isinstance(cell, str):
            cell = self.cell(cell)
        if cell.name not in self._canonical_cache:
            read = self.reading.view.read if self.reading is not None else self.source.read
            weights = families.to_canonical(cell, read)
            self._canonical_cache[cell.name] = {
                name: np.ascontiguousarray(weights[name]) for name in CANONICAL_NAMES
                if name in weights}
        return self._canonical_cache[cell.name]

    def file_name(self, name: str) -> str:
        """The file's own tensor that reading `name` (a name recognition saw, after
        --rename and object-graph names) reads, the --slot copy included."""
        return self.reading.view.file_name(name) if self.reading is not None else name

    def require_cells(self) -> None:
        if not self.cells:
            raise NoCellsError("no GRU cell found", self.path)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_checkpoint(path: str | Path, reader: str = "auto", layout: str | None = None,
                    rename: "Iterable[str] | str | None" = None,
                    slot: str | None = None) -> Checkpoint:
    """Open any supported file and find the GRU cells in it (reads names and shapes only).

    `layout` decides where the file cannot tell two layouts apart (a bare `.npz` holding
    `kernel`/`recurrent_kernel`/`bias`): e.g. "keras-gru" or "keras-cudnn-gru".
    `rename`: `REGEX=REPLACEMENT` rules applied in order to every tensor name before
    recognition (`re.sub`); `slot`: read each weight's copy of that name
    (`ExponentialMovingAverage`, `Adam`, ...) instead of the weight.
    """
    if layout is not None and layout not in families.known_layouts():
        raise UsageError(f"unknown layout {layout!r}; known: {', '.join(families.known_layouts())}")
    options = ReadingOptions.make(layout, rename, slot)
    source = open_source(path, reader=reader)
    try:
        reading = read_cells(source, options)
        recognition = reading.recognition
        if layout is not None and not any(cell.layout == layout for cell in recognition.cells):
            recognition.warnings.append(f"no tensors could be read as --layout {layout}")
        return Checkpoint(source, recognition, reading)
    except BaseException:
        source.close()
        raise


def split_metadata(checkpoint: Checkpoint) -> dict[str, Any]:
    from . import __version__

    return {
        "grutool_version": __version__,
        "source": str(checkpoint.path),
        "source_format": checkpoint.format,
        "cells": {cell.name: {key: value for key, value in cell.to_json().items() if key != "name"}
                  for cell in checkpoint.cells},
        "modules": [module.to_json() for module in checkpoint.modules],
        **(checkpoint.reading.options.to_json() if checkpoint.reading else {}),
    }


def split_arrays(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    """`<cell name>/<canonical name>` -> array, for every cell."""
    return {f"{cell.name}/{name}": array for cell in checkpoint.cells
            for name, array in checkpoint.canonical(cell).items()}


def split(path: str | Path, out: str | Path, force: bool = False, reader: str = "auto",
          progress: Callable[[list[GruCell]], Iterable[GruCell]] | None = None,
          layout: str | None = None, rename: "Iterable[str] | str | None" = None,
          slot: str | None = None) -> Checkpoint:
    """Write every cell's canonical arrays of `path` to `out` (.npz, .h5 or .safetensors).
    `progress`, if given, wraps the loop that reads the cells (e.g. to show a progress bar).
    `rename` and `slot` as for `open_checkpoint`; the metadata records them."""
    from .writers import check_output, output_format, write_arrays

    out = Path(out)
    output_format(out)
    with open_checkpoint(path, reader=reader, layout=layout, rename=rename, slot=slot) as checkpoint:
        checkpoint.require_cells()
        check_output(out, force, checkpoint.source.files)
        if progress is not None:
            for cell in progress(checkpoint.cells):
                checkpoint.canonical(cell)  # cached: the write below reads nothing again
        write_arrays(out, split_arrays(checkpoint), split_metadata(checkpoint))
        return checkpoint


def inspect_report(checkpoint: Checkpoint, with_stats: bool = True) -> dict[str, Any]:
    """Everything `grutool inspect --json` prints (the contract's fields, and more)."""
    from .stats import cell_problems, gate_stats

    cells = []
    for cell in checkpoint.cells:
        entry = cell.to_json()
        if with_stats:
            weights = checkpoint.canonical(cell)
            entry["gates"] = gate_stats(weights)
            entry["problems"] = cell_problems(cell, weights)
        cells.append(entry)
    report = {
        "path": str(checkpoint.path),
        "format": checkpoint.format,
        "size_bytes": checkpoint.source.size_bytes(),
        "tensors": [info.to_json() for info in checkpoint.source.tensors()],
        "modules": [module.to_json() for module in checkpoint.modules],
        "cells": cells,
        "warnings": list(checkpoint.warnings),
    }
    if checkpoint.reading is not None:
        from .discovery import annotate_report

        annotate_report(checkpoint, report)
    return report


def convert_file(path: str | Path, to: str, out: str | Path, module: str | None = None,
                 allow_inexact: bool = False, force: bool = False, reader: str = "auto",
                 layout: str | None = None, tolerance: float = 1e-5,
                 rename: "Iterable[str] | str | None" = None, slot: str | None = None) -> "Conversion":
    """`grutool convert` as a call: convert, check numerically, then write `out`.

    Raises InexactConversionError (reset placement the target cannot compute) unless
    `allow_inexact`, and VerificationError (nothing written) if the check fails.
    """
    from .convert import convert, write_conversion

    with open_checkpoint(path, reader=reader, layout=layout, rename=rename, slot=slot) as checkpoint:
        conversion = convert(checkpoint, to, module=module, allow_inexact=allow_inexact,
                             tolerance=tolerance)
        write_conversion(conversion, Path(out), force, checkpoint.source.files)
    return conversion


def verify_files(a: str | Path, b: str | Path, tolerance: float = 1e-5,
                 reader: str = "auto", rename: "Iterable[str] | str | None" = None,
                 slot: str | None = None) -> "Verification":
    """`grutool verify` as a call: do the cells of `a` and `b` compute the same functions?"""
    from .verify import verify_checkpoints

    with open_checkpoint(a, reader=reader, rename=rename, slot=slot) as first, \
            open_checkpoint(b, reader=reader, rename=rename, slot=slot) as second:
        first.require_cells()
        second.require_cells()
        return verify_checkpoints(first, second, tolerance)


if TYPE_CHECKING:
    from .convert import Conversion
    from .verify import Verification
