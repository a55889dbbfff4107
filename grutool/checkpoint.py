"""The core every command builds on: an opened file (`Checkpoint`) with the GRU cells and
modules found in it, and `open_checkpoint`. It imports nothing of the commands above it
(`api`, `convert`, `verify`, ...), which all import it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import families, memory
from .cells import CANONICAL_NAMES, CanonicalWeights, GruCell, GruModule, Recognition
from .errors import NoCellsError, UsageError
from .readers import open_source
from .reading import Reading, ReadingOptions, read_cells
from .tensors import TensorSource

if TYPE_CHECKING:
    from .other_recurrent import OtherRecurrentLayer


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
    # The names recognition saw, the copies of the weights, the options (--rename, --slot).
    reading: Reading | None = None
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
        the cells (`inspect`, `split`, `convert`, `verify`), holding one cell at a time.
        Reads go through the names recognition saw (--rename, object-graph names, --slot)."""
        if isinstance(cell, str):
            cell = self.cell(cell)
        read = self.reading.view.read if self.reading is not None else self.source.read
        with memory.named(self.path, f"reading {cell.name}"):
            weights = families.to_canonical(cell, read)
        return {name: weights[name] for name in CANONICAL_NAMES if name in weights}

    def file_name(self, name: str) -> str:
        """The file's own tensor that reading `name` (a name recognition saw, after
        --rename and object-graph names) reads, the --slot copy included."""
        return self.reading.view.file_name(name) if self.reading is not None else name

    def canonical_shapes(self, cell: GruCell | str) -> dict[str, tuple[int, ...]]:
        """The shapes `canonical` would give, read from the tensors' shapes alone (no weight
        is read): the family splits zero-stride stand-ins of the right shapes."""
        if isinstance(cell, str):
            cell = self.cell(cell)
        cached = self._cache.get(cell.name)
        if cached is not None:
            return {name: array.shape for name, array in cached.items()}
        # Names as recognition saw them (after --rename), copies (--slot) included.
        infos = self.reading.view.infos if self.reading is not None else self.source.infos

        def stand_in(name: str) -> np.ndarray:
            return np.broadcast_to(np.zeros((), np.float32), infos[name].shape)

        weights = families.to_canonical(cell, stand_in)
        return {name: tuple(np.shape(weights[name])) for name in CANONICAL_NAMES if name in weights}

    def other_recurrent(self) -> list[OtherRecurrentLayer]:
        """Recurrent layers that are not GRUs (LSTMs, simple RNNs) among the tensors no GRU
        cell took: what a file without a GRU cell holds instead."""
        from .other_recurrent import find_other_recurrent

        seen = self.reading.view if self.reading is not None else self.source
        return find_other_recurrent(info for info in seen.tensors()
                                    if info.name not in self.recognition.claimed)

    def no_cells_message(self) -> str:
        """"no GRU cell found", and what the file holds instead when grutool can tell."""
        from .other_recurrent import no_gru_sentence

        instead = no_gru_sentence(self.other_recurrent())
        return "no GRU cell found" + (f": {instead}" if instead else "")

    def require_cells(self) -> None:
        if not self.cells:
            raise NoCellsError(self.no_cells_message(), self.path)

    def close(self) -> None:
        self._cache.clear()
        self.source.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_checkpoint(path: str | Path, reader: str = "auto", layout: str | None = None,
                    rename: Iterable[str] | str | None = None,
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
