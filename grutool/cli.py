"""The `grutool` command line: parse options, call the library, render. Nothing else.

Exit codes (the contract): 0 success; 1 the command ran but found a problem or nothing to
act on; 2 error (bad usage, unreadable input, unwritable output).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterable

import click

from . import __version__
from .errors import GrutoolError

READER_CHOICE = click.Choice(["auto", "builtin", "tensorflow"])
PATH = click.Path(path_type=Path)  # existence is checked by grutool, with its own message


class GrutoolGroup(click.Group):
    """Turns every GrutoolError into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GrutoolError as exc:
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exc()
            click.echo(f"grutool: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("grutool: interrupted", err=True)
            ctx.exit(130)
        except MemoryError as exc:  # not a bug: the input needs more than the machine has
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exc()
            detail = (str(exc).strip().splitlines() or ["MemoryError"])[0][:200]
            click.echo(f"grutool: out of memory ({detail}) (free memory or use a larger "
                       "machine)", err=True)
            ctx.exit(2)
        except Exception as exc:  # a bug in grutool: still one line, traceback on --debug
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exc()
            message = str(exc).split("\n")[0][:300]
            click.echo(f"grutool: internal error: {type(exc).__name__}: {message} "
                       "(run with --debug for the traceback, and please report it)", err=True)
            ctx.exit(2)


def _known_layouts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from . import families

    return [layout for layout in families.known_layouts() if layout.startswith(incomplete)]


def reading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--reader and --layout, which every command that reads a file takes."""
    command = click.option(
        "--layout", "assume_layout", metavar="NAME", shell_complete=_known_layouts,
        help="Read tensors the file cannot tell apart (a bare kernel/recurrent_kernel/bias "
             ".npz) as this layout, e.g. keras-cudnn-gru.")(command)
    return click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
                        help="How to read TF checkpoints: grutool's own reader or "
                             "TensorFlow.")(command)


def emit_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, allow_nan=False))


def progress_wanted(*silencers: bool) -> bool:
    """A progress bar only for a person watching: stderr a terminal, no --json, no --quiet."""
    return sys.stderr.isatty() and not any(silencers)


def cell_progress(description: str, enabled: bool) -> Callable[[list[Any]], Iterable[Any]]:
    if not enabled:  # no bar: rich is not even imported
        return lambda cells: cells
    from .render import track_cells

    return lambda cells: track_cells(cells, description, enabled)


@click.group(cls=GrutoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grutool")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
def cli(debug: bool) -> None:
    """Find the GRU cells in a checkpoint, name every per-gate matrix, and split or
    re-lay them out for another framework, with a numerical proof.

    \b
    Examples:
      grutool inspect model.ckpt              tables of every cell and gate
      grutool inspect model.ckpt --json       the same for scripts
      grutool split model.ckpt --out w.npz    W_ir ... b_hn per cell
      grutool check model.ckpt --units 256    pass/fail for CI (exit 0 or 1)
      grutool diff step-1000 step-2000        how much each gate changed

    Exit codes: 0 ok, 1 the command found a problem or nothing to do (e.g. no GRU cell),
    2 error (bad usage, unreadable input, unwritable output).
    """
    _exit_on_sigterm()


def _exit_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit(143), so that `finally` blocks run: an atomic write
    (writers.atomic_path) then removes its `.partial` file instead of leaving it behind.
    Only the main thread may set handlers; the previous one is restored when the command ends."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    click.get_current_context().call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@cli.command()
@click.argument("path", type=PATH)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@reading_options
@click.option("--no-stats", is_flag=True, help="Only names and shapes: read no weights.")
def inspect(path: Path, as_json: bool, reader: str, assume_layout: str | None,
            no_stats: bool) -> None:
    """Show the GRU cells in PATH and the statistics of their twelve per-gate arrays.

    PATH is a file, a TF checkpoint prefix, or a directory (a TF checkpoint directory,
    a SavedModel).

    \b
    Examples:
      grutool inspect model.ckpt
      grutool inspect train_dir/ --json | jq '.cells[].name'
      grutool inspect model.ckpt-1000.index --no-stats

    Exits 1 when the file holds no GRU cell.
    """
    from .api import inspect_report, open_checkpoint

    with open_checkpoint(path, reader=reader, layout=assume_layout) as checkpoint:
        report = inspect_report(checkpoint, with_stats=not no_stats,
                                progress=cell_progress("reading", progress_wanted(as_json)))
    if as_json:
        emit_json(report)
    else:
        from .render import console, render_inspect

        render_inspect(report, console())
    if not report["cells"]:
        click.echo(f"grutool: {report['path']}: no GRU cell found", err=True)
        sys.exit(1)


@cli.command()
@click.argument("path", type=PATH)
@click.option("--out", "-o", type=PATH, required=True,
              help="Output file: .npz, .h5 or .safetensors (chosen by the extension).")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Report what was written as JSON.")
@reading_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def split(path: Path, out: Path, force: bool, as_json: bool, reader: str,
          assume_layout: str | None, quiet: bool) -> None:
    """Write every cell's per-gate arrays to OUT, under keys <cell>/W_ir ... <cell>/b_hn.

    Arrays are in x @ W orientation and the source dtype; a bias the cell does not have
    is absent (absent means zero). Metadata (reset_after, sizes, layout, source tensors)
    is stored under the key __grutool__. The output is written atomically and never
    replaces an input; an existing output only with --force.

    \b
    Examples:
      grutool split model.ckpt --out weights.npz
      grutool split model.keras --out weights.safetensors --force
      python -c "import numpy as np; print(list(np.load('weights.npz')))"
    """
    from .api import split as split_file

    checkpoint = split_file(path, out, force=force, reader=reader, layout=assume_layout,
                            progress=cell_progress("reading", progress_wanted(as_json, quiet)))
    result = {"path": str(checkpoint.path), "out": str(out),
              "cells": [cell.name for cell in checkpoint.cells],
              "arrays": len(checkpoint.written)}
    if as_json:
        emit_json(result)
    elif not quiet:
        from .render import console, render_split

        render_split(result, console())


TARGET_CHOICE = click.Choice(["pytorch", "keras", "onnx", "tf"])


@cli.command()
@click.argument("path", type=PATH)
@click.option("--to", "to", type=TARGET_CHOICE, required=True, help="Target framework layout.")
@click.option("--out", "-o", type=PATH, required=True,
              help="Output file (.safetensors, .npz, .h5; .pt for pytorch; .onnx for onnx).")
@click.option("--module", help="Convert only this module (required for onnx when there are several).")
@click.option("--allow-inexact", is_flag=True,
              help="Convert across reset placements anyway; the error is measured and reported.")
@click.option("--tolerance", type=float, default=1e-5, show_default=True,
              help="Largest max-abs output difference accepted by the check.")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Report the conversion as JSON.")
@reading_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def convert(path: Path, to: str, out: Path, module: str | None, allow_inexact: bool,
            tolerance: float, force: bool, as_json: bool, reader: str,
            assume_layout: str | None, quiet: bool) -> None:
    """Re-lay the GRU cells of PATH out for another framework, with a numerical proof.

    Before anything is written, the source cells and the converted ones are run through
    the NumPy reference GRU on random sequences with a non-zero initial state; the max abs
    difference is printed, and above --tolerance nothing is written (exit 1). A source
    whose reset placement the target cannot compute (TF 1 GRUCell -> PyTorch, Keras
    reset_after=True -> TF 1) is refused with exit 1 unless --allow-inexact.

    \b
    Examples:
      grutool convert model.ckpt --to keras --out gru_keras.npz
      grutool convert model.pt --to onnx --module gru --out gru.onnx
      grutool convert model.keras --to pytorch --out state_dict.safetensors
    """
    from .api import open_checkpoint
    from .convert import convert as convert_checkpoint, write_conversion

    with open_checkpoint(path, reader=reader, layout=assume_layout) as checkpoint:
        conversion = convert_checkpoint(checkpoint, to, module=module,
                                        allow_inexact=allow_inexact, tolerance=tolerance)
        write_conversion(conversion, out, force, checkpoint.source.files,
                         progress=cell_progress("converting", progress_wanted(as_json, quiet)))
    result = conversion.to_json()
    result["out"] = str(out)
    if as_json:
        emit_json(result)
    elif not quiet:
        verification = conversion.verification
        error = verification.max_abs_error
        click.echo(f"Wrote {len(conversion.keys)} tensors for {to} to {out}")
        verdict = (f"within the tolerance {tolerance:g}" if verification.ok else
                   f"OUTSIDE the tolerance {tolerance:g} (allowed by --allow-inexact)")
        click.echo(f"Checked {_count(len(verification.modules), 'whole module')} "
                   f"({_count(len(verification.comparisons), 'cell')}): max abs output "
                   f"difference {error:.3g}, {verdict}")
        if conversion.inexact_cells:
            click.echo(f"grutool: warning: inexact conversion of {len(conversion.inexact_cells)} "
                       f"cells (reset placement changed): max abs error {error:.3g}", err=True)


@cli.command()
@click.argument("a", type=PATH)
@click.argument("b", type=PATH)
@click.option("--tolerance", type=float, default=1e-5, show_default=True,
              help="Largest max-abs output difference accepted.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@reading_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when the files agree.")
def verify(a: Path, b: Path, tolerance: float, as_json: bool, reader: str,
           assume_layout: str | None, quiet: bool) -> None:
    """Check that the GRU modules of A and B compute the same functions.

    Modules are paired in model order, so a checkpoint and its conversion pair up although
    their names differ. Each pair is compared as a structure first (layers, directions,
    merge, reset placement, activations, sizes), then both whole modules run on random
    sequences. Exits 1 naming the first difference, or when the outputs differ by more
    than --tolerance.

    \b
    Examples:
      grutool verify model.ckpt my_hand_converted.pt
      grutool verify model.keras weights.npz --json
    """
    from .api import open_checkpoint
    from .verify import verify_checkpoints

    with open_checkpoint(a, reader=reader, layout=assume_layout) as first, \
            open_checkpoint(b, reader=reader, layout=assume_layout) as second:
        first.require_cells()
        second.require_cells()
        result = verify_checkpoints(first, second, tolerance)
        module_cells = {m.name: {cell.name for cell in m.cells} for m in first.modules}.get
    if as_json:
        emit_json(result.to_json())
    elif not (quiet and result.ok):
        for module in result.modules:
            _echo_comparison(module, tolerance, "module ")
            for c in result.comparisons:
                if c.a in module_cells(module.a, set()):
                    _echo_comparison(c, tolerance, "  ")
    if not result.ok:
        click.echo(f"grutool: {a} vs {b}: {result.failure()}", err=True)
        sys.exit(1)
    if not as_json and not quiet:
        click.echo(f"Same functions: max abs difference {result.max_abs_error:.3g} over "
                   f"{_count(len(result.modules), 'whole module')} (tolerance {tolerance:g})")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _echo_comparison(c, tolerance: float, label: str) -> None:
    error = "-" if c.max_abs_error is None else f"{c.max_abs_error:.3g}"
    status = "ok" if c.ok(tolerance) else "DIFFERS"
    click.echo(f"{status:8} {error:>10}  {label}{c.a}  <->  {c.b}"
               + (f"  ({c.problem})" if c.problem else ""))


def _cell_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    # Completion must never fail loudly: a path not typed yet or unreadable offers nothing.
    from .api import open_checkpoint

    # While an option still waits for its value, Click leaves the positional PATH in ctx.args.
    path = ctx.params.get("path") or (ctx.args[0] if ctx.args else None)
    if path is None:
        return []
    try:
        with open_checkpoint(path) as checkpoint:
            return [cell.name for cell in checkpoint.cells if cell.name.startswith(incomplete)]
    except Exception:
        return []


@cli.command()
@click.argument("path", type=PATH)
@click.option("--cells", "cell_count", type=click.IntRange(min=0), metavar="N",
              help="Fail unless the file holds exactly N GRU cells.")
@click.option("--units", type=click.IntRange(min=1), metavar="H",
              help="Fail unless every cell has H units (hidden size).")
@click.option("--layout", metavar="NAME", shell_complete=_known_layouts,
              help="Fail unless every cell has this layout (e.g. tf-gru-cell, pytorch-gru).")
@click.option("--no-nan/--allow-nan", "no_nan", default=True, show_default=True,
              help="Fail on NaN or Inf anywhere in a cell's arrays.")
@click.option("--trained", is_flag=True,
              help="Fail on a TF GRUCell whose gates bias is still TF's initial 1.0.")
@click.option("--match", "other", type=PATH, metavar="OTHER",
              help="Fail unless OTHER (any format) has the same cells in the same order "
                   "(sizes, layer, direction, reset placement) and array shapes.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"path", "ok", "checks": [{"name", "ok", "detail"}]}.')
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when every check passes.")
@click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
              help="How to read TF checkpoints.")
def check(path: Path, cell_count: int | None, units: int | None, layout: str | None,
          no_nan: bool, trained: bool, other: Path | None, as_json: bool, quiet: bool,
          reader: str) -> None:
    """Pass (exit 0) or fail (exit 1) on conditions about the GRU cells of PATH, for CI.

    Without options it checks that PATH holds a GRU cell and that no cell has NaN or
    Inf values. Prints one line per failed condition ("FAIL units: ...") and a summary;
    a file without any GRU cell fails with one line. An unreadable file exits 2.

    \b
    Examples:
      grutool check model.ckpt --cells 2 --units 256 --trained
      grutool check model.ckpt --layout tf-gru-cell --allow-nan
      grutool check model.ckpt --match exported.safetensors --json
    """
    from .api import open_checkpoint
    from .check import check_checkpoint

    with ExitStack() as stack:
        checkpoint = stack.enter_context(open_checkpoint(path, reader=reader))
        reference = (stack.enter_context(open_checkpoint(other, reader=reader))
                     if other is not None else None)
        report = check_checkpoint(checkpoint, cells=cell_count, units=units, layout=layout,
                                  allow_nan=not no_nan, trained=trained, match=reference)
    if as_json:
        emit_json(report.to_json())
    else:
        from .render import check_lines

        for line in check_lines(report.to_json(), quiet=quiet):
            click.echo(line)
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("a", type=PATH)
@click.argument("b", type=PATH)
@click.option("--threshold", type=click.FloatRange(min=0), metavar="X",
              help="Exit 1 if any gate's relative change ||a-b||/||a|| exceeds X.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object for scripts.")
@click.option("--quiet", "-q", is_flag=True, help="No tables; only a threshold failure is reported.")
@reading_options
def diff(a: Path, b: Path, threshold: float | None, as_json: bool, quiet: bool,
         reader: str, assume_layout: str | None) -> None:
    """Show how much each gate of each cell changed from checkpoint A to checkpoint B.

    Per cell and canonical array (W_ir ... b_hn): the relative change ||a-b||/||a||
    (0 when both are zero, inf when only A is), the max |a-b| and the cosine similarity
    (1 when both are zero). A bias absent on one side counts as zero. Cells are paired in
    file order (module, layer, direction), so files of different formats compare: a
    checkpoint against its own split file shows zero.

    Exits 0, or 1 when --threshold is exceeded or the files' cells differ in number,
    sizes or reset placement.

    \b
    Examples:
      grutool diff train/model.ckpt-1000 train/model.ckpt-2000
      grutool diff model.ckpt finetuned.npz --threshold 0.05
      grutool diff model.ckpt weights.safetensors --json | jq .max_relative_change
    """
    from .api import open_checkpoint
    from .diff import diff_checkpoints

    with open_checkpoint(a, reader=reader, layout=assume_layout) as first, \
            open_checkpoint(b, reader=reader, layout=assume_layout) as second:
        first.require_cells()
        second.require_cells()
        report = diff_checkpoints(first, second, threshold)
    data = report.to_json()
    if as_json:
        emit_json(data)
    elif not quiet and report.problem is None:
        from .render import console, render_diff

        render_diff(data, console())
    if report.problem is not None:
        click.echo(f"grutool: {a} vs {b}: the cells differ: {report.problem}", err=True)
        sys.exit(1)
    above = report.above_threshold()
    if above:
        names = ", ".join(f"{cell.a}/{gate.gate}" for cell, gate in above[:3])
        more = f" and {len(above) - 3} more" if len(above) > 3 else ""
        click.echo(f"grutool: {a} vs {b}: {len(above)} gate{'s' * (len(above) != 1)} changed "
                   f"by more than {threshold:g}: {names}{more}", err=True)
        sys.exit(1)


@cli.command()
@click.argument("path", type=PATH)
@click.option("--out", "-o", type=PATH, required=True,
              help="Output image: .png, .svg, or .pdf (one page per cell).")
@click.option("--cell", metavar="NAME", shell_complete=_cell_names,
              help="Draw only this cell (its name as `inspect` shows it).")
@click.option("--force", is_flag=True, help="Replace existing outputs.")
@click.option("--json", "as_json", is_flag=True, help="Report what was written as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@reading_options
def plot(path: Path, out: Path, cell: str | None, force: bool, as_json: bool, quiet: bool,
         reader: str, assume_layout: str | None) -> None:
    """Draw each GRU cell's gates: heat maps of W_ir, W_iz, W_in, W_hr, W_hz, W_hn on one
    colour scale, and a histogram of each gate's (r, z, n) weights and biases.

    One figure per cell, in file order. With .pdf, every cell is a page of OUT. With .png
    or .svg and several cells (no --cell), the first cell goes to OUT and cell k to
    OUT-k: gates.png, gates-2.png, gates-3.png ... Outputs are checked before drawing,
    written atomically and never replace an input; existing ones only with --force.
    Needs matplotlib: pip install 'grutool[plot]'.

    \b
    Examples:
      grutool plot model.ckpt --out gates.png
      grutool plot model.ckpt --out all-cells.pdf
      grutool plot model.ckpt --cell rnn/gru_cell --out gru_cell.svg
    """
    from .api import open_checkpoint
    from .plot import plot_checkpoint

    with open_checkpoint(path, reader=reader, layout=assume_layout) as checkpoint:
        pages = plot_checkpoint(checkpoint, out, cell=cell, force=force,
                                progress=cell_progress("drawing", progress_wanted(as_json, quiet)))
    result = {"path": str(checkpoint.path), "pages": [page.to_json() for page in pages]}
    if as_json:
        emit_json(result)
    elif not quiet:
        from .render import console, render_plot

        render_plot(result, console())


def main() -> None:
    cli(prog_name="grutool")


if __name__ == "__main__":
    main()
