"""The library a Python user calls: one function per command, over the core in
`grutool.checkpoint`; the CLI is a thin layer over these functions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import memory
from .cells import CANONICAL_NAMES
from .checkpoint import Checkpoint, open_checkpoint
from .errors import UsageError

__all__ = ["Checkpoint", "open_checkpoint", "split", "split_metadata", "split_arrays",
           "inspect_report", "convert_file", "verify_files", "check_file", "diff_files",
           "explain_file"]


def split_metadata(checkpoint: Checkpoint) -> dict[str, Any]:
    from ._version import __version__

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
    """`<cell name>/<canonical name>` -> array, for every cell (all in memory at once; `split`
    itself writes one cell at a time)."""
    return {f"{cell.name}/{name}": array for cell in checkpoint.cells
            for name, array in checkpoint.canonical(cell).items()}


def split(path: str | Path, out: str | Path, force: bool = False, reader: str = "auto",
          progress: Progress | None = None, layout: str | None = None,
          rename: Iterable[str] | str | None = None, slot: str | None = None) -> Checkpoint:
    """Write every cell's canonical arrays of `path` to `out` (.npz, .h5 or .safetensors).
    `progress`, if given, wraps the loop over the cells (e.g. to show a progress bar).
    `rename` and `slot` as for `open_checkpoint`; the metadata records them.

    One cell at a time: its arrays are read, written and dropped before the next cell is
    read, so memory holds one cell, whatever the size of the file."""
    from .writers import array_writer, check_output, header_hint, output_format

    out = Path(out)
    output_format(out)
    with open_checkpoint(path, reader=reader, layout=layout, rename=rename, slot=slot) as checkpoint:
        checkpoint.require_cells()
        check_output(out, force, checkpoint.source.files)
        from .progress import steps

        metadata = split_metadata(checkpoint)
        cells = checkpoint.cells
        names = [f"{cell.name}/{name}" for cell in cells for name in CANONICAL_NAMES]
        with array_writer(out, header_hint(names, metadata)) as writer:
            for cell in steps(progress, cells, "reading"):
                for name, array in checkpoint.read_weights(cell).items():
                    writer.add(f"{cell.name}/{name}", array)
            writer.finish(metadata)
        checkpoint.written = list(writer.names)
        return checkpoint


def inspect_report(checkpoint: Checkpoint, with_stats: bool = True, cell: str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Everything `grutool inspect --json` prints (the contract's fields, and more).

    Per cell, `gates` holds each canonical array's shape (and its statistics `with_stats`;
    without them no weight is read) and `absent` the arrays the cell does not have (zero).
    Per tensor, `cells` names the cells that read it. `cell` keeps one cell (and its
    module). `progress` wraps the loop that reads the cells. `ok` is false, with `error`,
    when the file holds no GRU cell (then `other_recurrent` says what it holds instead).
    Each cell's arrays are read, summarised and dropped before the next cell is read.
    """
    from .progress import steps
    from .stats import cell_problems, gate_stats

    chosen = checkpoint.cells
    if cell is not None:
        chosen = [c for c in chosen if c.name == cell]
        if not chosen:
            raise UsageError(f"no cell named {cell!r}; the file has: "
                             f"{', '.join(c.name for c in checkpoint.cells) or 'no GRU cell'}",
                             checkpoint.path)
    cells = []
    for found in steps(progress, chosen, "reading") if with_stats else chosen:
        entry = found.to_json()
        if with_stats:
            weights = checkpoint.read_weights(found)
            with memory.named(checkpoint.path, f"summarising {found.name}"):
                entry["gates"] = gate_stats(weights)
                entry["problems"] = cell_problems(found, weights, entry["gates"])
            del weights
        else:
            entry["gates"] = {name: {"shape": list(shape)}
                              for name, shape in checkpoint.canonical_shapes(found).items()}
        entry["absent"] = [name for name in CANONICAL_NAMES if name not in entry["gates"]]
        cells.append(entry)
    readers: dict[str, list[str]] = {}
    for found in checkpoint.cells:
        for tensor in found.source_tensors:
            readers.setdefault(tensor, []).append(found.name)
    modules = [module.to_json() for module in checkpoint.modules
               if cell is None or chosen[0] in module.cells]
    report: dict[str, Any] = {
        "path": str(checkpoint.path),
        "ok": bool(checkpoint.cells),
        "format": checkpoint.format,
        "size_bytes": checkpoint.source.size_bytes(),
        "tensors": [{**info.to_json(), "cells": readers.get(info.name, [])}
                    for info in checkpoint.source.tensors()],
        "modules": modules,
        "cells": cells,
        "warnings": list(checkpoint.warnings),
    }
    if checkpoint.reading is not None:
        from .discovery import annotate_report

        annotate_report(checkpoint, report)
    if cell is not None:
        report["cells_in_file"] = len(checkpoint.cells)
        report["modules_in_file"] = len(checkpoint.modules)
    if not checkpoint.cells:
        hints = report.get("hints") or []
        shapes = (f" ({len(hints)} group{'s' * (len(hints) != 1)} of tensors with a GRU's "
                  "shapes: inspect shows the --rename options that read them)") if hints else ""
        report["error"] = f"{checkpoint.path}: {checkpoint.no_cells_message()}{shapes}"
        report["other_recurrent"] = [layer.to_json() for layer in checkpoint.other_recurrent()]
    return report


