"""The `grutool` command line: parse options, call the library, render. Nothing else.

Exit codes (the contract): 0 success; 1 the command ran but found a problem or nothing to
act on; 2 error (bad usage, unreadable input, unwritable output).
"""

from __future__ import annotations

import json
import sys
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


def main() -> None:
    cli(prog_name="grutool")


if __name__ == "__main__":
    main()
