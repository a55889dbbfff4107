import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

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
