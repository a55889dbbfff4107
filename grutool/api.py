"""The library a Python user calls; the CLI is a thin layer over these functions."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from . import families, memory
from .cells import CANONICAL_NAMES, CanonicalWeights, GruCell, GruModule, Recognition
from .errors import NoCellsError, UsageError
from .readers import open_source
from .tensors import TensorSource


# What `Checkpoint.canonical` keeps of the cells it has read, for a caller that asks for the
# same cell again (`check` walks the cells twice): at most this many bytes, least recently
# used first out, so the cache never grows with the number or the size of the cells.
CANONICAL_CACHE_BYTES = 64 * 2**20


class _CanonicalCache:
    """Cell name -> canonical arrays, bounded by their total size."""

    def __init__(self, limit: int = CANONICAL_CACHE_BYTES):
        self.limit = limit
        self._entries: OrderedDict[str, tuple[CanonicalWeights, int]] = OrderedDict()
        self._bytes = 0

    def get(self, name: str) -> CanonicalWeights | None:
        entry = self._entries.get(name)
        if entry is None:
            return None
        self._entries.move_to_end(name)
        return entry[0]

    def put(self, name: str, weights: CanonicalWeights) -> None:
        size = sum(array.nbytes for array in weights.values())
        if size > self.limit:
            return
        self._entries[name] = (weights, size)
        self._bytes += size
        while self._bytes > self.limit:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


@dataclass
class Checkpoint:
    """An opened file: its tensors, the GRU cells and modules found in it, and their weights."""

    source: TensorSource
    recognition: Recognition
    _cache: _CanonicalCache = field(default_factory=_CanonicalCache, repr=False)
    # The keys `split` wrote, in order.
    written: list[str] = field(default_factory=list, repr=False)

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
        orientation, source dtype, each a contiguous array of its own. Reads only this cell's
        tensors; the last cells read are kept up to CANONICAL_CACHE_BYTES."""
        if isinstance(cell, str):
            cell = self.cell(cell)
        cached = self._cache.get(cell.name)
        if cached is not None:
            return cached
        weights = self.read_weights(cell)
        with memory.named(self.path, f"copying the arrays of {cell.name}"):
            weights = {name: np.ascontiguousarray(array) for name, array in weights.items()}
        self._cache.put(cell.name, weights)
        return weights

    def read_weights(self, cell: GruCell | str) -> CanonicalWeights:
        """The cell's canonical arrays as its family makes them: views into the tensors read
        where a gate is a block of a fused tensor (no copy), nothing kept. For one pass over
        the cells (`inspect`, `split`, `convert`, `verify`), holding one cell at a time."""
        if isinstance(cell, str):
            cell = self.cell(cell)
        with memory.named(self.path, f"reading {cell.name}"):
            weights = families.to_canonical(cell, self.source.read)
        return {name: weights[name] for name in CANONICAL_NAMES if name in weights}

    def require_cells(self) -> None:
        if not self.cells:
            raise NoCellsError("no GRU cell found", self.path)

    def close(self) -> None:
        self._cache.clear()
        self.source.close()

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_checkpoint(path: str | Path, reader: str = "auto", layout: str | None = None) -> Checkpoint:
    """Open any supported file and find the GRU cells in it (reads names and shapes only).

    `layout` decides where the file cannot tell two layouts apart (a bare `.npz` holding
    `kernel`/`recurrent_kernel`/`bias`): e.g. "keras-gru" or "keras-cudnn-gru".
    """
    if layout is not None and layout not in families.known_layouts():
        raise UsageError(f"unknown layout {layout!r}; known: {', '.join(families.known_layouts())}")
    source = open_source(path, reader=reader)
    if layout is not None:
        source.layer_configs.setdefault("*", {})["layout"] = layout
    try:
        recognition = families.recognise(source)
        if layout is not None and not any(cell.layout == layout for cell in recognition.cells):
            recognition.warnings.append(f"no tensors could be read as --layout {layout}")
        return Checkpoint(source, recognition)
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
    }


