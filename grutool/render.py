"""Rich tables for people. Takes the JSON-ready reports the library builds and draws them;
knows nothing about files or formats."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .plain_table import print_lines, print_table
from .wording import counted


def console(stderr: bool = False) -> Console:
    # rich already drops colour when the stream is not a terminal; NO_COLOR is honoured
    # explicitly so that it also holds under `--force-terminal`-like environments. Rich's own
    # no_color keeps bold and dim escapes; no colour system at all writes plain text.
    no_color = bool(os.environ.get("NO_COLOR"))
    options: dict[str, Any] = dict(stderr=stderr, no_color=no_color, highlight=False,
                                   soft_wrap=False,
                                   color_system=None if no_color else "auto")
    # Whether the stream is a terminal, and its size, decided once: rich otherwise asks the
    # stream and the environment at every print (15% of an `inspect --all` of many files).
    out = Console(**options, force_terminal=Console(**options).is_terminal)
    out.size = out.size
    return out


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


def render_inspect(report: dict[str, Any], out: Console, all_tensors: bool = False) -> None:
    """The file, its modules, and per cell a heading, a table of its canonical arrays
    (statistics when the report has them, else names and shapes), what the cell is, the
    tensors it was read from and which arrays it does not have. `all_tensors` lists every
    tensor of the file, marking the cells that read it."""
    cells = report["cells"]
    out.print(Text.assemble(("File    ", "bold"), report["path"]), crop=False)
    out.print(Text.assemble(("Format  ", "bold"), f"{report['format']}, "
                            f"{human_size(report['size_bytes'])}, "
                            f"{counted(len(report['tensors']), 'tensor')}"))
    read = sum(1 for tensor in report["tensors"] if tensor.get("cells"))
    total = report.get("cells_in_file", len(cells))
    modules = report.get("modules_in_file", len(report["modules"]))
    out.print(Text.assemble(("Found   ", "bold"), f"{counted(total, 'GRU cell')} "
                            f"in {counted(modules, 'module')}"), crop=False)
    if "cells_in_file" in report and cells:
        out.print(Text.assemble(("Showing ", "bold"), cells[0]["name"]), crop=False)
    for layer in report.get("other_recurrent", []):
        out.print(Text.assemble(("Holds   ", "bold"), f"{layer['description']}, not a GRU"),
                  crop=False)
    if all_tensors or not report.get("ok", bool(cells)):
        _render_tensor_list(report["tensors"], out, limit=None if all_tensors else 30,
                            read=read)
    if not cells:
        _render_hints(report.get("hints", []), out)
    if report["modules"]:
        print_table(out, _modules_table(report["modules"]))
    for cell in cells:
        _render_cell(cell, out)  # after a blank line
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


def _tensor_list(cell_name: str, tensors: list[str]) -> list[str]:
    """The words of a `from` line, each a whole name: `scope/{`, `a,`, `b}` when every
    tensor sits under the cell's own scope (a word ending in `{` is glued to the next on
    the same line), else the full names."""
    prefix = cell_name + "/"
    if len(tensors) > 1 and all(t.startswith(prefix) for t in tensors):
        words = [t[len(prefix):] + "," for t in tensors]
        words[-1] = words[-1][:-1] + "}"
        return [prefix + "{", *words]
    return [t + "," for t in tensors[:-1]] + tensors[-1:]


def _wrapped(words: list[str], width: int, indent: str = "  ") -> list[str]:
    """`words` in lines of at most `width` columns, broken only between words; a word longer
    than a line gets a line of its own, whole (a tensor name is never cut). Continuation
    lines are indented unless the indent alone would push the word past the width."""
    lines: list[str] = []
    line = ""
    for word in words:
        glue = "" if line.endswith("{") else " "
        candidate = f"{line}{glue}{word}" if line else word
        if line and cell_len(candidate) > width:
            lines.append(line)
            line = (indent if cell_len(indent + word) <= width else "") + word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _render_cell(cell: dict[str, Any], out: Console) -> None:
    """A blank line, then the heading, table, facts, sources and absent arrays of one cell.
    Only the table keeps the table's width; the lines around it use the console's, broken
    between names."""
    where = f"layer {cell['layer']}, {cell['direction']}"
    extras = [cell["layout"], f"{cell['input_size']}→{cell['hidden_size']}", cell["dtype"],
              "reset after" if cell["reset_after"] else "reset before"]
    if cell.get("activation", "tanh") != "tanh" or cell.get("recurrent_activation", "sigmoid") != "sigmoid":
        extras.append(f"activations {cell['activation']}/{cell['recurrent_activation']}")
    if cell.get("variant"):
        extras.append(cell["variant"])
    width = out.width
    heading = Text.assemble((cell["name"], "bold cyan"), f"  ({where})")
    if cell_len(heading.plain) <= width:  # one line, however rich would wrap a longer one
        print_lines(out, [Text(), heading])
    else:
        out.print()
        out.print(heading, crop=False)
    gates = cell.get("gates", {})
    with_stats = any("mean" in stats for stats in gates.values())
    table = Table()
    table.add_column("gate")
    table.add_column("shape")
    if with_stats:
        for column in ("mean", "std", "min", "max"):
            table.add_column(column, justify="right")
        table.add_column("flags")
    for name, stats in gates.items():
        shape = "×".join(map(str, stats["shape"])) or "scalar"
        if not with_stats:
            table.add_row(name, shape)
            continue
        flags = []
        if stats["nan"]:
            flags.append(f"{stats['nan']} NaN")
        if stats["inf"]:
            flags.append(f"{stats['inf']} Inf")
        table.add_row(name, shape, _number(stats["mean"]),
                      _number(stats["std"]), _number(stats["min"]), _number(stats["max"]),
                      Text(", ".join(flags), style="bold red") if flags else "")
    if gates:
        print_table(out, table)  # plain text written directly where rich would write the same
    lines = [Text(line) for line in _wrapped("  ".join(extras).split(" "), width)]
    lines += [Text(line) for line in
              _wrapped(["from", *_tensor_list(cell["name"], cell["source_tensors"])], width)]
    if cell.get("absent"):
        lines += [Text(line, style="dim") for line in
                  _wrapped(["absent", "(zero):", *cell["absent"]], width)]
    if cell.get("slot"):
        lines += [Text(line) for line in
                  _wrapped(f"(the copies {cell['slot']!r}, not the weights)".split(" "), width)]
    elif cell.get("copies"):
        words = ["copies", "beside", "the", "weights:", *[f"{name}," for name in cell["copies"]]]
        words[-1] = words[-1].rstrip(",")
        lines += [Text(line) for line in
                  _wrapped([*words, "(--slot", "NAME", "reads", "one)"], width)]
    print_lines(out, lines)
    for problem in cell.get("problems", []):
        out.print(Text(f"  ! {cell['name']}: {problem}", style="bold yellow"))


def _render_tensor_list(tensors: list[dict[str, Any]], out: Console, limit: int | None = 30,
                        read: int = 0) -> None:
    """Every tensor, h5ls-style (name, shape, dtype), under the cell(s) that read it, in
    model order, then those no cell read. Names under the cell's own scope are shown
    relative to it; a name is never cut, columns are aligned when they fit the console."""
    shown = tensors if limit is None else tensors[:limit]
    out.print(Text(f"Tensors ({counted(len(tensors), 'tensor')}, {read} read by GRU cells)",
                   style="bold"), crop=False)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for tensor in shown:
        groups.setdefault(tuple(tensor.get("cells", [])), []).append(tensor)
    if () in groups:  # what no cell read comes last
        groups[()] = groups.pop(())
    for readers, members in groups.items():
        if readers:  # the reading cells' names head their tensors, as groups do in h5ls
            words = [*[name + "," for name in readers[:-1]], readers[-1] + ":"]
        else:
            words = ["read", "by", "no", "cell:"]
        if groups.keys() != {()}:
            print_lines(out, [Text(line, style="cyan")
                              for line in _wrapped(words, out.width, indent="")])
        prefix = readers[0] + "/" if len(readers) == 1 else None
        _render_tensor_rows([((t["name"][len(prefix):] if prefix and t["name"].startswith(prefix)
                               else t["name"]),
                              "×".join(map(str, t["shape"])) or "scalar", t["dtype"],
                              f"read as {t['read_as']}" if "read_as" in t else "")
                             for t in members], out)
    if limit is not None and len(tensors) > limit:
        out.print(f"  … and {len(tensors) - limit} more (--all lists every tensor)")


def _render_tensor_rows(rows: list[tuple[str, str, str, str]], out: Console) -> None:
    """Name, shape, dtype and the name recognition read it as (--rename, object graphs)."""
    widths = [max(cell_len(row[i]) for row in rows) for i in range(4)]
    lines: list[Text] = []
    if 2 + sum(widths) + 6 <= out.width:
        for name, shape, dtype, read_as in rows:
            line = f"  {name.ljust(widths[0])}  {shape.ljust(widths[1])}  {dtype.ljust(widths[2])}"
            lines.append(Text(f"{line}  {read_as}".rstrip()))
    else:
        for name, shape, dtype, read_as in rows:  # too wide for columns: the name on its own line
            lines.append(Text(f"  {name}"))
            lines += [Text(line) for line in _wrapped([f"      {shape}  {dtype}", *read_as.split(" ")],
                                                      out.width, indent="        ")]
    print_lines(out, lines)


def _render_hints(hints: list[dict[str, Any]], out: Console) -> None:
    """Tensors with a GRU's shapes, and the options that would read them as each layout."""
    if not hints:
        return
    out.print()
    out.print(Text("Tensors with a GRU's shapes (the file does not say the gate order: check a "
                   "reading against outputs you trust, e.g. with grutool verify)", style="bold"))
    for hint in hints:
        shapes = ", ".join(hint["tensors"].values())
        out.print(f"  {shapes}: input {hint['input_size']}, {hint['hidden_size']} units, "
                  f"stored {hint['orientation']}; could be {', '.join(hint['layouts'])}")
        for reading in hint["readings"]:
            out.print(f"    {reading['layout']} (gates {reading['gates']}, reset "
                      f"{reading['reset']}):", highlight=False)
            if reading["command_line"]:
                out.print(Text(f"      {reading['command_line']}"), soft_wrap=True)
            if reading.get("note"):
                out.print(Text(f"      {reading['note']}", style="dim"))
        for caveat in hint["caveats"]:
            out.print(Text(f"    note: {caveat}", style="yellow"))


