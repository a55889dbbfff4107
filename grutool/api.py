"""The library a Python user calls: one function per command, over the core in
`grutool.checkpoint`; the CLI parses options, calls one of these, and renders its result.

Every command's function takes the command's options as keyword arguments (`--allow-inexact`
is `allow_inexact=`, `--layout` is `layout=` …) and a `progress=` hook (`grutool.progress`),
raises `GrutoolError`s instead of exiting, and returns a result whose `ok` says whether the
command would exit 0 and whose `to_json()` is exactly what the command's `--json` prints for
one file. The names of grutool 0.1 (`inspect_report`, `convert_file`, `verify_files`,
`check_file`, `diff_files`, `explain_file`) still work and return what they returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import memory
from .cells import CANONICAL_NAMES
from .checkpoint import Checkpoint, open_checkpoint
from .errors import UsageError, VerificationError
from .verify import DEFAULT_TOLERANCE
from .wording import counted

if TYPE_CHECKING:
    from .cells import GruCell, GruModule
    from .check import CheckReport
    from .convert import Conversion
    from .diff import DiffReport
    from .plot import PlotPage
    from .progress import Progress
    from .verify import Verification

__all__ = ["Checkpoint", "open_checkpoint", "CommandResult", "inspect", "split", "convert",
           "verify", "check", "diff", "explain", "plot", "InspectResult", "SplitResult",
           "ConvertResult", "VerifyResult", "CheckResult", "DiffResult", "ExplainResult",
           "PlotResult", "UnprovenConversionError", "split_metadata", "split_arrays",
           "inspect_report", "convert_file", "verify_files", "check_file", "diff_files",
           "explain_file"]

Rename = Iterable[str] | str | None


class CommandResult:
    """What every command's function returns: `ok` (the command exits 0), `error` (the one
    line a failure prints, else None) and `to_json()` (what `--json` prints for one file)."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def ok(self) -> bool:
        return bool(self.to_json()["ok"])

    @property
    def error(self) -> str | None:
        return self.to_json().get("error")


# --- inspect ---------------------------------------------------------------------------------

@dataclass
class InspectResult(CommandResult):
    """`report`: everything `inspect_report` gives (the contract's fields and more)."""

    report: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.report


def inspect(path: str | Path, *, with_stats: bool = True, cell: str | None = None,
            reader: str = "auto", layout: str | None = None, rename: Rename = None,
            slot: str | None = None, progress: Progress | None = None) -> InspectResult:
    """`grutool inspect PATH`: the cells of `path` and, `with_stats` (the CLI's default; its
    `--no-stats` is `with_stats=False`), the statistics of their arrays. Not `ok` (exit 1)
    when the file holds no GRU cell."""
    with open_checkpoint(path, reader=reader, layout=layout, rename=rename,
                         slot=slot) as checkpoint:
        return InspectResult(inspect_report(checkpoint, with_stats=with_stats, cell=cell,
                                            progress=progress))


def inspect_report(checkpoint: Checkpoint, with_stats: bool = True, cell: str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Everything `grutool inspect --json` prints (the contract's fields, and more), for a
    checkpoint already open.

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


# --- split -----------------------------------------------------------------------------------

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


@dataclass
class SplitResult(CommandResult):
    """What `split` wrote. `checkpoint` is the source, closed (its cells, modules and
    warnings stay readable, as grutool 0.1's `split` returned it); `written` the keys."""

    checkpoint: Checkpoint
    out: Path
    written: list[str]

    @property
    def cells(self) -> list[GruCell]:
        return self.checkpoint.cells

    @property
    def modules(self) -> list[GruModule]:
        return self.checkpoint.modules

    @property
    def warnings(self) -> list[str]:
        return list(self.checkpoint.warnings)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.checkpoint.path), "ok": True, "out": str(self.out),
                "cells": [cell.name for cell in self.cells], "arrays": len(self.written)}


