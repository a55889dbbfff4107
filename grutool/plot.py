"""`plot`: one figure per GRU cell — a heat map of each per-gate weight matrix and a
histogram of each gate's values — written as PNG, SVG or a multi-page PDF.

matplotlib is the optional `plot` extra and is imported only here, inside the functions
that draw; figures are built with matplotlib's object API on the Agg canvas, so no
pyplot state or interactive backend is ever involved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cells import CanonicalWeights, GruCell, model_order
from .errors import MissingExtraError, OutputError, UsageError
from .progress import steps
from .writers import atomic_path, check_output, output_format

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .progress import Progress

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
GATES = (("r", "reset"), ("z", "update"), ("n", "candidate"))
FIGURE_SIZE = (11.0, 9.5)  # inches
DPI = 100
COLORBAR = "<colorbar>"  # the label matplotlib itself gives colour-bar axes


@dataclass
class PlotPage:
    """One cell drawn: where it went and how many panels (axes, colour bar excluded) it has."""

    cell: str
    path: Path
    panels: int

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "out": str(self.path), "panels": self.panels}


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingExtraError("plotting needs matplotlib", "plot") from exc
    return matplotlib


def output_paths(out: Path, count: int) -> list[Path]:
    """Where each of `count` cells goes: a PDF holds them all as pages; otherwise the first
    cell is OUT itself and cell k (from 2) is OUT's stem + `-k` (gates.png, gates-2.png …)."""
    if out.suffix.lower() == ".pdf":
        return [out] * count
    return [out] + [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(2, count + 1)]


def cell_figure(cell: GruCell, weights: CanonicalWeights) -> Any:
    """A matplotlib Figure: rows W_i*, W_h* as heat maps on one shared symmetric colour
    scale, then one histogram per gate (r, z, n) of all its weights and biases."""
    _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # Fixed margins rather than a layout engine: constrained layout costs a second a figure.
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    grid = figure.subplots(3, 3, gridspec_kw={"left": 0.07, "right": 0.89, "bottom": 0.06,
                                              "top": 0.89, "hspace": 0.45, "wspace": 0.28})
    matrices = {name: np.asarray(weights[name], dtype=np.float64)
                for name in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")}
    finite = [m[np.isfinite(m)] for m in matrices.values()]
    limit = max((float(np.abs(v).max()) for v in finite if v.size), default=1.0) or 1.0
    image = None
    for row, side in enumerate(("i", "h")):
        for column, (gate, label) in enumerate(GATES):
            name = f"W_{side}{gate}"
            axes = grid[row][column]
            image = axes.imshow(matrices[name], cmap="RdBu_r", vmin=-limit, vmax=limit,
                                aspect="auto", interpolation="nearest")
            rows, columns = matrices[name].shape
            axes.set_title(f"{name}  ({label}, {rows}×{columns})", fontsize=10)
            axes.set_xlabel("unit", fontsize=8)
            axes.set_ylabel("input" if side == "i" else "state", fontsize=8)
            axes.tick_params(labelsize=7)
            # Rows and columns are indices: half-integer ticks would mislead.
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    # One colour bar beside the two rows of heat maps, which share its scale.
    figure.colorbar(image, cax=figure.add_axes((0.91, 0.4, 0.015, 0.49), label=COLORBAR),
                    label="weight")
    for column, (gate, label) in enumerate(GATES):
        parts = [np.asarray(weights[n], dtype=np.float64).ravel()
                 for n in (f"W_i{gate}", f"W_h{gate}", f"b_i{gate}", f"b_h{gate}") if n in weights]
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        axes = grid[2][column]
        axes.hist(values, bins=min(50, max(10, values.size // 4)), color="#4477aa")
        axes.set_title(f"{gate} ({label}): {values.size} values", fontsize=10)
        axes.set_xlabel("value", fontsize=8)
        axes.set_ylabel("count", fontsize=8)
        axes.tick_params(labelsize=7)
    placement = "reset after" if cell.reset_after else "reset before"
    figure.suptitle(f"{cell.name}\n{cell.layout}, layer {cell.layer} {cell.direction}, "
                    f"{cell.input_size}→{cell.hidden_size}, {placement}", fontsize=11)
    return figure


def figure_panels(figure: Any) -> int:
    """Axes that show data: colour bars are axes in matplotlib but not panels."""
    return sum(1 for axes in figure.axes if axes.get_label() != COLORBAR)


def plot_checkpoint(checkpoint: Checkpoint, out: str | Path, cell: str | None = None,
                    force: bool = False,
                    progress: Progress | None = None) -> list[PlotPage]:
    """Draw each cell of `checkpoint` (or only `cell`) to `out` (.png, .svg or .pdf); see
    `output_paths` for where several cells go. Every output is checked before anything is
    drawn, written atomically, and never replaces an input."""
    out = Path(out)
    suffix = output_format(out, PLOT_SUFFIXES)
    checkpoint.require_cells()
    cells = model_order(checkpoint.cells)
    if cell is not None:
        cells = [c for c in cells if c.name == cell]
        if not cells:
            raise UsageError(f"no cell named {cell!r}; the file has: "
                             f"{', '.join(c.name for c in checkpoint.cells)}", checkpoint.path)
    paths = output_paths(out, len(cells))
    for path in dict.fromkeys(paths):
        check_output(path, force, checkpoint.source.files)
    _matplotlib()
    # The caller's progress wraps the loop that does the work, so it advances per cell drawn.
    chosen = steps(progress, cells, "drawing")
    try:
        if suffix == ".pdf":
            return _write_pdf(checkpoint, chosen, out)
        pages = []
        for target, item in zip(paths, chosen, strict=True):
            figure = cell_figure(item, checkpoint.canonical(item))
            with atomic_path(target) as temporary:
                figure.savefig(temporary, format=suffix[1:])
            pages.append(PlotPage(item.name, target, figure_panels(figure)))
        return pages
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", out) from exc


def _write_pdf(checkpoint: Checkpoint, cells: Iterable[GruCell], out: Path) -> list[PlotPage]:
    from matplotlib.backends.backend_pdf import PdfPages

    pages = []
    with atomic_path(out) as temporary:
        with PdfPages(temporary) as pdf:
            for item in cells:
                figure = cell_figure(item, checkpoint.canonical(item))
                pdf.savefig(figure)
                pages.append(PlotPage(item.name, out, figure_panels(figure)))
    return pages
