import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

# Property tests: the `ci` profile (chosen where the CI variable is set, as CI services do, or
# with HYPOTHESIS_PROFILE=ci) runs three times the examples of the `dev` profile, which keeps a
# local run quick. Both are derandomized by the tests that need it, so a run is repeatable.
settings.register_profile("ci", max_examples=300)
settings.register_profile("dev", max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

FIXTURES = Path(__file__).parent / "fixtures"
TF_GRU_CELL = FIXTURES / "tf_gru_cell"


@pytest.fixture
def run():
    """Run the grutool CLI in-process; returns the Click result (stdout and stderr apart)."""
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
