"""`python -m grutool` is the command line, like the `grutool` script."""

from __future__ import annotations

import subprocess
import sys

from grutool import __version__


def _python_m(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grutool", *args], capture_output=True,
                          text=True, timeout=120)


def test_python_m_grutool_version() -> None:
    result = _python_m("--version")
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
    assert "grutool" in result.stdout


def test_python_m_grutool_help() -> None:
    result = _python_m("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: grutool")
    for command in ("inspect", "split", "convert", "verify", "check", "diff", "explain"):
        assert command in result.stdout


def test_importing_grutool_main_runs_nothing() -> None:
    code = "import grutool.__main__; print('imported')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported\n"
