"""The README's examples are run, so they cannot rot: every `$ grutool …` (or `$ python3 …`,
`$ echo $?`) line in a README code block is executed from a scratch folder that sees the
repository's `examples/` and `tests/`, and the output shown under it must appear, line by line
and in order, in what the command really prints (`…` stands for lines left out). The `grutool`
part of a line runs in this process (an interpreter start-up per line was most of the time);
`python3` lines, and what a `grutool` line pipes into, run in bash."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)


def sessions() -> list[list[tuple[str, list[str]]]]:
    """Each code block holding `$ ` commands, as [(command, expected output lines)]."""
    found = []
    for block in FENCE.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        lines = block.rstrip("\n").split("\n")
        if not lines or not lines[0].startswith("$ "):
            continue
        steps: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line.rstrip())
        found.append(steps)
    return found


SESSIONS = sessions()


def _appears_in_order(expected: list[str], actual: list[str]) -> str | None:
    position = 0
    for line in expected:
        if line in ("…", ""):
            continue
        while position < len(actual) and actual[position] != line:
            position += 1
        if position == len(actual):
            return line
        position += 1
    return None


def run_command(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run one README line in `cwd`: (exit code, stdout, stderr). A `grutool …` line (its
    output maybe piped into `python3 -c`, sent to a file or its stderr dropped) runs the CLI
    in this process, which is what the line shows; anything else runs in bash."""
    grutool_part, pipe, consumer = command.partition(" | ")
    words = shlex.split(grutool_part)
    if words[0] != "grutool" or any(w in words for w in ("&&", ";", "|", "<")) or \
            (pipe and not consumer.startswith("python3 -c ")):
        return _in_bash(command, cwd, env)
    drop_stderr = "2>/dev/null" in words
    redirect = words[words.index(">") + 1] if ">" in words else None
    args = [w for w in words[1:] if w != "2>/dev/null"]
    if redirect:
        args = args[:args.index(">")]
    # The shell's globbing, which bash would have done before grutool saw the words.
    args = [match for arg in args
            for match in (sorted(glob.glob(arg, root_dir=cwd)) if "*" in arg else [arg])]
    from grutool.cli import cli

    previous = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner(env={"COLUMNS": env["COLUMNS"], "NO_COLOR": env["NO_COLOR"]}).invoke(
            cli, args, prog_name="grutool", catch_exceptions=False)
    finally:
        os.chdir(previous)
    stdout, stderr = result.stdout, "" if drop_stderr else result.stderr
    if redirect:
        (cwd / redirect).write_text(stdout, encoding="utf-8")
        stdout = ""
    if not pipe:
        return result.exit_code, stdout, stderr
    code, piped_out, piped_err = _in_bash(consumer, cwd, env, stdin=stdout)
    return code, piped_out, stderr + piped_err


def _in_bash(command: str, cwd: Path, env: dict[str, str], stdin: str | None = None
             ) -> tuple[int, str, str]:
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, input=stdin,
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout, result.stderr


def test_the_readme_has_examples():
    commands = [command for steps in SESSIONS for command, _ in steps]
    assert len(SESSIONS) >= 6
    for verb in ("inspect", "split", "convert", "verify", "check", "diff", "plot"):
        assert any(command.startswith(f"grutool {verb}") for command in commands), verb


@pytest.mark.parametrize("steps", SESSIONS, ids=[steps[0][0][:60] for steps in SESSIONS])
def test_readme_example(steps, tmp_path):
    if any("grutool plot" in command for command, _ in steps):
        pytest.importorskip("matplotlib")
    for name in ("examples", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               COLUMNS="80", NO_COLOR="1")
    script = ""
    last_code = None  # the exit code of the command before an `echo $?`
    for command, expected in steps:
        # Each command runs after the ones before it in the block (files they wrote stay).
        if command == "echo $?":
            assert str(last_code) == expected[0], script
            continue
        last_code, stdout, stderr = run_command(command, tmp_path, env)
        actual = [line.rstrip() for line in (stdout + stderr).split("\n")]
        assert "Traceback" not in stderr, stderr
        missing = _appears_in_order(expected, actual)
        assert missing is None, f"$ {command}\nREADME shows {missing!r}, the command printed:\n" + \
            "\n".join(actual)
        script += command + "\n"
