"""The README's examples are run, so they cannot rot: every `$ grutool …` (or `$ python3 …`,
`$ echo $?`) line in a README code block is executed from a scratch folder that sees the
repository's `examples/` and `tests/`, and the output shown under it must appear, line by line
and in order, in what the command really prints (`…` stands for lines left out)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
        result = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        last_code = result.returncode
        actual = [line.rstrip() for line in (result.stdout + result.stderr).split("\n")]
        assert "Traceback" not in result.stderr, result.stderr
        missing = _appears_in_order(expected, actual)
        assert missing is None, f"$ {command}\nREADME shows {missing!r}, the command printed:\n" + \
            "\n".join(actual)
        script += command + "\n"
