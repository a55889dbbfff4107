"""Rich tables for people. Takes the JSON-ready reports the library builds and draws them;
knows nothing about files or formats."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Iterator, Sequence, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .plain_table import print_table


def console(stderr: bool = False) -> Console:
    # rich already drops colour when the stream is not a terminal; NO_COLOR is honoured
    # explicitly so that it also holds under `--force-terminal`-like environments. Rich's own
    # no_color keeps bold and dim escapes; no colour system at all writes plain text.
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, no_color=no_color, color_system=None if no_color else "auto",
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
        print_table(out, _cell_table(cell), blank_line_before=True)
        for problem in cell.get("problems", []):
            out.print(Text(f"  ! {cell['name']}: {problem}", style="bold yellow"))
    for warning in report["warnings"]:
        out.print(Text(f"warning: {warning}", style="yellow"))


def _modules_table(modules: list[dict[str, Any]]) -> Table:
    # Two columns, the name never wrapped: the facts wrap instead, so the table fits 80
    # columns without breaking a module name in the middle.
    table = Table(title="Modules", title_justify="left", title_style="bold")
    table.add_column("module", no_wrap=True)
    table.add_column("structure")
    for module in modules:
        layers = module["num_layers"]
        table.add_row(module["name"], ", ".join([
            module["layout"], f"{module['input_size']}→{module['hidden_size']}",
            f"{layers} layer{'s' * (layers != 1)}",
            "bidirectional" if module["bidirectional"] else "one direction",
            "reset after" if module["reset_after"] else "reset before"]))
    return table


def _tensor_list(cell_name: str, tensors: list[str]) -> str:
    """`scope/{a, b}` when every tensor sits under the cell's own scope, else the full names."""
    prefix = cell_name + "/"
    if len(tensors) > 1 and all(t.startswith(prefix) for t in tensors):
        return prefix + "{" + ", ".join(t[len(prefix):] for t in tensors) + "}"
    return ", ".join(tensors)


def _cell_table(cell: dict[str, Any]) -> Table:
    where = f"layer {cell['layer']}, {cell['direction']}"
    extras = [cell["layout"], f"{cell['input_size']}→{cell['hidden_size']}", cell["dtype"],
              "reset after" if cell["reset_after"] else "reset before"]
    if cell.get("activation", "tanh") != "tanh" or cell.get("recurrent_activation", "sigmoid") != "sigmoid":
        extras.append(f"activations {cell['activation']}/{cell['recurrent_activation']}")
    if cell.get("variant"):
        extras.append(cell["variant"])
    title = Text.assemble((cell["name"], "bold cyan"), f"  ({where})")
    caption = "  ".join(extras) + "\nfrom " + _tensor_list(cell["name"], cell["source_tensors"])
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


# --- progress -------------------------------------------------------------------------------

T = TypeVar("T")

# A bar that flashes up for a fast read is noise: it appears only once the work has taken
# this long.
PROGRESS_DELAY_SECONDS = 1.0


def track_cells(items: Sequence[T], description: str, enabled: bool,
                delay: float = PROGRESS_DELAY_SECONDS) -> Iterator[T]:
    """Yield `items`; when `enabled` and the loop outlasts `delay`, show a transient
    progress bar on stderr (the caller decides: a terminal, no --json, no --quiet)."""
    if not enabled:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[item]}"),
                        console=console(stderr=True), transient=True)
    task = progress.add_task(description, total=len(items), item="")
    lock = threading.Lock()
    finished = False

    def show() -> None:
        with lock:  # never start after the loop has stopped it
            if not finished:
                progress.start()

    timer = threading.Timer(delay, show)
    timer.daemon = True
    timer.start()
    try:
        for item in items:
            progress.update(task, item=str(getattr(item, "name", item)))
            yield item
            progress.advance(task)
    finally:
        timer.cancel()
        with lock:
            finished = True
            progress.stop()


# --- check ----------------------------------------------------------------------------------

def check_lines(report: dict[str, Any], quiet: bool = False) -> list[str]:
    """`FAIL <check>: <detail>` per failed check, then the summary; a file without any GRU
    cell is one line. Nothing at all when quiet and every check passed."""
    checks = report["checks"]
    failed = [check for check in checks if not check["ok"]]
    if quiet and not failed:
        return []
    if any(check["name"] == "found" for check in failed):
        return [f"FAIL found: no GRU cell in {report['path']}"]
    lines = [f"FAIL {check['name']}: {check['detail']}" for check in failed]
    if failed:
        lines.append(f"FAILED: {report['path']}: {len(failed)} of {len(checks)} checks failed")
    else:
        found = next((c["detail"] for c in checks if c["name"] == "found"), "")
        lines.append(f"ok: {report['path']}: {found}, all {len(checks)} checks passed")
    return lines


# --- diff -----------------------------------------------------------------------------------

def _change(value: float | None, absent_means: str = "-") -> str:
    if value is None:
        return absent_means
    if value == 0:
        return "0"
    return f"{value:.3g}"


def render_diff(report: dict[str, Any], out: Console) -> None:
    """One table per cell pair: gate, shape, relative change, max |Δ|, cosine."""
    threshold = report["threshold"]
    for cell in report["cells"]:
        title = Text(cell["a"], style="bold cyan")
        caption = None if cell["a"] == cell["b"] else f"paired with {cell['b']}"
        table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
        table.add_column("gate")
        table.add_column("shape")
        table.add_column("rel. change", justify="right")
        table.add_column("max |Δ|", justify="right")
        table.add_column("cosine", justify="right")
        rows = []
        for gate in cell["gates"]:
            relative = gate["relative_change"]
            # None is infinite (a zero gate became non-zero) or NaN; max |Δ| tells which.
            infinite = relative is None and gate["max_abs_change"] is not None
            above = threshold is not None and (relative is None or relative > threshold)
            note = f"absent in {gate['absent_in'].upper()} (zero)" if gate["absent_in"] else ""
            if above:
                note = ", ".join(filter(None, [f"> {threshold:g}", note]))
            rows.append([gate["gate"], "×".join(map(str, gate["shape"])),
                         _change(relative, "inf" if infinite else "NaN"),
                         _change(gate["max_abs_change"], "NaN"),
                         "NaN" if gate["cosine"] is None else f"{gate['cosine']:.6f}",
                         Text(note, style="bold red") if above else note])
        # The note column only when some gate has something to say.
        if any(row[-1] for row in rows):
            table.add_column("note")
        else:
            rows = [row[:-1] for row in rows]
        for row in rows:
            table.add_row(*row)
        out.print(table)
    if not report["cells"]:
        return
    largest, where = report["max_relative_change"], report["largest_change"]
    if largest == 0:
        out.print("No change: every gate is identical.")
    else:
        gate = next(g for c in report["cells"] if c["a"] == where["cell"] for g in c["gates"]
                    if g["gate"] == where["gate"])
        unbounded = "inf" if gate["max_abs_change"] is not None else "NaN"
        out.print(Text(f"Largest relative change: {_change(largest, unbounded)} "
                       f"({where['cell']}/{where['gate']})"), soft_wrap=True)


# --- plot -----------------------------------------------------------------------------------

def render_plot(result: dict[str, Any], out: Console) -> None:
    files = list(dict.fromkeys(page["out"] for page in result["pages"]))
    out.print(Text(f"Wrote {len(result['pages'])} cell figure{'s' * (len(result['pages']) != 1)} "
                   f"to {', '.join(files)}"), soft_wrap=True)  # paths stay whole in a pipe
