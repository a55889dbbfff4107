"""The CLI is the library plus rendering: every command has its function in `grutool.api`, which
takes the command's options as keywords and a `progress=` hook, and whose result's `to_json()`
is, field for field, what the command's `--json` prints, on the same fixture."""

from __future__ import annotations

import inspect as python_inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, TF_GRU_CELL

import grutool
import grutool.api as api
from grutool.cli import cli

STACK, SINGLE = TF_GRU_CELL / "stack2", TF_GRU_CELL / "single"
UNTRAINED = TF_GRU_CELL / "untrained"
KERAS = FIXTURES / "keras" / "k3_bidirectional" / "model.keras"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# `env` describes grutool's installation, not a file: it must run where NumPy is broken,
# which the library (it imports NumPy) cannot.
NOT_ABOUT_A_FILE = {"env"}
# Options that only choose how the CLI shows a result, or which files it reads in turn.
RENDERING_ONLY = {"as_json", "output_format", "quiet", "all_tensors", "every_checkpoint"}
# CLI flags that say the opposite of the library's keyword (`--no-stats` is with_stats=False).
LIBRARY_NAME = {"paths": "path", "no_stats": "with_stats", "no_nan": "allow_nan"}


def _stack_cells() -> list[str]:
    with grutool.open_checkpoint(STACK) as checkpoint:
        return [cell.name for cell in checkpoint.cells]


@dataclass
class Case:
    """One command on a real fixture: its CLI arguments, the same call to the library, and
    what the written output must satisfy (`out` is the output the call was given)."""

    cli_args: Callable[[Path], list[Any]]
    library_call: Callable[[Path, Any], api.CommandResult]
    # Items the progress hook must have been given (names of cells, or of module pairs).
    progress_items: Callable[[], list[str]]
    check_output: Callable[[Path], None] | None = None


def _split_output_loads(out: Path) -> None:
    with np.load(out, allow_pickle=False) as arrays:
        names = set(arrays.files)
    assert {f"{cell}/W_ir" for cell in _stack_cells()} <= names
    assert "__grutool__" in names


def _conversion_loads(out: Path) -> None:
    # Read back as any file is, it must compute what the source computes.
    assert grutool.verify_files(KERAS, out).ok


def _plots_are_images(out: Path) -> None:
    paths = [out, out.with_name(f"{out.stem}-2{out.suffix}")]
    for path in paths:
        assert path.read_bytes().startswith(PNG_SIGNATURE), path


def _name_of(item: Any) -> str:
    """A progress item as a name: a cell, or a pair of modules (verify's steps)."""
    if isinstance(item, tuple):
        return item[0].name
    return item.name


CASES: dict[str, Case] = {
    "inspect": Case(
        lambda out: ["inspect", STACK],
        lambda out, progress: api.inspect(STACK, progress=progress),
        _stack_cells),
    "split": Case(
        lambda out: ["split", STACK, "--out", out],
        lambda out, progress: api.split(STACK, out, progress=progress),
        _stack_cells, _split_output_loads),
    "convert": Case(
        lambda out: ["convert", KERAS, "--to", "pytorch", "--out", out.with_suffix(".safetensors")],
        lambda out, progress: api.convert(KERAS, "pytorch", out.with_suffix(".safetensors"),
                                          progress=progress),
        lambda: ["layers/bidirectional/forward_layer/cell",
                 "layers/bidirectional/backward_layer/cell", "layers/bidirectional"],
        lambda out: _conversion_loads(out.with_suffix(".safetensors"))),
    "verify": Case(
        lambda out: ["verify", STACK, STACK, "--tolerance", "1e-6"],
        lambda out, progress: api.verify(STACK, STACK, tolerance=1e-6, progress=progress),
        lambda: ["encoder/rnn/multi_rnn_cell"]),
    "check": Case(
        lambda out: ["check", STACK, "--cells", 2, "--units", 4, "--match", STACK],
        lambda out, progress: api.check(STACK, cells=2, units=4, match=STACK, progress=progress),
        lambda: _stack_cells() * 2),  # the file's cells, then --match's
    "diff": Case(
        lambda out: ["diff", SINGLE, SINGLE],
        lambda out, progress: api.diff(SINGLE, SINGLE, progress=progress),
        lambda: ["rnn/gru_cell"]),
    "explain": Case(
        lambda out: ["explain", KERAS],
        lambda out, progress: api.explain(KERAS, progress=progress),
        lambda: ["layers/bidirectional/forward_layer/cell",
                 "layers/bidirectional/backward_layer/cell"]),
    "plot": Case(
        lambda out: ["plot", STACK, "--out", out.with_suffix(".png")],
        lambda out, progress: api.plot(STACK, out.with_suffix(".png"), progress=progress),
        _stack_cells,
        lambda out: _plots_are_images(out.with_suffix(".png"))),
}

COMMANDS = sorted(set(cli.commands) - NOT_ABOUT_A_FILE)