def convert_file(path: str | Path, to: str, out: str | Path, module: str | None = None,
                 allow_inexact: bool = False, force: bool = False, reader: str = "auto",
                 layout: str | None = None, tolerance: float = 1e-5,
                 rename: Iterable[str] | str | None = None, slot: str | None = None) -> Conversion:
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
                 reader: str = "auto", rename: Iterable[str] | str | None = None,
                 slot: str | None = None) -> Verification:
    """`grutool verify` as a call: do the cells of `a` and `b` compute the same functions?"""
    from .verify import verify_checkpoints

    with open_checkpoint(a, reader=reader, rename=rename, slot=slot) as first, \
            open_checkpoint(b, reader=reader, rename=rename, slot=slot) as second:
        first.require_cells()
        second.require_cells()
        return verify_checkpoints(first, second, tolerance)


if TYPE_CHECKING:
    from .check import CheckReport
    from .convert import Conversion
    from .diff import DiffReport
    from .progress import Progress
    from .verify import Verification


def check_file(path: str | Path, *, cells: int | None = None, units: int | None = None,
               expect_layout: str | None = None, allow_nan: bool = False, trained: bool = False,
               match: str | Path | None = None, reader: str = "auto", layout: str | None = None,
               rename: Iterable[str] | str | None = None, slot: str | None = None,
               progress: Progress | None = None) -> CheckReport:
    """`grutool check` as a call: the conditions asked for, on the cells of `path`; `match`
    is read as it is (the read options are `path`'s)."""
    from contextlib import ExitStack

    from .check import check_checkpoint

    with ExitStack() as stack:
        reference = stack.enter_context(open_checkpoint(match, reader=reader)) \
            if match is not None else None
        checkpoint = stack.enter_context(open_checkpoint(path, reader=reader, layout=layout,
                                                         rename=rename, slot=slot))
        return check_checkpoint(checkpoint, cells=cells, units=units,
                                expect_layout=expect_layout, allow_nan=allow_nan,
                                trained=trained, match=reference, progress=progress)


def diff_files(a: str | Path, b: str | Path, threshold: float | None = None,
               reader: str = "auto", layout: str | None = None,
               rename: Iterable[str] | str | None = None, slot: str | None = None,
               progress: Progress | None = None) -> DiffReport:
    """`grutool diff` as a call: per cell and gate, how much `b` differs from `a`."""
    from .diff import diff_checkpoints

    with open_checkpoint(a, reader=reader, layout=layout, rename=rename, slot=slot) as first, \
            open_checkpoint(b, reader=reader, layout=layout, rename=rename, slot=slot) as second:
        first.require_cells()
        second.require_cells()
        return diff_checkpoints(first, second, threshold, progress=progress)


def explain_file(path: str | Path, cell: str | None = None, reader: str = "auto",
                 layout: str | None = None, rename: Iterable[str] | str | None = None,
                 slot: str | None = None) -> dict[str, Any]:
    """`grutool explain --json` as a call: each cell's equations and where its arrays live."""
    from .explain import explain

    with open_checkpoint(path, reader=reader, layout=layout, rename=rename,
                         slot=slot) as checkpoint:
        return explain(checkpoint, cell)