def render_split(result: dict[str, Any], out: Console) -> None:
    out.print(Text(f"Wrote {result['arrays']} arrays of {counted(len(result['cells']), 'cell')} "
                   f"to {result['out']}"), soft_wrap=True)


# --- progress -------------------------------------------------------------------------------

T = TypeVar("T")

# A bar that flashes up for a fast read is noise: it appears only once the work has taken
# this long.
PROGRESS_DELAY_SECONDS = 1.0


def track_cells(items: Sequence[T], description: str, enabled: bool,
                delay: float | None = None) -> Iterator[T]:
    """Yield `items`; when `enabled` and the loop outlasts `delay` (PROGRESS_DELAY_SECONDS
    unless given), show a transient progress bar on stderr (the caller decides: a terminal,
    no --json, no --quiet)."""
    delay = PROGRESS_DELAY_SECONDS if delay is None else delay
    if not enabled:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    # The bar and the cell's name share what the terminal's width leaves; at 80 columns the
    # name is cut with an ellipsis rather than the line wrapping (or the time being cut).
    progress = Progress(TextColumn("{task.description}"),
                        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=10)),
                        MofNCompleteColumn(), TimeElapsedColumn(), _fetched_column(),
                        TextColumn("{task.fields[item]}",
                                   table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                        console=console(stderr=True), transient=True, expand=True)
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
            progress.update(task, item=_label(item))
            yield item
            progress.advance(task)
    finally:
        timer.cancel()
        with lock:
            finished = True
            progress.stop()