def split(path: str | Path, out: str | Path, force: bool = False, reader: str = "auto",
          progress: Progress | None = None, layout: str | None = None,
          rename: Rename = None, slot: str | None = None) -> SplitResult:
    """`grutool split PATH --out OUT`: every cell's canonical arrays of `path` to `out`
    (.npz, .h5 or .safetensors). `progress` wraps the loop over the cells; `rename` and
    `slot` as for `open_checkpoint` (the metadata records them).

    One cell at a time: its arrays are read, written and dropped before the next cell is
    read, so memory holds one cell, whatever the size of the file."""
    from .progress import steps
    from .writers import array_writer, check_output, header_hint, output_format

    out = Path(out)
    output_format(out)
    with open_checkpoint(path, reader=reader, layout=layout, rename=rename, slot=slot) as checkpoint:
        checkpoint.require_cells()
        check_output(out, force, checkpoint.source.files)
        metadata = split_metadata(checkpoint)
        cells = checkpoint.cells
        names = [f"{cell.name}/{name}" for cell in cells for name in CANONICAL_NAMES]
        with array_writer(out, header_hint(names, metadata)) as writer:
            for cell in steps(progress, cells, "reading"):
                for name, array in checkpoint.read_weights(cell).items():
                    writer.add(f"{cell.name}/{name}", array)
            writer.finish(metadata)
        checkpoint.written = list(writer.names)
    return SplitResult(checkpoint, out, checkpoint.written)


# --- convert ---------------------------------------------------------------------------------

@dataclass
class ConvertResult(CommandResult):
    """A conversion written to `out` and proven (`conversion.verification`), or refused by
    its proof (`error`; then nothing was written, see `UnprovenConversionError`)."""

    conversion: Conversion
    out: Path
    failure: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.failure is None, **self.conversion.to_json(), "out": str(self.out),
                **({"error": self.failure} if self.failure else {})}


class UnprovenConversionError(VerificationError):
    """`convert`'s proof failed and nothing was written; `result` holds the measurements."""

    def __init__(self, failure: VerificationError, result: ConvertResult):
        super().__init__(failure.message, failure.path, failure.hint)
        self.result = result
        result.failure = self.one_line()


def convert(path: str | Path, to: str, out: str | Path, module: str | None = None,
            allow_inexact: bool = False, force: bool = False, reader: str = "auto",
            layout: str | None = None, tolerance: float = DEFAULT_TOLERANCE,
            rename: Rename = None, slot: str | None = None, *,
            progress: Progress | None = None) -> ConvertResult:
    """`grutool convert PATH --to TO --out OUT`: convert, prove numerically, then write `out`.

    Raises InexactConversionError (a reset placement the target cannot compute) unless
    `allow_inexact`, and UnprovenConversionError, a VerificationError (nothing written),
    when the proof fails. `progress` wraps the loops over the cells and the proof."""
    from .convert import convert as convert_checkpoint
    from .convert import write_conversion

    out = Path(out)
    with open_checkpoint(path, reader=reader, layout=layout, rename=rename, slot=slot) as checkpoint:
        conversion = convert_checkpoint(checkpoint, to, module=module,
                                        allow_inexact=allow_inexact, tolerance=tolerance)
        try:
            write_conversion(conversion, out, force, checkpoint.source.files, progress=progress)
        except VerificationError as exc:
            raise UnprovenConversionError(exc, ConvertResult(conversion, out)) from exc
    return ConvertResult(conversion, out)


def convert_file(*args: Any, **kwargs: Any) -> Conversion:
    """grutool 0.1's name: `convert(...)`'s conversion (`.verification`, `.modules` …)."""
    return convert(*args, **kwargs).conversion


# --- verify ----------------------------------------------------------------------------------