def split_arrays(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    """`<cell name>/<canonical name>` -> array, for every cell (all in memory at once; `split`
    itself writes one cell at a time)."""
    return {f"{cell.name}/{name}": array for cell in checkpoint.cells
            for name, array in checkpoint.canonical(cell).items()}


def split(path: str | Path, out: str | Path, force: bool = False, reader: str = "auto",
          progress: Callable[[list[GruCell]], Iterable[GruCell]] | None = None,
          layout: str | None = None) -> Checkpoint:
    """Write every cell's canonical arrays of `path` to `out` (.npz, .h5 or .safetensors).
    `progress`, if given, wraps the loop over the cells (e.g. to show a progress bar).

    One cell at a time: its arrays are read, written and dropped before the next cell is
    read, so memory holds one cell, whatever the size of the file."""
    from .writers import array_writer, check_output, header_hint, output_format

    out = Path(out)
    output_format(out)
    with open_checkpoint(path, reader=reader, layout=layout) as checkpoint:
        checkpoint.require_cells()
        check_output(out, force, checkpoint.source.files)
        metadata = split_metadata(checkpoint)
        cells = checkpoint.cells
        names = [f"{cell.name}/{name}" for cell in cells for name in CANONICAL_NAMES]
        with array_writer(out, header_hint(names, metadata)) as writer:
            for cell in (progress(cells) if progress is not None else cells):
                for name, array in checkpoint.read_weights(cell).items():
                    writer.add(f"{cell.name}/{name}", array)
            writer.finish(metadata)
        checkpoint.written = list(writer.names)
        return checkpoint


def inspect_report(checkpoint: Checkpoint, with_stats: bool = True,
                   progress: Callable[[list[GruCell]], Iterable[GruCell]] | None = None
                   ) -> dict[str, Any]:
    """Everything `grutool inspect --json` prints (the contract's fields, and more).

    Each cell's arrays are read, summarised and dropped before the next cell is read.
    `progress`, if given, wraps the loop over the cells."""
    from .stats import cell_problems, gate_stats

    cells = []
    ordered = checkpoint.cells
    for cell in (progress(ordered) if progress is not None and with_stats else ordered):
        entry = cell.to_json()
        if with_stats:
            weights = checkpoint.read_weights(cell)
            with memory.named(checkpoint.path, f"summarising {cell.name}"):
                entry["gates"] = gate_stats(weights)
                entry["problems"] = cell_problems(cell, weights, entry["gates"])
            del weights
        cells.append(entry)
    return {
        "path": str(checkpoint.path),
        "format": checkpoint.format,
        "size_bytes": checkpoint.source.size_bytes(),
        "tensors": [info.to_json() for info in checkpoint.source.tensors()],
        "modules": [module.to_json() for module in checkpoint.modules],
        "cells": cells,
        "warnings": list(checkpoint.warnings),
    }


def convert_file(path: str | Path, to: str, out: str | Path, module: str | None = None,
                 allow_inexact: bool = False, force: bool = False, reader: str = "auto",
                 layout: str | None = None, tolerance: float = 1e-5) -> "Conversion":
    """`grutool convert` as a call: convert, check numerically, then write `out`.

    Raises InexactConversionError (reset placement the target cannot compute) unless
    `allow_inexact`, and VerificationError (nothing written) if the check fails.
    """
    from .convert import convert, write_conversion

    with open_checkpoint(path, reader=reader, layout=layout) as checkpoint:
        conversion = convert(checkpoint, to, module=module, allow_inexact=allow_inexact,
                             tolerance=tolerance)
        write_conversion(conversion, Path(out), force, checkpoint.source.files)
    return conversion


def verify_files(a: str | Path, b: str | Path, tolerance: float = 1e-5,
                 reader: str = "auto") -> "Verification":
    """`grutool verify` as a call: do the cells of `a` and `b` compute the same functions?"""
    from .verify import verify_checkpoints

    with open_checkpoint(a, reader=reader) as first, open_checkpoint(b, reader=reader) as second:
        first.require_cells()
        second.require_cells()
        return verify_checkpoints(first, second, tolerance)


if TYPE_CHECKING:
    from .convert import Conversion
    from .verify import Verification
