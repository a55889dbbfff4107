"""How a file's tensors reach the GRU families: the typed reading options (`--layout`,
`--rename`, `--slot`) and the names recognition sees.

    file source (a reader's listing, untouched)
      -> object-graph names (TF 2 checkpoints, SavedModels) and Keras metadata configs
      -> the user's --rename rules, in order
      -> per-variable copies kept out of recognition
      -> families.recognise
      -> --slot: each weight's reads go to its copy; source_tensors name the file's tensors read
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import families
from .cells import FORWARD, Recognition, RecognitionHints
from .renaming import NameView, RenameRule, apply_rules, parse_rules
from .slots import Copies, cell_copies, copy_names, find_copies, select_slot
from .tensors import TensorSource


@dataclass(frozen=True)
class ReadingOptions:
    layout: str | None = None
    rename: tuple[RenameRule, ...] = ()
    slot: str | None = None

    @classmethod
    def make(cls, layout: str | None = None, rename: Iterable[str | RenameRule] | str | None = None,
             slot: str | None = None) -> ReadingOptions:
        return cls(layout, tuple(parse_rules(rename)), slot or None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.rename:
            data["rename"] = [rule.text for rule in self.rename]
        if self.slot:
            data["slot"] = self.slot
        return data


@dataclass
class Reading:
    """What recognition saw and found: the view over the file, the cells, the copies."""

    view: NameView
    recognition: Recognition
    copies: Copies = field(default_factory=dict)
    options: ReadingOptions = field(default_factory=ReadingOptions)
    hints: RecognitionHints = field(default_factory=RecognitionHints)

    def cell_copies(self, cell) -> dict[str, list[str]]:
        """Slot name -> the file's names of the copies of the cell's tensors."""
        return {slot: [self.view.own_name(name) for name in names]
                for slot, names in cell_copies(cell, self.copies).items()}


def read_cells(source: TensorSource, options: ReadingOptions) -> Reading:
    graph = None
    if source.format == "tf-checkpoint":  # only TF 2 checkpoints have an object graph
        from .object_names import object_names

        graph = object_names(source)
    names = dict(graph.names) if graph else {}
    if options.rename:
        names = {info.name: apply_rules(names.get(info.name, info.name), list(options.rename))
                 for info in source.tensors()}
    view = NameView(source, names)
    if graph is not None and graph.order:
        # The object graph states the model's order of its variables, stacked cells included.
        view.stated_order = {names.get(key, key): (index, 0) for index, key in enumerate(graph.order)}
    warnings: list[str] = list(graph.warnings) if graph else []
    keras_layers = graph.layer_configs(lambda key: names.get(key, key)) \
        if graph is not None and graph.layers else {}
    hints = RecognitionHints(layout=options.layout, keras_layers=keras_layers)
    ties = {}
    if graph is not None:
        ties = {names.get(copy, copy): (names.get(weight, weight), slot)
                for copy, (weight, slot) in graph.ties.items()}
    copies = find_copies(view.tensors(), ties)
    view.hidden |= copy_names(copies)
    recognition = families.recognise(view, hints)
    recognition.warnings[:0] = warnings
    if graph is not None and graph.saved_model and not graph.has_keras_metadata and any(
            cell.layout.startswith("keras") for cell in recognition.cells):
        recognition.warnings.append(
            "this SavedModel carries no Keras layer configs (keras_metadata.pb): reset_after "
            "was read from each bias shape; activations tanh and sigmoid, go_backwards false "
            "and merge_mode concat are assumed")
    if graph is not None and graph.names:
        _model_order(recognition, view, graph.order)
    if options.slot is not None and recognition.cells:
        select_slot(view, recognition.cells, copies, options.slot)
    how = " and ".join(what for what, used in (("the object graph", bool(graph and graph.names)),
                                                 ("--rename", bool(options.rename))) if used)
    for cell in recognition.cells:
        if how and any(view.own_name(name) != name for name in cell.roles.values()):
            cell.variant = f"{cell.variant}; names from {how}" if cell.variant \
                else f"names from {how}"
        cell.source_tensors = [view.file_name(name) for name in cell.source_tensors]
    return Reading(view, recognition, copies, options, hints)


def _model_order(recognition: Recognition, view: NameView, keys_in_graph_order: list[str]) -> None:
    """Modules in the order the object graph reaches their variables (a Keras model's layer
    order: `layer_with_weights-0`, `variables/0`, ...); within a module by layer, forward
    before reverse."""
    rank = {key: index for index, key in enumerate(keys_in_graph_order)}
    first: dict[str, int] = {}
    for cell in recognition.cells:
        position = min((rank.get(view.own_name(name), len(rank)) for name in cell.roles.values()),
                       default=len(rank))
        first[cell.module] = min(first.get(cell.module, position), position)
    order = {cell.name: index for index, cell in enumerate(recognition.cells)}
    recognition.cells.sort(key=lambda cell: (first[cell.module], cell.layer,
                                             cell.direction != FORWARD, order[cell.name]))
