"""The `grutool` command line: parse options, call the library, render. Nothing else.

Exit codes (the contract): 0 success; 1 the command ran but found a problem or nothing to
act on; 2 error (bad usage, unreadable input, unwritable output).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._version import __version__
from .defaults import DEFAULT_TOLERANCE
from .errors import GrutoolError
from .targets import TARGET_MODULES
from .wording import counted

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from .batch import Outcome
    from .progress import Progress
    from .readers import Location

READER_CHOICE = click.Choice(["auto", "builtin", "tensorflow"])


class LocationType(click.ParamType):
    """A local path or, where `urls`, a URL (s3://, gs://, https://, hf://, file://): kept
    as a URL, which pathlib would fold (`https:/host`). Existence is checked by grutool, with
    its own message."""

    name = "path"

    def __init__(self, urls: bool):
        self.urls = urls

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from .remote import is_url, location

        if is_url(value):
            if not self.urls:
                self.fail(f"{value.split('?')[0]}: outputs are written to local files, not URLs",
                          param, ctx)
            return location(value)
        return Path(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


PATH = LocationType(urls=True)
OUT = LocationType(urls=False)
# Help fills the terminal up to this width: wide enough for the examples, narrow enough to read.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEBUG_KEY = "grutool.debug"


def _wants_json(args: list[str]) -> bool:
    """Whether a command line asks for JSON (read before Click has parsed it, so that even
    a usage error can answer in JSON)."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--json" or arg == "--format=json" or (
                arg == "--format" and args[index + 1:index + 2] == ["json"]):
            return True
    return False


class OneLineUsageError(click.UsageError):
    """A usage error shown as every other error is: one line, `grutool: …`, exit 2 (and
    with --json one JSON object on stdout too)."""

    def __init__(self, message: str, ctx: click.Context | None, json_wanted: bool):
        super().__init__(message, ctx)
        self.json_wanted = json_wanted

    def show(self, file: Any = None) -> None:
        if self.json_wanted:
            emit_json({"ok": False, "error": self.message})
        click.echo(f"grutool: {self.message}", err=True)


def _one_line_usage(exc: click.UsageError, json_wanted: bool) -> OneLineUsageError:
    ctx = exc.ctx
    command_path = ctx.command_path if ctx is not None else "grutool"
    message = " ".join(exc.format_message().split()).rstrip(".")
    subcommand = command_path.partition(" ")[2]
    line = f"{subcommand}: {message}" if subcommand else message
    return OneLineUsageError(f"{line} (see '{command_path} --help')", ctx, json_wanted)


def _debug(ctx: click.Context) -> bool:
    return bool(ctx.meta.get(DEBUG_KEY) or ctx.find_root().params.get("debug"))


def _remember_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[DEBUG_KEY] = True


def _json_requested(ctx: click.Context) -> bool:
    return bool(ctx.params.get("as_json")) or ctx.params.get("output_format") == "json"


def _fail(ctx: click.Context, message: str, code: int, debug: bool,
          path: str | None = None) -> None:
    """The end of every failed command: the traceback on --debug, the JSON object on
    --json, the one line on stderr, the exit code."""
    if debug:
        import traceback

        traceback.print_exc()
    if _json_requested(ctx):
        emit_json({"ok": False, "error": message, **({"path": path} if path else {})})
    click.echo(f"grutool: {message}", err=True)
    ctx.exit(code)


class GrutoolCommand(click.Command):
    """Every subcommand: takes --debug after its name too; a usage error is one line; an
    error is one line on stderr with its exit code and, with --json, one JSON object
    `{"ok": false, "error": …}` on stdout."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(
            ["--debug"], is_flag=True, expose_value=False, callback=_remember_debug,
            help="Show the full traceback of an error, and TensorFlow's own log."))

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        json_wanted = _wants_json(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise _one_line_usage(exc, json_wanted) from exc

    def invoke(self, ctx: click.Context) -> Any:
        from .frameworks import native_logs_shown

        debug = _debug(ctx)
        try:
            with native_logs_shown(debug):
                return super().invoke(ctx)
        except GrutoolError as exc:
            _fail(ctx, exc.one_line(), exc.exit_code, debug, exc.path)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:  # options that contradict each other, found late
            raise _one_line_usage(exc, _json_requested(ctx)) from exc
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130, False)
        except MemoryError as exc:  # not a bug: the input needs more than the machine has
            detail = (str(exc).strip().splitlines() or ["MemoryError"])[0][:200]
            _fail(ctx, f"out of memory ({detail}) (free memory or use a larger machine)", 2,
                  debug)
        except Exception as exc:  # a bug in grutool: still one line, traceback on --debug
            message = str(exc).split("\n")[0][:300]
            _fail(ctx, f"internal error: {type(exc).__name__}: {message} "
                       "(run with --debug for the traceback, and please report it)", 2, debug)


class GrutoolGroup(click.Group):
    """Usage errors of the group itself (an unknown command or option) in one line too."""

    command_class = GrutoolCommand

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        json_wanted = _wants_json(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except (OneLineUsageError, click.exceptions.NoArgsIsHelpError):
            raise
        except click.UsageError as exc:
            raise _one_line_usage(exc, json_wanted) from exc

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            raise _one_line_usage(exc, _wants_json(args)) from exc


def _known_layouts(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from . import families

    return [layout for layout in families.known_layouts() if layout.startswith(incomplete)]


def naming_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--rename and --slot: which names recognition sees, and which copy of each weight is read."""
    command = click.option(
        "--slot", metavar="NAME",
        help="Read each weight's per-variable copy NAME instead of the weight "
             "(ExponentialMovingAverage, Adam, m, ...; inspect lists the copies).")(command)
    return click.option(
        "--rename", metavar="REGEX=REPLACEMENT", multiple=True,
        help="Rename every tensor before recognition (Python re.sub, \\1 for groups; the "
             "first '=' separates the parts). Repeatable, applied in order.")(command)


def reading_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--reader, --layout, --rename and --slot, which every command that reads a file takes."""
    command = naming_options(command)
    command = click.option(
        "--layout", metavar="NAME", shell_complete=_known_layouts,
        help="Read tensors the file cannot tell apart (a bare kernel/recurrent_kernel/bias "
             ".npz) as this layout, e.g. keras-cudnn-gru.")(command)
    return click.option("--reader", type=READER_CHOICE, default="auto", show_default=True,
                        help="How to read TF checkpoints: grutool's own reader or "
                             "TensorFlow.")(command)


def several_paths(command: Callable[..., Any]) -> Callable[..., Any]:
    """PATH... and --every-checkpoint, for the commands that take several inputs."""
    command = click.option(
        "--every-checkpoint", is_flag=True,
        help="A directory PATH stands for every checkpoint in it (each model.ckpt-N of a "
             "training run, each model file), in step order; results are listed per file.")(command)
    return click.argument("paths", metavar="PATH...", nargs=-1, required=True,
                          type=PATH)(command)


def emit_json(data: Any) -> None:
    import json

    click.echo(json.dumps(data, indent=2, allow_nan=False))


def progress_wanted(*silencers: bool) -> bool:
    """A progress bar only for a person watching: stderr a terminal, no --json, no --quiet."""
    return sys.stderr.isatty() and not any(silencers)


def progress_hook(enabled: bool, label: str = "") -> Progress | None:
    """The library's `progress=` hook that draws a transient bar on stderr, or None."""
    if not enabled:
        return None
    from .render import track_cells

    return lambda items, description: track_cells(items, f"{description} {label}".rstrip(), True)


def _inputs(paths: tuple[Location, ...], every_checkpoint: bool) -> tuple[list[Location], bool]:
    """The files to read and whether the output lists results per file (several PATHs,
    or --every-checkpoint, whose output keeps one shape however many files it finds)."""
    if not every_checkpoint:
        return list(paths), len(paths) > 1
    from .readers import expand_directories

    return expand_directories(list(paths)), True


def _traced(work: Callable[[Path], Any], debug: bool) -> Callable[[Path], Any]:
    """`work`, printing the traceback of an error on --debug before the batch records it."""
    def run(path: Path) -> Any:
        try:
            return work(path)
        except GrutoolError:
            if debug:
                import traceback

                traceback.print_exc()
            raise
    return run


@click.group(cls=GrutoolGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="grutool")
@click.option("--debug", is_flag=True,
              help="Show the full traceback of an error, and TensorFlow's own log.")
def cli(debug: bool) -> None:
    """Find the GRU cells in a checkpoint, name every per-gate matrix, and split or
    re-lay them out for another framework, with a numerical proof.

    \b
    Examples:
      grutool inspect model.ckpt              tables of every cell and gate
      grutool inspect model.ckpt --json       the same for scripts
      grutool split model.ckpt --out w.npz    W_ir ... b_hn per cell
      grutool check run/ --every-checkpoint   pass/fail for CI (exit 0 or 1)
      grutool diff step-1000 step-2000        how much each gate changed
      grutool inspect s3://bucket/run/model.ckpt-9000   any input may be a URL

    Exit codes: 0 ok, 1 the command found a problem or nothing to do (e.g. no GRU cell),
    2 error (bad usage, unreadable input, unwritable output).
    """
    if debug:
        click.get_current_context().meta[DEBUG_KEY] = True
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


def _cell_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    # Completion must never fail loudly: a path not typed yet or unreadable offers nothing.
    from .api import open_checkpoint

    # While an option still waits for its value, Click leaves the positional PATH in ctx.args.
    path = (ctx.params.get("path") or next(iter(ctx.params.get("paths") or ()), None)
            or (ctx.args[0] if ctx.args else None))
    if path is None:
        return []
    try:
        with open_checkpoint(path) as checkpoint:
            return [cell.name for cell in checkpoint.cells if cell.name.startswith(incomplete)]
    except Exception:
        return []


@cli.command(short_help="Show the GRU cells of checkpoints and their per-gate statistics.")
@several_paths
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object on stdout (several files: {"ok", "results": [...]}).')
@reading_options
@click.option("--no-stats", is_flag=True, help="Only names and shapes: read no weights.")
@click.option("--all", "all_tensors", is_flag=True,
              help="List every tensor of the file, marking the cells that read it.")
@click.option("--cell", metavar="NAME", shell_complete=_cell_names,
              help="Show only this cell (its name as inspect shows it).")
def inspect(paths: tuple[Path, ...], every_checkpoint: bool, as_json: bool, reader: str,
            layout: str | None, no_stats: bool, all_tensors: bool,
            cell: str | None, rename: tuple[str, ...] = (), slot: str | None = None) -> None:
    """Show the GRU cells in each PATH and the statistics of their twelve per-gate arrays.

    PATH is a file, a TF checkpoint prefix, or a directory (a TF checkpoint directory,
    a SavedModel, a directory holding one model file), on disk or at a URL (s3://,
    gs://, https://, hf://: only the bytes needed are fetched). With several PATHs (or
    --every-checkpoint) each file is shown in turn; --json then prints
    {"ok", "results": [one object per file]}.

    \b
    Examples:
      grutool inspect model.ckpt
      grutool inspect train_dir/ --json | jq '.cells[].name'
      grutool inspect model.ckpt-1000.index --no-stats
      grutool inspect model.ckpt --all --cell rnn/gru_cell
      grutool inspect run/ --every-checkpoint --no-stats
      grutool inspect gs://bucket/run/ --no-stats     reads the index only

    Exits 1 when a file holds no GRU cell (saying what recurrent layer it holds instead,
    if any), 2 when one cannot be read: the worst of the files.
    """
    from . import api
    from .batch import combined_report, run_each, worst_exit_code

    files, several = _inputs(paths, every_checkpoint)
    show_progress = progress_wanted(as_json) and not no_stats

    def work(path: Path) -> tuple[dict[str, Any], int]:
        label = path.name if several else ""
        result = api.inspect(path, with_stats=not no_stats, cell=cell, reader=reader,
                             layout=layout, rename=rename, slot=slot,
                             progress=progress_hook(show_progress, label))
        return result.to_json(), 0 if result.ok else 1

    outcomes: list[Outcome] = []
    for outcome in run_each(files, _traced(work, _debug(click.get_current_context()))):
        if not as_json and "format" in outcome.report:  # read, with or without cells
            from .render import console, render_inspect

            if outcomes:
                click.echo()
            render_inspect(outcome.report, console(), all_tensors=all_tensors)
        if outcome.error:
            click.echo(f"grutool: {outcome.error}", err=True)
        outcomes.append(outcome)
    if as_json:
        emit_json(combined_report(outcomes) if several else outcomes[0].report)
    sys.exit(worst_exit_code(outcomes))


@cli.command(short_help="Write every cell's per-gate arrays, W_ir to b_hn, to a file.")
@click.argument("path", type=PATH)
@click.option("--out", "-o", type=OUT, required=True,
              help="Output file: .npz, .h5 or .safetensors (chosen by the extension).")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Report what was written as JSON.")
@reading_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def split(path: Path, out: Path, force: bool, as_json: bool, reader: str,
          layout: str | None, quiet: bool, rename: tuple[str, ...] = (),
          slot: str | None = None) -> None:
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
    from . import api

    result = api.split(path, out, force=force, reader=reader, layout=layout, rename=rename,
                       slot=slot, progress=progress_hook(progress_wanted(as_json, quiet)))
    if as_json:
        emit_json(result.to_json())
    elif not quiet:
        from .render import console, render_split

        render_split(result.to_json(), console())


# The targets' registry names no module it would have to import: --help stays light.
TARGET_CHOICE = click.Choice(list(TARGET_MODULES))


@cli.command(short_help="Re-lay the cells out for another framework, with a numerical proof.")
@click.argument("path", type=PATH)
@click.option("--to", "to", type=TARGET_CHOICE, required=True, help="Target framework layout.")
@click.option("--out", "-o", type=OUT, required=True,
              help="Output file (.safetensors, .npz, .h5; .pt for pytorch; .onnx for onnx).")
@click.option("--module", help="Convert only this module (required for onnx when there are several).")
@click.option("--allow-inexact", is_flag=True,
              help="Convert across reset placements anyway; the error is measured and reported.")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest max-abs output difference accepted by the check.")
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Report the conversion as JSON.")
@reading_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
def convert(path: Path, to: str, out: Path, module: str | None, allow_inexact: bool,
            tolerance: float, force: bool, as_json: bool, reader: str,
            layout: str | None, quiet: bool, rename: tuple[str, ...] = (),
            slot: str | None = None) -> None:
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
    from . import api

    try:
        result = api.convert(path, to, out, module=module, allow_inexact=allow_inexact,
                             force=force, reader=reader, layout=layout, tolerance=tolerance,
                             rename=rename, slot=slot,
                             progress=progress_hook(progress_wanted(as_json, quiet)))
    except api.UnprovenConversionError as exc:
        if as_json:  # the measurements say where it went wrong: keep them
            emit_json(exc.result.to_json())
            click.echo(f"grutool: {exc.one_line()}", err=True)
            sys.exit(exc.exit_code)
        raise
    conversion = result.conversion
    if as_json:
        emit_json(result.to_json())
    elif not quiet:
        verification = conversion.verification
        error = verification.max_abs_error
        click.echo(f"Wrote {counted(len(conversion.keys), 'tensor')} for {to} to {out}")
        verdict = (f"within the tolerance {tolerance:g}" if verification.ok else
                   f"OUTSIDE the tolerance {tolerance:g} (allowed by --allow-inexact)")
        click.echo(f"Checked {counted(len(verification.modules), 'whole module')} "
                   f"({counted(len(verification.comparisons), 'cell')}): max abs output "
                   f"difference {error:.3g}, {verdict}")
        if conversion.inexact_cells:
            click.echo(f"grutool: warning: inexact conversion of "
                       f"{counted(len(conversion.inexact_cells), 'cell')} "
                       f"(reset placement changed): max abs error {error:.3g}", err=True)


@cli.command(short_help="Do the GRU modules of two files compute the same functions?")
@click.argument("a", type=PATH)
@click.argument("b", type=PATH)
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest max-abs output difference accepted.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@reading_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when the files agree.")
def verify(a: Path, b: Path, tolerance: float, as_json: bool, reader: str,
           layout: str | None, quiet: bool, rename: tuple[str, ...] = (),
           slot: str | None = None) -> None:
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
    from . import api

    result = api.verify(a, b, tolerance, reader=reader, layout=layout, rename=rename, slot=slot,
                        progress=progress_hook(progress_wanted(as_json, quiet)))
    verification = result.verification
    if as_json:
        emit_json(result.to_json())
    elif not (quiet and result.ok):
        for module in verification.modules:
            _echo_comparison(module, tolerance, "module ")
            for c in verification.comparisons:
                if c.a in result.module_cells.get(module.a, []):
                    _echo_comparison(c, tolerance, "  ")
    if result.error:
        click.echo(f"grutool: {result.error}", err=True)
        sys.exit(1)
    if not as_json and not quiet:
        click.echo(f"Same functions: max abs difference {verification.max_abs_error:.3g} over "
                   f"{counted(len(verification.modules), 'whole module')} (tolerance {tolerance:g})")


def _echo_comparison(c, tolerance: float, label: str) -> None:
    error = "-" if c.max_abs_error is None else f"{c.max_abs_error:.3g}"
    status = "ok" if c.ok(tolerance) else "DIFFERS"
    click.echo(f"{status:8} {error:>10}  {label}{c.a}  <->  {c.b}"
               + (f"  ({c.problem})" if c.problem else ""))


CHECK_FORMATS = click.Choice(["text", "json", "github", "junit"])


@cli.command(short_help="Pass or fail on conditions about the GRU cells, for CI.")
@several_paths
@click.option("--cells", type=click.IntRange(min=0), metavar="N",
              help="Fail unless the file holds exactly N GRU cells.")
@click.option("--units", type=click.IntRange(min=1), metavar="H",
              help="Fail unless every cell has H units (hidden size).")
@click.option("--expect-layout", metavar="NAME", shell_complete=_known_layouts,
              help="Fail unless every cell has this layout (e.g. tf-gru-cell, pytorch-gru).")
@click.option("--no-nan/--allow-nan", "no_nan", default=True, show_default=True,
              help="Fail on NaN or Inf anywhere in a cell's arrays.")
@click.option("--trained", is_flag=True,
              help="Fail on a TF GRUCell whose gates bias is still TF's initial 1.0.")
@click.option("--match", type=PATH, metavar="OTHER",
              help="Fail unless OTHER (any format) has the same structure (modules, layers, "
                   "directions, merge, sizes, reset placement, activations) and array shapes.")
@click.option("--format", "output_format", type=CHECK_FORMATS, default="text", show_default=True,
              help="text for people; json; github (workflow annotations); junit (XML report).")
@click.option("--json", "as_json", is_flag=True,
              help='Same as --format json: {"path", "ok", "checks": [{"name", "ok", "detail"}]}.')
@click.option("--quiet", "-q", is_flag=True, help="Print nothing for files that pass.")
@reading_options
def check(paths: tuple[Path, ...], every_checkpoint: bool, cells: int | None,
          units: int | None, expect_layout: str | None, no_nan: bool, trained: bool,
          match: Path | None, output_format: str, as_json: bool, quiet: bool, reader: str,
          layout: str | None, rename: tuple[str, ...] = (),
          slot: str | None = None) -> None:
    """Pass (exit 0) or fail (exit 1) on conditions about the GRU cells of each PATH, for CI.

    Without options it checks that PATH holds a GRU cell and that no cell has NaN or
    Inf values. Prints one line per failed condition ("FAIL units: ...") and a summary
    per file. A file that cannot be read exits 2; over several files the exit code is the
    worst of theirs. --layout is how to read the file, like everywhere; the layout the
    cells must have is --expect-layout.

    \b
    Examples:
      grutool check model.ckpt --cells 2 --units 256 --trained
      grutool check model.ckpt --expect-layout tf-gru-cell --allow-nan
      grutool check model.ckpt --match exported.safetensors --json
      grutool check run/ --every-checkpoint --format github
      grutool check ckpt-*.index --format junit > grutool-check.xml
    """
    from . import api
    from .batch import Outcome, run_each, summary, worst_exit_code

    if as_json:
        if output_format not in ("text", "json"):
            raise click.UsageError(f"--json and --format {output_format} ask for two "
                                   "different outputs; choose one")
        output_format = "json"
    ctx = click.get_current_context()
    debug = _debug(ctx)
    files, several = _inputs(paths, every_checkpoint)
    show_progress = progress_wanted(output_format != "text", quiet)

    with ExitStack() as stack:
        reference = None
        if match is not None:
            try:
                # OTHER is read as it says it is: --layout, --rename, --slot are PATH's; it is
                # opened once, however many files are checked against it.
                reference = stack.enter_context(api.open_checkpoint(match, reader=reader))
            except GrutoolError as exc:
                if debug:
                    import traceback

                    traceback.print_exc()
                message = f"--match {exc.one_line()}"
                outcomes = [Outcome(str(match), exc.exit_code,
                                    {"path": str(match), "ok": False, "error": message}, message)]
                _check_output(outcomes, output_format, quiet, several=False)
                click.echo(f"grutool: {message}", err=True)
                sys.exit(exc.exit_code)

        def work(path: Path) -> tuple[dict[str, Any], int]:
            label = path.name if several else ""
            result = api.check(path, cells=cells, units=units, expect_layout=expect_layout,
                               allow_nan=not no_nan, trained=trained, match=reference,
                               reader=reader, layout=layout, rename=rename, slot=slot,
                               progress=progress_hook(show_progress, label))
            return result.to_json(), 0 if result.ok else 1

        outcomes = []
        for outcome in run_each(files, _traced(work, debug)):
            checked = "checks" in outcome.report  # else the file could not be read
            if output_format == "text" and checked:
                from .render import check_lines

                for line in check_lines(outcome.report, quiet=quiet):
                    click.echo(line)
            # Text already says why a file failed its checks; every other failure gets its
            # line on stderr.
            if outcome.error and not (output_format == "text" and checked):
                click.echo(f"grutool: {outcome.error}", err=True)
            outcomes.append(outcome)
    _check_output(outcomes, output_format, quiet, several)
    worst = worst_exit_code(outcomes)
    if output_format == "text" and several and not (quiet and worst == 0):
        click.echo(("ok: " if worst == 0 else "FAILED: ") + summary(outcomes))
    sys.exit(worst)


def _check_output(outcomes: list[Outcome], output_format: str, quiet: bool,
                  several: bool) -> None:
    """What `check` prints once every file is done (text was printed as it went)."""
    from .batch import combined_report

    if output_format == "json":
        emit_json(combined_report(outcomes) if several else outcomes[0].report)
    elif output_format == "github":
        from .reports import github_annotations

        for line in github_annotations(outcomes, quiet=quiet):
            click.echo(line)
    elif output_format == "junit":
        from .reports import junit_xml

        click.echo(junit_xml(outcomes), nl=False)


@cli.command(short_help="How much each gate changed between two checkpoints.")
@click.argument("a", type=PATH)
@click.argument("b", type=PATH)
@click.option("--threshold", type=click.FloatRange(min=0), metavar="X",
              help="Exit 1 if any gate's relative change ||a-b||/||a|| exceeds X.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object for scripts.")
@click.option("--quiet", "-q", is_flag=True, help="No tables; only a threshold failure is reported.")
@reading_options
def diff(a: Path, b: Path, threshold: float | None, as_json: bool, quiet: bool,
         reader: str, layout: str | None, rename: tuple[str, ...] = (),
         slot: str | None = None) -> None:
    """Show how much each gate of each cell changed from checkpoint A to checkpoint B.

    Per cell and canonical array (W_ir ... b_hn): the relative change ||a-b||/||a||
    (0 when both are zero, inf when only A is), the max |a-b| and the cosine similarity
    (1 when both are zero). A bias absent on one side counts as zero. Cells are paired in
    model order (module, layer, direction), so files of different formats compare: a
    checkpoint against its own split file shows zero.

    Exits 0, or 1 when --threshold is exceeded or the files' modules differ in structure.

    \b
    Examples:
      grutool diff train/model.ckpt-1000 train/model.ckpt-2000
      grutool diff model.ckpt finetuned.npz --threshold 0.05
      grutool diff model.ckpt weights.safetensors --json | jq .max_relative_change
    """
    from . import api

    result = api.diff(a, b, threshold, reader=reader, layout=layout, rename=rename, slot=slot,
                      progress=progress_hook(progress_wanted(as_json, quiet)))
    data = result.to_json()
    if as_json:
        emit_json(data)
    elif not quiet and result.report.problem is None:
        from .render import console, render_diff

        render_diff(data, console())
    if result.error:
        click.echo(f"grutool: {result.error}", err=True)
        sys.exit(1)


@cli.command(short_help="Draw each cell's gates: heat maps and histograms.")
@click.argument("path", type=PATH)
@click.option("--out", "-o", type=OUT, required=True,
              help="Output image: .png, .svg, or .pdf (one page per cell).")
@click.option("--cell", metavar="NAME", shell_complete=_cell_names,
              help="Draw only this cell (its name as `inspect` shows it).")
@click.option("--force", is_flag=True, help="Replace existing outputs.")
@click.option("--json", "as_json", is_flag=True, help="Report what was written as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success.")
@reading_options
def plot(path: Path, out: Path, cell: str | None, force: bool, as_json: bool, quiet: bool,
         reader: str, layout: str | None, rename: tuple[str, ...] = (),
         slot: str | None = None) -> None:
    """Draw each GRU cell's gates: heat maps of W_ir, W_iz, W_in, W_hr, W_hz, W_hn on one
    colour scale, and a histogram of each gate's (r, z, n) weights and biases.

    One figure per cell, in model order. With .pdf, every cell is a page of OUT. With .png
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
    from . import api

    result = api.plot(path, out, cell=cell, force=force, reader=reader, layout=layout,
                      rename=rename, slot=slot,
                      progress=progress_hook(progress_wanted(as_json, quiet)))
    if as_json:
        emit_json(result.to_json())
    elif not quiet:
        from .render import console, render_plot

        render_plot(result.to_json(), console())


@cli.command(short_help="Each cell's equations and where every per-gate array lives.")
@click.argument("path", type=PATH)
@click.option("--cell", metavar="NAME", shell_complete=_cell_names,
              help="Only this cell (default: every cell, in model order).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--code", type=click.Choice(["numpy"]), default=None,
              help="Print a runnable program that reads the cell and defines step(x, h).")
@reading_options
def explain(path: Path, cell: str | None, as_json: bool, code: str | None, reader: str,
            layout: str | None, rename: tuple[str, ...] = (),
            slot: str | None = None) -> None:
    """Show each cell's equations and where each per-gate array lives in the file.

    Every canonical array (W_ir ... b_hn) is given as the tensor it comes from, a slice
    per axis, and any reshape and transpose: exactly what split applies.

    \b
    Examples:
      grutool explain model.ckpt
      grutool explain model.pt --cell gru.l0 --json
      grutool explain model.ckpt --cell rnn/gru_cell --code numpy > gru_step.py
    """
    from . import api

    result = api.explain(path, cell, reader=reader, layout=layout, rename=rename, slot=slot,
                         code=code)
    if result.program is not None:
        click.echo(result.program, nl=False)
    elif as_json:
        emit_json(result.to_json())
    else:
        from .render import console, render_explain

        render_explain(result.report, console())


@cli.command(short_help="grutool's version and the optional frameworks installed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def env(as_json: bool) -> None:
    """Show grutool's version, Python, and which of grutool's dependencies and optional
    frameworks are installed, with their versions (found without importing them).

    \b
    Examples:
      grutool env
      grutool env --json | jq '.packages[] | select(.installed) | .name'
    """
    import platform

    from .frameworks import packages

    found = packages()
    data = {"ok": True, "grutool": __version__, "location": str(Path(__file__).parent),
            "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
            "packages": [package.to_json() for package in found]}
    if as_json:
        emit_json(data)
        return
    click.echo(f"grutool {__version__}  ({data['location']})")
    click.echo(f"Python {data['python']}  {data['platform']}")
    width = max(len(package.name) for package in found)
    for heading, group in (("needed", [p for p in found if p.extra is None]),
                           ("optional", [p for p in found if p.extra is not None])):
        click.echo(f"{heading}:")
        for package in group:
            version = package.version or ("installed" if package.installed else "-")
            if not package.installed:
                version = "not installed"
            line = f"  {package.name:<{width}}  {version:<14}"
            if package.extra is not None:
                line += f"  [{package.extra}] {package.used_for}"
            click.echo(line.rstrip())


def main() -> None:
    cli(prog_name="grutool")


if __name__ == "__main__":
    main()