def _fetched_column() -> Any:
    """A column with the bytes fetched from URLs so far (empty for local files), read at
    each refresh: a large tensor arrives between two steps of the bar."""
    from rich.progress import ProgressColumn
    from rich.table import Column
    from rich.text import Text

    from .remote import TRANSFER

    class FetchedColumn(ProgressColumn):
        def __init__(self) -> None:
            super().__init__(table_column=Column(no_wrap=True))

        def render(self, task: Any) -> Text:
            return Text(f"{human_size(TRANSFER.bytes)} fetched" if TRANSFER.bytes else "",
                        style="progress.download")

    return FetchedColumn()


def _label(item: object) -> str:
    """What the bar says it is working on: a cell's or module's name; a pair's two names."""
    if isinstance(item, tuple):
        return " ↔ ".join(_label(part) for part in item)
    return str(getattr(item, "name", item))


# --- check ----------------------------------------------------------------------------------

def check_lines(report: dict[str, Any], quiet: bool = False) -> list[str]:
    """`FAIL <check>: <detail>` per failed check, then the summary; a file without any GRU
    cell is one line. Nothing at all when quiet and every check passed."""
    checks = report["checks"]
    failed = [check for check in checks if not check["ok"]]
    if quiet and not failed:
        return []
    for check in failed:
        if check["name"] == "found":  # "no GRU cell found[: what the file holds instead]"
            instead = check["detail"].partition(":")[2].strip()
            return [f"FAIL found: no GRU cell in {report['path']}"
                    + (f": {instead}" if instead else "")]
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
        # The names go on lines of their own at the console's width, never cut to the table's.
        print_lines(out, [Text(cell["a"], style="bold cyan")])
        table = Table()
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
        print_table(out, table)  # plain text written directly where rich would write the same
        if cell["a"] != cell["b"]:
            print_lines(out, [Text(line) for line in _wrapped(["paired", "with", cell["b"]],
                                                               out.width)])
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


def render_explain(report: dict[str, Any], out: Console) -> None:
    """Per cell: its equations, then per canonical array the expression that reads it. Names
    under the cell's own scope are shown relative to it, so lines fit 80 columns."""
    out.print(f"File    {report['path']}", soft_wrap=True)
    out.print(f"Format  {report['format']}")
    for cell in report["cells"]:
        out.print()
        placement = "reset after" if cell["reset_after"] else "reset before"
        out.print(Text(cell["name"], style="bold"), soft_wrap=True)
        out.print(f"{cell['layout']}, {cell['input_size']}→{cell['hidden_size']}, "
                  f"{cell['direction']}, {placement}")
        for line in cell["equations"]:
            out.print(f"  {line}", soft_wrap=True)
        prefix = cell["name"] + "/"
        tensors = {where["tensor"] for where in cell["where"].values()}
        relative = all(tensor.startswith(prefix) for tensor in tensors)
        if relative:
            out.print(f"  where, under {prefix}:", soft_wrap=True)
        else:
            out.print("  where:")
        for name, expression in cell["expressions"].items():
            shown = expression[len(prefix):] if relative else expression
            out.print(f"    {name} = {shown}", soft_wrap=True)
