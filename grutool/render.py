"""Rich tables for people. Takes the JSON-ready reports the library builds and draws them;
knows nothing about files or formats."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


def console(stderr: bool = False) -> Console:
    # rich already drops colour when the stream is not a terminal; NO_COLOR is honoured
    # explicitly so that it also holds under `--force-terminal`-like environments.
    return Console(stderr=stderr, no_color=bool(os.environ.get("NO_COLOR")),
                   highlight=False, soft_wrap=False)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def render_inspect(report: dict[str, Any], out: Console) -> None:
    cells = report["cells"]
    out.print(Text.assemble(("File    ", "bold"), report["path"]))
    out.print(Text.assemble(("Format  ", "bold"), f"{report['format']}, "
                            f"{human_size(report['size_bytes'])}, {len(report['tensors'])} tensors"))
    out.print(Text.assemble(("Found   ", "bold"), f"{len(cells)} GRU cell{'s' * (len(cells) != 1)} "
                            f"in {len(report['modules'])} module{'s' * (len(report['modules']) != 1)}"))
    if not cells:
        _render_tensor_list(report["tensors"], out)
    if report["modules"]:
        out.print(_modules_table(report["modules"]))
    for cell in cells:
        out.print(_cell_table(cell))
        for problem in cell.get("problems", []):
            out.print(Text(f"  ! {cell['name']}: {problem}", style="bold yellow"))
    for warning in report["warnings"]:
        out.print(Text(f"warning: {warning}", style="yellow"))


def _modules_table(modules: list[dict[str, Any]]) -> Table:
    table = Table(title="Modules", title_justify="left", title_style="bold")
    table.add_column("module", overflow="fold")
    table.add_column("layout")
    table.add_column("in", justify="right")
    table.add_column("units", justify="right")
    table.add_column("layers", justify="right")
    table.add_column("dirs", justify="right")
    table.add_column("reset")
    for module in modules:
        table.add_row(module["name"], module["layout"], str(module["input_size"]),
                      str(module["hidden_size"]), str(module["num_layers"]),
                      "2" if module["bidirectional"] else "1",
                      "after" if module["reset_after"] else "before")
    return table


def _cell_table(cell: dict[str, Any]) -> Table:
    where = f"layer {cell['layer']}, {cell['direction']}"
    extras = [cell["layout"], f"{cell['input_size']}→{cell['hidden_size']}", cell["dtype"],
              "reset after" if cell["reset_after"] else "reset before"]
    if cell.get("activation", "tanh") != "tanh" or cell.get("recurrent_activation", "sigmoid") != "sigmoid":
        extras.append(f"activations {cell['activation']}/{cell['recurrent_activation']}")
    if cell.get("variant"):
        extras.append(cell["variant"])
    title = Text.assemble((cell["name"], "bold cyan"), f"  ({where})")
    caption = "  ".join(extras) + "\nfrom " + ", ".join(cell["source_tensors"])
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("gate")
    table.add_column("shape")
    for column in ("mean", "std", "min", "max"):
        table.add_column(column, justify="right")
    table.add_column("flags")
    for name, stats in cell.get("gates", {}).items():
        flags = []
        if stats["nan"]:
            flags.append(f"{stats['nan']} NaN")
        if stats["inf"]:
            flags.append(f"{stats['inf']} Inf")
        table.add_row(name, "×".join(map(str, stats["shape"])), _number(stats["mean"]),
                      _number(stats["std"]), _number(stats["min"]), _number(stats["max"]),
                      Text(", ".join(flags), style="bold red") if flags else "")
    return table


def _render_tensor_list(tensors: list[dict[str, Any]], out: Console, limit: int = 30) -> None:
    table = Table(title="Tensors", title_justify="left", title_style="bold")
    table.add_column("name", overflow="fold")
    table.add_column("shape")
    table.add_column("dtype")
    for tensor in tensors[:limit]:
        table.add_row(tensor["name"], "×".join(map(str, tensor["shape"])) or "scalar", tensor["dtype"])
    if len(tensors) > limit:
        table.add_row(f"… and {len(tensors) - limit} more", "", "")
    out.print(table)


def render_split(result: dict[str, Any], out: Console) -> None:
    out.print(f"Wrote {result['arrays']} arrays of {len(result['cells'])} cells to {result['out']}")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