@dataclass
class VerifyResult(CommandResult):
    """`verification`: each pair of modules and of cells compared; `a` and `b` as given.
    `module_cells`: each module of `a` -> its cells' names (which cell rows go under which
    module row, for a person reading the comparison)."""

    verification: Verification
    a: str
    b: str
    module_cells: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        failure = (None if self.verification.ok
                   else f"{self.a} vs {self.b}: {self.verification.failure()}")
        return {**self.verification.to_json(), **({"error": failure} if failure else {})}


def verify(a: str | Path, b: str | Path, tolerance: float = DEFAULT_TOLERANCE,
           reader: str = "auto", rename: Rename = None, slot: str | None = None, *,
           layout: str | None = None, progress: Progress | None = None) -> VerifyResult:
    """`grutool verify A B`: do the modules of `a` and `b` compute the same functions?
    Not `ok` (exit 1) when they differ; `progress` wraps the loop over the module pairs."""
    from .verify import verify_checkpoints

    with open_checkpoint(a, reader=reader, layout=layout, rename=rename, slot=slot) as first, \
            open_checkpoint(b, reader=reader, layout=layout, rename=rename, slot=slot) as second:
        first.require_cells()
        second.require_cells()
        verification = verify_checkpoints(first, second, tolerance, progress=progress)
        module_cells = {module.name: [cell.name for cell in module.cells]
                        for module in first.modules}
    return VerifyResult(verification, str(a), str(b), module_cells)


def verify_files(*args: Any, **kwargs: Any) -> Verification:
    """grutool 0.1's name: `verify(...)`'s verification (`.ok`, `.max_abs_error` …)."""
    return verify(*args, **kwargs).verification


# --- check -----------------------------------------------------------------------------------

@dataclass
class CheckResult(CommandResult):
    report: CheckReport

    def to_json(self) -> dict[str, Any]:
        return self.report.to_json()


def check(path: str | Path, *, cells: int | None = None, units: int | None = None,
          expect_layout: str | None = None, allow_nan: bool = False, trained: bool = False,
          match: str | Path | Checkpoint | None = None, reader: str = "auto",
          layout: str | None = None, rename: Rename = None, slot: str | None = None,
          progress: Progress | None = None) -> CheckResult:
    """`grutool check PATH`: the conditions asked for, on the cells of `path`; not `ok`
    (exit 1) when one fails. `match` is a path, read as it is (the read options are
    `path`'s), or a checkpoint already open (to check many files against one)."""
    from contextlib import ExitStack

    from .check import check_checkpoint

    with ExitStack() as stack:
        if match is None or isinstance(match, Checkpoint):
            reference = match
        else:
            reference = stack.enter_context(open_checkpoint(match, reader=reader))
        checkpoint = stack.enter_context(open_checkpoint(path, reader=reader, layout=layout,
                                                         rename=rename, slot=slot))
        return CheckResult(check_checkpoint(
            checkpoint, cells=cells, units=units, expect_layout=expect_layout,
            allow_nan=allow_nan, trained=trained, match=reference, progress=progress))


def check_file(*args: Any, **kwargs: Any) -> CheckReport:
    """grutool 0.1's name: `check(...)`'s report (`.ok`, `.checks` …)."""
    return check(*args, **kwargs).report


# --- diff ------------------------------------------------------------------------------------

@dataclass
class DiffResult(CommandResult):
    """`report`: per cell and gate, how much `b` differs from `a` (as given)."""

    report: DiffReport
    a: str
    b: str

    def failure(self) -> str | None:
        report = self.report
        if report.problem is not None:
            return f"{self.a} vs {self.b}: the cells differ: {report.problem}"
        above = report.above_threshold()
        if not above:
            return None
        names = ", ".join(f"{cell.a}/{gate.gate}" for cell, gate in above[:3])
        more = f" and {len(above) - 3} more" if len(above) > 3 else ""
        return (f"{self.a} vs {self.b}: {counted(len(above), 'gate')} changed by more than "
                f"{report.threshold:g}: {names}{more}")

    def to_json(self) -> dict[str, Any]:
        failure = self.failure()
        return {**self.report.to_json(), **({"error": failure} if failure else {})}


