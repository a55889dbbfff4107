"""The data model every command walks: cells and modules found in a tensor source, and
their canonical per-gate arrays.

A *cell* is one GRU layer in one direction; a *module* groups the cells of one stacked
and/or bidirectional recurrent layer (see the contract in the README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .wording import counted

if TYPE_CHECKING:
    import numpy as np

# The twelve canonical names, in the order grutool shows and writes them.
WEIGHT_NAMES = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")
BIAS_NAMES = ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")
CANONICAL_NAMES = WEIGHT_NAMES + BIAS_NAMES

FORWARD, REVERSE = "forward", "reverse"
# How a bidirectional module combines its two directions' outputs, as Keras's `merge_mode`
# names them ("none": the two outputs are returned apart, as a list).
MERGES = ("concat", "sum", "mul", "ave", "none")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list[Any]:
    """Sort key that reads numbers as numbers: `cell_2` before `cell_10`. For files that keep no
    model order of their own; never a substitute for an order the file states."""
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


@dataclass
class GruCell:
    """One GRU cell as found in a file, with where its weights live."""

    name: str
    module: str
    layer: int
    direction: str
    layout: str
    input_size: int
    hidden_size: int
    reset_after: bool
    dtype: str
    source_tensors: list[str]
    # How the family finds each part again: role -> tensor name (family-private).
    roles: dict[str, str] = field(default_factory=dict)
    # Family-private facts beyond the roles (e.g. the direction index in an ONNX W tensor).
    extra: dict[str, Any] = field(default_factory=dict)
    # Which naming era or variant of the layout the tensors use, for people (e.g. "TF 0.x names").
    variant: str | None = None
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    # A reverse cell that returns its outputs in the order it read them, last input step first
    # (a lone Keras `go_backwards` layer); a bidirectional layer's reverse cell aligns them with
    # the input instead.
    outputs_time_reversed: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "module": self.module,
            "layer": self.layer,
            "direction": self.direction,
            "layout": self.layout,
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "reset_after": self.reset_after,
            "dtype": self.dtype,
            "source_tensors": list(self.source_tensors),
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
        }
        if self.variant:
            data["variant"] = self.variant
        if self.outputs_time_reversed:
            data["outputs_time_reversed"] = True
        return data


@dataclass
class GruModule:
    """The cells of one recurrent layer: `num_layers` deep, one or two directions."""

    name: str
    cells: list[GruCell]
    # How the directions' outputs combine (MERGES), or None: one direction, or a file that
    # does not say (then the proof concatenates them, as the other frameworks do).
    merge: str | None = None
    # "model": the file states the order of the layers; "names": inferred from their names.
    layer_order: str = "model"

    @property
    def layout(self) -> str:
        return self.cells[0].layout

    @property
    def input_size(self) -> int:
        return self.first_layer_cells()[0].input_size

    @property
    def hidden_size(self) -> int:
        return self.first_layer_cells()[0].hidden_size

    @property
    def num_layers(self) -> int:
        return len({cell.layer for cell in self.cells})

    @property
    def bidirectional(self) -> bool:
        # Both directions: a lone reverse cell (Keras go_backwards) is not a bidirectional layer.
        return {cell.direction for cell in self.cells} == {FORWARD, REVERSE}

    @property
    def reset_after(self) -> bool:
        return self.cells[0].reset_after

    def first_layer_cells(self) -> list[GruCell]:
        lowest = min(cell.layer for cell in self.cells)
        return [cell for cell in self.cells if cell.layer == lowest]

    def layers(self) -> list[list[GruCell]]:
        """Cells per layer, bottom first; within a layer forward before reverse."""
        order = {FORWARD: 0, REVERSE: 1}
        by_layer: dict[int, list[GruCell]] = {}
        for cell in self.cells:
            by_layer.setdefault(cell.layer, []).append(cell)
        return [sorted(by_layer[k], key=lambda c: order[c.direction]) for k in sorted(by_layer)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layout": self.layout,
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "reset_after": self.reset_after,
            "merge": self.merge if self.bidirectional else None,
            "layer_order": self.layer_order,
            "cells": [cell.name for cell in self.ordered_cells()],
        }

    def ordered_cells(self) -> list[GruCell]:
        """Model order: bottom layer first, forward before reverse."""
        return [cell for layer in self.layers() for cell in layer]


@dataclass(frozen=True)
class RecognitionHints:
    """What recognition is told beside the file itself: the user's forced reading (`--layout`)
    and Keras layer configs found outside the file's reader (a SavedModel's
    `keras_metadata.pb`, normalised and keyed by the scope their weights sit under)."""

    layout: str | None = None
    keras_layers: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Recognition:
    """What the GRU families found in one tensor source."""

    cells: list[GruCell] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Tensors a family has taken (weights and their optimizer slots); later families skip them.
    claimed: set[str] = field(default_factory=set)
    # Per module name: how its directions merge (see GruModule.merge).
    merges: dict[str, str | None] = field(default_factory=dict)
    # Modules whose layer order the file does not state (inferred from names, and warned).
    order_assumed: set[str] = field(default_factory=set)

    @property
    def modules(self) -> list[GruModule]:
        """Modules in the order their first cell was found (families find them in model
        order), each with its cells in model order."""
        grouped: dict[str, list[GruCell]] = {}
        for cell in self.cells:
            grouped.setdefault(cell.module, []).append(cell)
        modules = [GruModule(name, cells, self.merges.get(name),
                             "names" if name in self.order_assumed else "model")
                   for name, cells in grouped.items()]
        for module in modules:
            module.cells = module.ordered_cells()
        return modules

    def ordered_cells(self) -> list[GruCell]:
        """Every cell in model order: modules in order, each bottom layer first."""
        return [cell for module in self.modules for cell in module.cells]

    def extend(self, other: Recognition) -> None:
        self.cells.extend(other.cells)
        self.warnings.extend(other.warnings)
        self.claimed |= other.claimed
        self.merges.update(other.merges)
        self.order_assumed |= other.order_assumed


def model_order(cells: list[GruCell]) -> list[GruCell]:
    """`cells` in model order: modules in the order of their first cell, each bottom layer
    first, forward before reverse."""
    return Recognition(list(cells)).ordered_cells()


def _placement(reset_after: bool) -> str:
    return "reset after" if reset_after else "reset before"


def structure_difference(a: GruModule, b: GruModule,
                         allow_reset_difference: bool = False) -> str | None:
    """The first way in which two modules are built differently, as one sentence naming it,
    or None when they have the same structure (weights aside).

    One rule for `verify`, `diff`, `check --match` and `convert`'s proof: layers, directions,
    merge, per cell reset placement, activations and sizes, and the outputs' time order. A
    merge the file does not state (None) matches any.
    """
    layers_a, layers_b = a.layers(), b.layers()
    if len(layers_a) != len(layers_b):
        return (f"{a.name} has {counted(len(layers_a), 'layer')} and {b.name} "
                f"{counted(len(layers_b), 'layer')}")
    if a.bidirectional and b.bidirectional and None not in (a.merge, b.merge) \
            and a.merge != b.merge:
        return f"{a.name} merges its directions by {a.merge} and {b.name} by {b.merge}"
    for index, (layer_a, layer_b) in enumerate(zip(layers_a, layers_b, strict=True)):
        directions_a = [cell.direction for cell in layer_a]
        directions_b = [cell.direction for cell in layer_b]
        if directions_a != directions_b:
            return (f"layer {index} of {a.name} runs {' + '.join(directions_a)} and of "
                    f"{b.name} {' + '.join(directions_b)}")
        for cell_a, cell_b in zip(layer_a, layer_b, strict=True):
            difference = _cell_difference(cell_a, cell_b, allow_reset_difference)
            if difference:
                return f"{cell_a.name} vs {cell_b.name}: {difference}"
    return None


def modules_difference(modules_a: list[GruModule], modules_b: list[GruModule],
                       allow_reset_difference: bool = False) -> str | None:
    """`structure_difference` over two files' modules, paired in model order; also when the
    files hold different numbers of modules."""
    if len(modules_a) != len(modules_b):
        cells_a = sum(len(m.cells) for m in modules_a)
        cells_b = sum(len(m.cells) for m in modules_b)
        return (f"different numbers of GRU modules: {len(modules_a)} "
                f"({counted(cells_a, 'cell')}) vs {len(modules_b)} ({counted(cells_b, 'cell')})")
    for module_a, module_b in zip(modules_a, modules_b, strict=True):
        difference = structure_difference(module_a, module_b, allow_reset_difference)
        if difference:
            return difference
    return None


def _cell_difference(a: GruCell, b: GruCell, allow_reset_difference: bool) -> str | None:
    if (a.input_size, a.hidden_size) != (b.input_size, b.hidden_size):
        return f"sizes {a.input_size}→{a.hidden_size} vs {b.input_size}→{b.hidden_size}"
    if a.reset_after != b.reset_after and not allow_reset_difference:
        return f"{_placement(a.reset_after)} vs {_placement(b.reset_after)}"
    for role in ("activation", "recurrent_activation"):
        value_a, value_b = getattr(a, role), getattr(b, role)
        if value_a != value_b:
            return f"{role.replace('_', ' ')} {value_a} vs {value_b}"
    if a.outputs_time_reversed != b.outputs_time_reversed:
        which = a if a.outputs_time_reversed else b
        return (f"{which.name} returns its outputs last-read first and the other in input "
                "order")
    return None


CanonicalWeights = dict[str, "np.ndarray"]
