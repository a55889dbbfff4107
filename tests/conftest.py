import atexit
import gc
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

# Some environments set PYTHONDONTWRITEBYTECODE; then each child process a test starts (the
# start-up, SIGTERM, hostile-file and terminal runs) compiles grutool from source again. The
# caches are what a user's installation has anyway.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# At exit, once pytest is done, the interpreter's last garbage collection walks every object
# the run made: 0.3 to 0.5 s per xdist worker, measured, with the controller waiting for
# each worker's exit. Nothing the tests leave needs that collection (their files are closed
# where they are used), so the objects are frozen out of it.
atexit.register(gc.freeze)


ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
TF_GRU_CELL = FIXTURES / "tf_gru_cell"
KERAS = FIXTURES / "keras"
EXAMPLE = ROOT / "examples" / "tf1-encoder"
CASE_RUNNER = ROOT / "tests" / "hostile" / "run_cases.py"


def write_bare_keras_npz(path: Path, bias_shape: tuple[int, ...] = (2, 12)) -> Path:
    """A Keras GRU's three arrays (3 inputs, 4 units) under their bare names, in an `.npz`
    that says nothing else: the layout must be assumed or given. bias [2, 12]: reset after."""
    import numpy as np

    rng = np.random.default_rng(3)
    np.savez(path, kernel=rng.uniform(-1, 1, (3, 12)).astype(np.float32),
             recurrent_kernel=rng.uniform(-1, 1, (4, 12)).astype(np.float32),
             bias=rng.uniform(-1, 1, bias_shape).astype(np.float32))
    return path


def run_capped(cases: list[dict], address_space: int, seconds_per_case: int = 20
               ) -> dict[str, subprocess.CompletedProcess]:
    """Run grutool command lines in ONE subprocess (tests/hostile/run_cases.py) whose address
    space is capped at `address_space` bytes, so that a reader allocating what a header claims
    fails its case instead of exhausting the machine. `cases`: [{"case", "args", "cwd"}];
    returns case -> its exit code, stdout and stderr, as if each had been its own `grutool` run."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(CASE_RUNNER)], input=json.dumps(cases), env=env,
                          capture_output=True, text=True,
                          timeout=seconds_per_case * len(cases) + 60, preexec_fn=limit)
    results = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        results[record["case"]] = subprocess.CompletedProcess(
            ["grutool"], record["exit"], record["stdout"], record["stderr"])
    missing = [case["case"] for case in cases if case["case"] not in results]
    assert not missing, f"the runner stopped before {missing[:3]}: {done.stderr[-2000:]}"
    return results


class ForkServer:
    """tests/fork_server.py, started once: each request is a grutool run forked from one
    interpreter that has already imported grutool (see that file for the requests)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fork_server.py")],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True, cwd=ROOT)

    def request(self, request: dict) -> dict:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


@pytest.fixture(scope="module")
def fork_server():
    server = ForkServer()
    yield server
    server.close()


@pytest.fixture
def run():
    """Run the grutool CLI in-process; returns the Click result (stdout and stderr apart)."""
    from click.testing import CliRunner

    from grutool.cli import cli

    def invoke(*args: str):
        runner = CliRunner()
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def run_json(run):
    def invoke(*args: str):
        result = run(*args, "--json")
        return result, json.loads(result.stdout) if result.stdout.strip() else None

    return invoke


@pytest.hookimpl(trylast=True)  # after xdist's, which registers its controller
def pytest_configure(config):
    """Property tests: the `ci` profile (chosen where the CI variable is set, as CI services
    and .ci/run do, or with HYPOTHESIS_PROFILE=ci) runs six times the examples of the `dev`
    profile, which keeps a local run quick. Both are derandomized by the tests that need it,
    so a run is repeatable. Not in xdist's controller, which runs no test: the workers start
    only once it is configured, and Hypothesis and NumPy there cost 0.3 s of everyone's wait."""
    if config.pluginmanager.has_plugin("dsession"):
        return
    from hypothesis import settings

    settings.register_profile("ci", max_examples=300)
    settings.register_profile("dev", max_examples=50)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                         "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# A test marked for a framework needs that framework's package; without it the test is
# skipped (the default `pip install -e '.[test]'` run), with it the test must pass.
MARKER_PACKAGES = {"tensorflow": "tensorflow", "torch": "torch", "onnx": "onnxruntime",
                   "keras": "keras", "flax": "msgpack"}


def pytest_runtest_setup(item):
    import importlib.util

    for marker, package in MARKER_PACKAGES.items():
        if item.get_closest_marker(marker) and importlib.util.find_spec(package) is None:
            pytest.skip(f"needs {package} (the {marker} extra)")