def diff(a: str | Path, b: str | Path, threshold: float | None = None, reader: str = "auto",
         layout: str | None = None, rename: Rename = None, slot: str | None = None,
         progress: Progress | None = None) -> DiffResult:
    """`grutool diff A B`: per cell and gate, how much `b` differs from `a`. Not `ok` (exit
    1) when a gate changed by more than `threshold` or the structures differ."""
    from .diff import diff_checkpoints

    with open_checkpoint(a, reader=reader, layout=layout, rename=rename, slot=slot) as first, \
            open_checkpoint(b, reader=reader, layout=layout, rename=rename, slot=slot) as second:
        first.require_cells()
        second.require_cells()
        return DiffResult(diff_checkpoints(first, second, threshold, progress=progress),
                          str(a), str(b))


def diff_files(*args: Any, **kwargs: Any) -> DiffReport:
    """grutool 0.1's name: `diff(...)`'s report."""
    return diff(*args, **kwargs).report


# --- explain ---------------------------------------------------------------------------------

@dataclass
class ExplainResult(CommandResult):
    """`report`: each cell's equations and where its arrays live; `program`: with
    `code="numpy"`, a runnable program that reads the one cell and defines step(x, h)."""

    report: dict[str, Any]
    program: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.report, "ok": True}


def explain(path: str | Path, cell: str | None = None, reader: str = "auto",
            layout: str | None = None, rename: Rename = None, slot: str | None = None, *,
            code: str | None = None, progress: Progress | None = None) -> ExplainResult:
    """`grutool explain PATH`: each cell's (or only `cell`'s) equations and where its arrays
    live. `code="numpy"` also writes the program of one cell (a usage error when several
    cells are chosen). `progress` wraps the loop over the cells."""
    from .explain import chosen_cells, code_numpy, explain_cell
    from .progress import steps

    if code not in (None, "numpy"):
        raise UsageError(f"no program in {code!r}; explain writes numpy")
    with open_checkpoint(path, reader=reader, layout=layout, rename=rename,
                         slot=slot) as checkpoint:
        chosen = chosen_cells(checkpoint, cell)
        program = None
        if code is not None:
            if len(chosen) > 1:
                raise UsageError(f"--code writes one cell's program; choose one with --cell "
                                 f"({', '.join(c.name for c in chosen)})", checkpoint.path)
            program = code_numpy(checkpoint, chosen[0])
        report = {"path": str(checkpoint.path), "format": checkpoint.format,
                  "cells": [explain_cell(checkpoint, item)
                            for item in steps(progress, chosen, "explaining")]}
    return ExplainResult(report, program)


def explain_file(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """grutool 0.1's name: `explain(...)`'s report (no `ok`)."""
    return explain(*args, **kwargs).report


# --- plot ------------------------------------------------------------------------------------

@dataclass
class PlotResult(CommandResult):
    """`pages`: each cell drawn, where to and with how many panels."""

    path: str
    pages: list[PlotPage]

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": True, "pages": [page.to_json() for page in self.pages]}


def plot(path: str | Path, out: str | Path, cell: str | None = None, force: bool = False,
         reader: str = "auto", layout: str | None = None, rename: Rename = None,
         slot: str | None = None, *, progress: Progress | None = None) -> PlotResult:
    """`grutool plot PATH --out OUT`: heat maps and histograms of each cell's gates (or only
    `cell`'s); needs matplotlib. `progress` wraps the loop over the cells drawn."""
    from .plot import plot_checkpoint

    with open_checkpoint(path, reader=reader, layout=layout, rename=rename,
                         slot=slot) as checkpoint:
        pages = plot_checkpoint(checkpoint, out, cell=cell, force=force, progress=progress)
    return PlotResult(str(checkpoint.path), pages)
