"""A `split` (or `convert`) killed while it writes leaves no output: SIGTERM cleans its
temporary file up, even the instant after it is made; SIGKILL (which nothing can catch) may
leave a hidden `.partial` file but never the output name.

The split writes to `.<name>.<random>.partial` beside the output and renames it into place
when complete (grutool.writers.atomic_path); the signal is sent as soon as that file appears.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

STDERR = "grutool-run.stderr"  # the forked run's stderr, beside its output
CELLS, UNITS = 20, 512  # ~120 MB of float32: a write that lasts long enough to be caught


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    """Canonical arrays of many big cells (read back by the grutool-canonical family)."""
    path = tmp_path_factory.mktemp("big") / "big.npz"
    rng = np.random.default_rng(0)
    block = rng.standard_normal((UNITS, UNITS), dtype=np.float32)
    arrays = {}
    for k in range(CELLS):
        for gate in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn"):
            arrays[f"cell{k}/{gate}"] = block
        for gate in ("b_ir", "b_iz", "b_in"):
            arrays[f"cell{k}/{gate}"] = block[0]
    np.savez(path, **arrays)
    return path


def split_and_signal(server, source: Path, out: Path, signum: int,
                     command: tuple[str, ...] = ("split",)) -> tuple[int, list[str]]:
    """Run `grutool COMMAND SOURCE --out OUT` (a child forked by tests/fork_server.py, as a
    fresh process would run it), send it `signum` the moment its temporary file appears;
    return its exit code and the names left in OUT's folder."""
    stderr = out.parent / STDERR
    pid = server.request({"start": [*command, str(source), "--out", str(out)],
                          "env": dict(os.environ), "cwd": str(out.parent),
                          "stderr": str(stderr)})["pid"]
    deadline = time.monotonic() + 60
    try:
        while not list(out.parent.glob(f".{out.name}.*.partial")):
            code = server.request({"poll": pid})["exit"]
            if code is not None:
                pid = 0
                pytest.fail(f"split ended (exit {code}) before writing began: "
                            f"{stderr.read_text()!r}")
            if time.monotonic() > deadline:
                pytest.fail("split never started writing")
            time.sleep(0.002)
        os.kill(pid, signum)
        code = server.request({"wait": pid})["exit"]
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            server.request({"wait": pid})
    return code, sorted(p.name for p in out.parent.iterdir() if p.name != STDERR)


def test_sigterm_midway_leaves_nothing(fork_server, big_input, tmp_path):
    out = tmp_path / "weights.npz"
    code, left = split_and_signal(fork_server, big_input, out, signal.SIGTERM)
    if code == 0:
        pytest.skip("the write finished before the signal arrived")
    assert code == 128 + signal.SIGTERM
    assert left == [], f"left behind: {left}"


@pytest.mark.parametrize("command, name", [
    (("split",), "weights.h5"), (("split",), "weights.safetensors"),
    (("convert", "--to", "keras"), "keras.npz"), (("convert", "--to", "tf"), "tf.safetensors"),
    (("convert", "--to", "keras"), "keras.h5")])
def test_sigterm_midway_through_any_streamed_write_leaves_nothing(fork_server, big_input, tmp_path,
                                                                   command, name):
    """Every format is written as a stream into the temporary file; `convert` then reads it
    back for its proof. SIGTERM at any point of that removes the temporary file."""
    out = tmp_path / name
    code, left = split_and_signal(fork_server, big_input, out, signal.SIGTERM, command)
    if code == 0:
        pytest.skip("the write finished before the signal arrived")
    assert code == 128 + signal.SIGTERM
    assert left == [], f"left behind: {left}"


def test_sigkill_midway_never_leaves_the_output_name(fork_server, big_input, tmp_path):
    out = tmp_path / "weights.npz"
    code, left = split_and_signal(fork_server, big_input, out, signal.SIGKILL)
    if code == 0:
        pytest.skip("the write finished before the signal arrived")
    assert code == -signal.SIGKILL
    assert not out.exists()
    # SIGKILL cannot be caught: a hidden temporary file may remain, never a file by the
    # output's name, so a later run or reader never mistakes half a file for the output.
    assert all(name.startswith(".weights.npz.") and name.endswith(".partial") for name in left)


def test_sigterm_handler_is_restored_after_an_in_process_command(run):
    before = signal.getsignal(signal.SIGTERM)
    run("--version")
    run("inspect", FIXTURES / "pytorch" / "gru_cell.safetensors")
    assert signal.getsignal(signal.SIGTERM) is before
    assert os.getpid()  # the test process was not terminated
