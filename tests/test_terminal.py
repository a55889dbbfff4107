"""What a person sees in a real terminal: grutool run in a pseudo-terminal (the `pty`
module), so that rich takes the terminal path (colour, width) it never takes under CliRunner.
Each run is a child forked by one server process (tests/fork_server.py), not a new interpreter.
Shell completion, which writes to no terminal, runs in-process."""

import json
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES, ROOT, TF_GRU_CELL
from rich.cells import cell_len

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STACK_CELLS = ["encoder/rnn/multi_rnn_cell/cell_0/gru_cell",
               "encoder/rnn/multi_rnn_cell/cell_1/gru_cell"]
BIDI_CELLS = ["birnn/bidirectional_rnn/fw/gru_cell", "birnn/bidirectional_rnn/bw/gru_cell"]


@pytest.fixture
def run_in_pty(fork_server):
    def run(args, no_color=False, columns=80, timeout=120.0, code=None):
        """Run grutool (or `python -c code`) with stdin, stdout and stderr on one
        pseudo-terminal; return (exit code, everything written, as text with CR LF turned
        into LF)."""
        env = {key: value for key, value in os.environ.items()
               if key not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES")}
        env.update(COLUMNS=str(columns), LINES="50", TERM="xterm-256color")
        if no_color:
            env["NO_COLOR"] = "1"
        request = {"args": list(map(str, args)), "env": env, "cwd": str(ROOT), "code": code,
                   "timeout": timeout}
        answer = fork_server.request(request)
        output = answer["output"].encode("latin-1").decode("utf-8")
        return answer["exit"], output.replace("\r\n", "\n")

    return run


def visible_lines(output):
    return ANSI.sub("", output).splitlines()


@pytest.mark.parametrize("fixture, cells", [("stack2", STACK_CELLS), ("bidi", BIDI_CELLS)])
def test_inspect_fits_80_columns_and_keeps_cell_names_whole(run_in_pty, fixture, cells):
    code, output = run_in_pty(["inspect", TF_GRU_CELL / fixture])
    assert code == 0, output
    lines = visible_lines(output)
    assert len(lines) > 20
    too_wide = [line for line in lines if cell_len(line) > 80]
    assert not too_wide, too_wide
    text = "\n".join(lines)
    for name in cells:
        assert name in text, f"{name} is broken across lines"
    assert "W_hn" in text and "┏" in text  # the tables really were drawn


def test_colour_on_a_terminal_and_none_with_no_color(run_in_pty):
    _, coloured = run_in_pty(["inspect", TF_GRU_CELL / "single"])
    assert ANSI.search(coloured), "no escape sequences on a terminal"
    code, plain = run_in_pty(["inspect", TF_GRU_CELL / "single"], no_color=True)
    assert code == 0
    assert "\x1b" not in plain, sorted(set(ANSI.findall(plain)))
    assert visible_lines(coloured) == plain.splitlines()  # the same text, only uncoloured


def test_narrow_terminal_still_fits(run_in_pty):
    code, output = run_in_pty(["inspect", TF_GRU_CELL / "bidi"], columns=60)
    assert code == 0
    assert all(cell_len(line) <= 60 for line in visible_lines(output))


def test_progress_bar_on_a_terminal_is_transient(run_in_pty):
    # delay=0 so the bar shows however fast the machine is; rich draws it as it starts and
    # once more as it stops, so a short loop is enough.
    code = ("import time\nfrom grutool.render import track_cells\n"
            "for _ in track_cells(list(range(4)), 'reading', True, delay=0):\n"
            "    time.sleep(0.02)\n"
            "print('done')\n")
    status, output = run_in_pty([], code=code)
    assert status == 0
    assert "reading" in output and "4/4" in output  # the bar was drawn …
    assert "\x1b[2K" in output  # … and erased (transient)
    assert visible_lines(output.rsplit("\x1b[2K", 1)[-1]) == ["done"]


def test_no_progress_bar_when_disabled_or_with_json(run_in_pty):
    code = ("import time\nfrom grutool.render import track_cells\n"
            "for _ in track_cells(list(range(3)), 'reading', False, delay=0):\n"
            "    time.sleep(0.02)\n"
            "print('done')\n")
    status, output = run_in_pty([], code=code)
    assert status == 0 and output == "done\n"
    # plot takes over a second per figure: long enough for a bar, but --json forbids it.
    pytest.importorskip("matplotlib")
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"grutool-pty-{os.getpid()}.pdf"
    try:
        status, output = run_in_pty(["plot", TF_GRU_CELL / "bidi", "--out", out, "--force",
                                     "--json"])
        assert status == 0, output
        assert "\x1b" not in output
        assert len(json.loads(output)["pages"]) == 2
    finally:
        out.unlink(missing_ok=True)


def complete_in_process(env: dict[str, str]) -> str:
    """What `grutool` prints with these completion variables set (click's shell completion
    reads them before parsing anything)."""
    from grutool.cli import cli

    result = CliRunner().invoke(cli, [], env=env, prog_name="grutool", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_bash_completion_script():
    script = complete_in_process({"_GRUTOOL_COMPLETE": "bash_source"})
    assert "_grutool_completion" in script and "complete " in script
    words = complete_in_process({"_GRUTOOL_COMPLETE": "bash_complete",
                                 "COMP_WORDS": "grutool ch", "COMP_CWORD": "1"})
    assert "plain,check" in words.splitlines()


def test_completion_of_layouts_and_cell_names(monkeypatch):
    monkeypatch.chdir(ROOT)

    def complete(*words):
        output = complete_in_process({"_GRUTOOL_COMPLETE": "bash_complete",
                                      "COMP_WORDS": " ".join(["grutool", *map(str, words)]),
                                      "COMP_CWORD": str(len(words))})
        return [line.split(",", 1)[1] for line in output.splitlines() if line]

    assert "tf-gru-cell" in complete("check", "model.ckpt", "--layout", "tf-")
    bidi = TF_GRU_CELL.relative_to(ROOT) / "bidi"
    assert sorted(complete("plot", bidi, "--cell", "")) == sorted(BIDI_CELLS)
    assert complete("plot", bidi, "--cell", "birnn/bidirectional_rnn/f") == [BIDI_CELLS[0]]
    assert complete("plot", "no/such/file", "--cell", "") == []


# --- issue 15: lines at the console's width, bars for every long step ------------------------

BOX = "│┃┏┓┗┛┡┩┣┫━─╇╈┳┻╋┯┷└┘┌┐├┤ "


def _fixture_checkpoints():
    from grutool.readers import checkpoints_in

    return [path for folder in sorted(p for p in FIXTURES.rglob("*") if p.is_dir())
            for path in checkpoints_in(folder)
            if path.name not in ("reference.npz", "expected.npz")]


def _broken_names(lines, names):
    """(name, line) for every name that one line ends and the next continues: a name cut by
    a line break, once table borders and indentation are set aside."""
    # A name cut at the break holds the two characters either side of it: only names with
    # that pair are searched (one run checks thousands of names against thousands of lines).
    by_pair: dict[str, list[str]] = {}
    for name in names:
        for pair in {name[i:i + 2] for i in range(len(name) - 1)}:
            by_pair.setdefault(pair, []).append(name)
    broken = []
    for first, second in zip(lines, lines[1:], strict=False):
        tail = first.strip(BOX).rsplit(" ", 1)[-1]
        head = second.strip(BOX).split(" ", 1)[0]
        if not tail or not head:
            continue
        joined = tail + head
        for name in by_pair.get(tail[-1] + head[0], ()):
            start = joined.find(name)
            while start != -1:
                if start < len(tail) < start + len(name):
                    broken.append((name, first))
                start = joined.find(name, start + 1)
    return broken


def test_inspect_never_breaks_a_name_at_80_columns(run_in_pty):
    """Every fixture in one run (`inspect` takes several PATHs): headings, `from` lines and
    tables fit 80 columns, and no tensor, cell or module name is cut by a line break."""
    import grutool

    paths = _fixture_checkpoints()
    names = set()
    readable = 0  # a fixture whose reader's extra is not installed is an error line, no File
    for path in paths:
        try:
            with grutool.open_checkpoint(path) as checkpoint:
                readable += 1
                names |= {info.name for info in checkpoint.source.tensors()}
                for cell in checkpoint.cells:
                    names |= {cell.name, cell.module, *cell.source_tensors}
                    names |= {t[len(cell.name) + 1:] for t in cell.source_tensors
                              if t.startswith(cell.name + "/")}
        except grutool.GrutoolError:
            pass
    names = {name for name in names if len(name) > 3}
    code, output = run_in_pty(["inspect", "--all", *paths], columns=80, no_color=True)
    lines = output.splitlines()
    assert readable >= len(paths) // 2
    assert sum(1 for line in lines if line.startswith("File    ")) >= readable
    assert "Traceback" not in output
    stdout_lines = [line for line in lines if not line.startswith("grutool: ")]
    # A line may pass 80 columns only when it is one name longer than the line itself.
    too_wide = [line for line in stdout_lines
                if cell_len(line) > 80 and " " in line.strip(BOX)]
    assert not too_wide, too_wide
    assert not _broken_names(stdout_lines, names)


def test_the_name_check_would_see_a_cut():
    lines = ["from layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABL",
             "E_VALUE, next"]
    assert _broken_names(lines, {"layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE"})


PROGRESS_NOW = ("import sys, grutool.render as render\nrender.PROGRESS_DELAY_SECONDS = 0\n"
                "from grutool.cli import main\nsys.argv = ['grutool', *sys.argv[1:]]\nmain()\n")


@pytest.mark.parametrize("args, steps", [
    # verify reads each cell as its layer runs: its one bar is the check.
    (["verify", STACK_CKPT := TF_GRU_CELL / "stack2", STACK_CKPT], ["checking"]),
    (["diff", TF_GRU_CELL / "untrained", TF_GRU_CELL / "single"], ["comparing"]),
    (["convert", TF_GRU_CELL / "stack2", "--to", "keras", "--out", "{out}", "--force"],
     ["converting", "checking"]),
    (["check", TF_GRU_CELL / "stack2", TF_GRU_CELL / "single"], ["reading stack2", "reading single"]),
    (["inspect", TF_GRU_CELL / "stack2"], ["reading"]),
])
def test_a_bar_for_every_step_that_can_take_time(run_in_pty, tmp_path, args, steps):
    """With the delay at 0, every step shows its bar (and erases it) on a terminal; with
    --json, none does."""
    args = [str(a).format(out=tmp_path / "k.npz") for a in args]
    code, output = run_in_pty(args, code=PROGRESS_NOW)
    assert code == 0, output
    for step in steps:
        assert re.search(rf"{step}\S* .*━", ANSI.sub("", output)), (step, output)
    assert "\x1b[2K" in output  # transient
    if args[0] != "check":
        code, quiet = run_in_pty([*args, "--json"], code=PROGRESS_NOW)
        assert code == 0 and "\x1b" not in quiet and json.loads(quiet)["ok"] is True


def test_help_fits_a_terminal_of_80_columns(run_in_pty):
    code, output = run_in_pty(["--help"], columns=80)
    assert code == 0
    lines = visible_lines(output)
    assert max(cell_len(line) for line in lines) <= 80
    commands = output.split("Commands:")[1]
    assert "..." not in commands and "…" not in commands
