"""The `grutool` command line: parse options, call the library, render. Nothing else.

Exit codes (the contract): 0 success; 1 the command ran but found a problem or nothing to
act on; 2 error (bad usage, unreadable input, unwritable output).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

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
                traceback.print_exc()
            click.echo(f"grutool: {exc.one_line()}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("grutool: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug in grutool: still one line, traceback on --debug
            if ctx.params.get("debug"):
                traceback.print_exc()
            message = str(exc).split("\n")[0][:300]
            click.echo(f"grutool: internal error: {type(exc).__name__}: {message} "
                       "(run with --debug for the traceback, and please report it)", err=True)
            ctx.exit(2)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, allow_nan=False))


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

    Exit codes: 0 ok, 1 the command found a problem or nothing to do (e.g. no GRU cell),
    2 error (bad usage, unreadable input, unwritable output).
    """
    _exit_on_sigterm()


def _exit_on_sigterm() -> None:
    """Make SIGTERM raise SystemExit(143), so that `finally` blocks run: an atomic write
    (writers.atomic_path) then removes its `.partial` file instead of leaving it behind.
    Only the main thread may set handlers; the previous one is restored when the command ends."""
    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    click.get_current_context().call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@cli.command()
@click.argument("path", type=PATH)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
              help="How to read TF checkpoints: grutool's own reader or TensorFlow.")
@click.option("--no-stats", is_flag=True, help="Only names and shapes: read no weights.")
def inspect(path: Path, as_json: bool, reader: str, no_stats: bool) -> None:
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

    with open_checkpoint(path, reader=reader) as checkpoint:
        report = inspect_report(checkpoint, with_stats=not no_stats)
    if as_json:
        emit_json(report)
    else:
        from .render import console, render_inspect

        render_inspect(report, console())
    if not report["cells"]:
        if not as_json:
            click.echo(f"grutool: {report['path']}: no GRU cell found", err=True)
        sys.exit(1)


@cli.command()
@click.argument("path", type=PATH)
@click.option("--out", "-o", type=PATH, required=True,
              help="Output file: .npz, .h5 or .safetensors (chosen by the extension).")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Report what was written as JSON.")
@click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
              help="How to read TF checkpoints.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def split(path: Path, out: Path, force: bool, as_json: bool, reader: str, quiet: bool) -> None:
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

    checkpoint = split_file(path, out, force=force, reader=reader)
    result = {"path": str(checkpoint.path), "out": str(out),
              "cells": [cell.name for cell in checkpoint.cells],
              "arrays": sum(len(checkpoint.canonical(cell)) for cell in checkpoint.cells)}
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
@click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
              help="How to read TF checkpoints.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def convert(path: Path, to: str, out: Path, module: str | None, allow_inexact: bool,
            tolerance: float, force: bool, as_json: bool, reader: str, quiet: bool) -> None:
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

    with open_checkpoint(path, reader=reader) as checkpoint:
        conversion = convert_checkpoint(checkpoint, to, module=module,
                                        allow_inexact=allow_inexact, tolerance=tolerance)
        write_conversion(conversion, out, force, checkpoint.source.files)
    result = conversion.to_json()
    result["out"] = str(out)
    if as_json:
        emit_json(result)
    elif not quiet:
        error = conversion.verification.max_abs_error
        click.echo(f"Wrote {len(conversion.arrays)} tensors for {to} to {out}")
        click.echo(f"Checked: max abs output difference {error:.3g} over "
                   f"{len(conversion.verification.comparisons)} cells (tolerance {tolerance:g})")
        if conversion.inexact_cells:
            click.echo(f"grutool: warning: inexact conversion of {len(conversion.inexact_cells)} "
                       f"cells (reset placement changed): max abs error {error:.3g}", err=True)


@cli.command()
@click.argument("a", type=PATH)
@click.argument("b", type=PATH)
@click.option("--tolerance", type=float, default=1e-5, show_default=True,
              help="Largest max-abs output difference accepted.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
              help="How to read TF checkpoints.")
def verify(a: Path, b: Path, tolerance: float, as_json: bool, reader: str) -> None:
    """Check numerically that the GRU cells of A and B compute the same functions.

    Cells are paired in file order (module, layer, direction), so a checkpoint and its
    conversion pair up although their names differ. Exits 1 when any pair differs by more
    than --tolerance, or the files hold different numbers of cells.

    \b
    Examples:
      grutool verify model.ckpt my_hand_converted.pt
      grutool verify model.keras weights.npz --json
    """
    from .api import open_checkpoint
    from .verify import verify_checkpoints

    with open_checkpoint(a, reader=reader) as first, open_checkpoint(b, reader=reader) as second:
        first.require_cells()
        second.require_cells()
        result = verify_checkpoints(first, second, tolerance)
    if as_json:
        emit_json(result.to_json())
    else:
        for c in result.comparisons:
            error = "-" if c.max_abs_error is None else f"{c.max_abs_error:.3g}"
            status = "ok" if c.problem is None and c.max_abs_error is not None and c.max_abs_error <= tolerance else "DIFFERS"
            click.echo(f"{status:8} {error:>10}  {c.a}  <->  {c.b}" + (f"  ({c.problem})" if c.problem else ""))
    if not result.ok:
        click.echo(f"grutool: {a} vs {b}: {result.failure()}", err=True)
        sys.exit(1)
    if not as_json:
        click.echo(f"Same functions: max abs difference {result.max_abs_error:.3g} "
                   f"(tolerance {tolerance:g})")


def main() -> None:
    cli(prog_name="grutool")


if __name__ == "__main__":
    main()
