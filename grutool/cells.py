"""The data model every command walks: cells and modules found in a tensor source, and
their canonical per-gate arrays.

A *cell* is one GRU layer in one direction; a *module* groups the cells of one stacked
and/or bidirectional recurrent layer (see the contract in the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# The twelve canonical names, in the order grutool shows and writes them.
WEIGHT_NAMES = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")
BIAS_NAMES = ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")
CANONICAL_NAMES = WEIGHT_NAMES + BIAS_NAMES

FORWARD, REVERSE = "forward", "reverse"


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
        if self.extra.get("outputs_time_reversed"):
            # A lone Keras `go_backwards` layer returns its steps last-read first.
            data["outputs_time_reversed"] = True
        return data


@dataclass
class GruModule:
    """The cells of one recurrent layer: `num_layers` deep, one or two directions."""

    name: str
    cells: list[GruCell]

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
            "cells": [cell.name for cell in self.cells],
        }


@dataclass
class Recognition:
    """What the GRU families found in one tensor source."""

    cells: list[GruCell] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Tensors a family has taken (weights and their optimizer slots); later families skip them.
    claimed: set[str] = field(default_factory=set)

    @property
    def modules(self) -> list[GruModule]:
        grouped: dict[str, list[GruCell]] = {}
        for cell in self.cells:
            grouped.setdefault(cell.module, []).append(cell)
        return [GruModule(name, cells) for name, cells in grouped.items()]


CanonicalWeights = dict[str, "np.ndarray"]