def test_every_command_has_a_case_here():
    # A command added to the CLI fails here until it has its library function and a case.
    assert set(CASES) == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_the_library_function_takes_the_commands_options(name):
    function = getattr(api, name)
    keywords = set(python_inspect.signature(function).parameters)
    options = {param.name for param in cli.commands[name].params
               if param.name is not None and param.expose_value}
    wanted = {LIBRARY_NAME.get(option, option) for option in options - RENDERING_ONLY}
    assert wanted - keywords == set(), f"grutool.api.{name} lacks {wanted - keywords}"
    assert "progress" in keywords


@pytest.mark.parametrize("name", COMMANDS)
def test_the_library_gives_what_the_cli_prints(name, run, tmp_path):
    if name == "plot":
        pytest.importorskip("matplotlib")
    case = CASES[name]
    # Both write to the same path, the CLI first, so that the JSON (which names the outputs)
    # must be equal to the character; the CLI's outputs are moved aside before the call.
    work = tmp_path / "out"
    work.mkdir()
    out = work / "weights.npz"
    result = run(*case.cli_args(out), "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    cli_outputs = tmp_path / "cli"
    work.rename(cli_outputs)
    work.mkdir()

    seen: list[tuple[str, list[Any]]] = []

    def progress(items, description):
        seen.append((description, list(items)))
        return items

    library = case.library_call(out, progress)
    assert library.ok is True and library.error is None
    assert library.to_json() == printed
    assert [_name_of(item) for _, items in seen for item in items] == case.progress_items()
    if case.check_output is not None:
        case.check_output(out)
        case.check_output(cli_outputs / out.name)


def test_a_failed_check_is_a_result_with_the_clis_json(run):
    library = api.check(SINGLE, cells=3)
    result = run("check", SINGLE, "--cells", 3, "--json")
    assert result.exit_code == 1
    assert library.ok is False and "1 of 3 checks failed: cells" in library.error
    assert library.to_json() == json.loads(result.stdout)


def test_a_failed_verify_is_a_result_with_the_clis_json_and_message(run):
    library = api.verify(SINGLE, UNTRAINED)
    result = run("verify", SINGLE, UNTRAINED, "--json")
    assert result.exit_code == 1
    assert library.ok is False and library.error.startswith(f"{SINGLE} vs {UNTRAINED}: ")
    assert library.to_json() == json.loads(result.stdout)
    assert result.stderr.strip() == f"grutool: {library.error}"


def test_a_diff_above_the_threshold_is_a_result_with_the_clis_json_and_message(run):
    library = api.diff(SINGLE, UNTRAINED, threshold=0.1)
    result = run("diff", SINGLE, UNTRAINED, "--threshold", "0.1", "--json")
    assert result.exit_code == 1
    assert library.ok is False and "changed by more than 0.1" in library.error
    assert library.to_json() == json.loads(result.stdout)
    assert result.stderr.strip() == f"grutool: {library.error}"


def test_errors_are_raised_with_the_clis_exit_code_and_line(run, tmp_path):
    out = tmp_path / "gru.safetensors"
    with pytest.raises(grutool.GrutoolError) as caught:
        api.convert(SINGLE, "pytorch", out)
    result = run("convert", SINGLE, "--to", "pytorch", "--out", out, "--json")
    assert result.exit_code == caught.value.exit_code == 1 and not out.exists()
    assert json.loads(result.stdout)["error"] == caught.value.one_line()


def test_explain_code_is_the_program_the_cli_prints(run):
    cell = "layers/bidirectional/forward_layer/cell"
    program = api.explain(KERAS, cell, code="numpy").program
    assert program is not None and "def step(x, h):" in program
    assert run("explain", KERAS, "--cell", cell, "--code", "numpy").stdout == program
    with pytest.raises(grutool.GrutoolError, match="choose one with --cell"):
        api.explain(KERAS, code="numpy")


def test_the_names_of_grutool_0_1_return_what_they_returned(tmp_path):
    from grutool.check import CheckReport
    from grutool.convert import Conversion
    from grutool.diff import DiffReport
    from grutool.verify import Verification

    with api.open_checkpoint(STACK) as checkpoint:
        assert api.inspect_report(checkpoint) == api.inspect(STACK).to_json()
    assert isinstance(api.convert_file(KERAS, "keras", tmp_path / "k.npz"), Conversion)
    assert isinstance(api.verify_files(STACK, STACK, 1e-6), Verification)
    assert isinstance(api.check_file(STACK, cells=2), CheckReport)
    assert isinstance(api.diff_files(SINGLE, SINGLE, 0.5), DiffReport)
    assert api.explain_file(KERAS) == {key: value for key, value in api.explain(KERAS).to_json()
                                       .items() if key != "ok"}
    split = grutool.split(STACK, tmp_path / "w.npz")
    assert [cell.name for cell in split.cells] == _stack_cells()
    assert [module.name for module in split.modules] == ["encoder/rnn/multi_rnn_cell"]
