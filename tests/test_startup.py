"""`grutool --help`, `--version` and shell completion start without importing NumPy (or
anything heavy): the package's exports are imported on first use, the commands' libraries
inside the commands. TensorFlow's own start-up log stays off the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, TF_GRU_CELL

HEAVY = ("numpy", "h5py", "rich.table", "tensorflow", "torch", "onnx")
# Runs grutool once per argument list, in turn, in one fresh interpreter; after each run,
# prints which of the heavy modules are loaded. Imports only accumulate, so a run that loads
# nothing heavy after runs that loaded nothing would load nothing alone either.
PROBE = """
import json, sys
from grutool.cli import main
for args in json.loads(sys.argv[1]):
    sys.argv = ["grutool", *args]
    try:
        main()
    except SystemExit:
        pass
    print("HEAVY:" + ",".join(name for name in {heavy!r} if name in sys.modules),
          file=sys.stderr)
"""


def _heavy_imports(*runs: list[str], env: dict[str, str] | None = None,
                   heavy: tuple[str, ...] = HEAVY) -> list[list[str]]:
    """For each grutool run (an argument list), the heavy modules loaded after it."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=heavy), json.dumps(runs)],
                            capture_output=True, text=True, env={**os.environ, **(env or {})},
                            timeout=60)
    lines = [line for line in result.stderr.splitlines() if line.startswith("HEAVY:")]
    assert len(lines) == len(runs), result.stderr
    return [[name for name in line[len("HEAVY:"):].split(",") if name] for line in lines]


def test_import_of_the_cli_imports_no_numpy():
    code = f"import sys, grutool.cli; print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_help_and_version_import_no_numpy():
    runs = [["--help"], ["--version"], ["inspect", "--help"], ["convert", "--help"]]
    assert _heavy_imports(*runs) == [[]] * len(runs)


def test_completion_of_commands_and_options_imports_no_numpy():
    for words, index in (("grutool ins", "1"), ("grutool inspect model.ckpt --j", "3")):
        env = {"_GRUTOOL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": index}
        assert _heavy_imports([], env=env) == [[]]


def test_the_package_still_exports_everything_on_use():
    import grutool

    assert callable(grutool.open_checkpoint) and callable(grutool.split)
    assert issubclass(grutool.GrutoolError, Exception)
    assert set(grutool.__all__) <= set(dir(grutool))
    with pytest.raises(AttributeError):
        grutool.no_such_name  # noqa: B018


def test_a_float32_safetensors_file_is_read_without_ml_dtypes():
    """ml_dtypes' import alone takes a second or more on a slow machine: only a file that
    names one of its dtypes (bfloat16, float8) imports it."""
    path = FIXTURES / "pytorch" / "gru_bidir_2layer.safetensors"
    assert _heavy_imports(["inspect", str(path)], heavy=("ml_dtypes",)) == [[]]


TF_SINGLE = TF_GRU_CELL / "single" / "model.ckpt"


# --- TensorFlow's start-up log --------------------------------------------------------------

def test_native_stderr_is_hidden_and_restored():
    code = ("import os\nfrom grutool.frameworks import native_stderr_hidden, native_logs_shown\n"
            "with native_stderr_hidden():\n    os.write(2, b'hidden\\n')\n"
            "os.write(2, b'after\\n')\n"
            "with native_logs_shown(True), native_stderr_hidden():\n    os.write(2, b'debug\\n')\n"
            "try:\n    with native_stderr_hidden():\n        raise ValueError\n"
            "except ValueError:\n    os.write(2, b'restored\\n')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stderr.splitlines() == ["after", "debug", "restored"]


@pytest.mark.tensorflow
@pytest.mark.parametrize("args", [
    ["inspect", TF_SINGLE, "--reader", "tensorflow", "--no-stats"],
    ["convert", TF_SINGLE, "--to", "tf", "--out", "{tmp}/x.ckpt"],
])
def test_tensorflow_start_up_log_stays_off_the_terminal(tmp_path, args):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-c", "from grutool.cli import main; main()", *(str(a).format(tmp=tmp_path) for a in args)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
