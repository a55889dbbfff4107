"""A file cannot cost more than the machine can give: a tensor declaring more memory than is
available (RAM, or the address-space limit) is refused before anything is allocated, with one
line naming the file, the tensor and the sizes (exit 2); a MemoryError is never an internal
error. Run in one subprocess under a lowered RLIMIT_AS (tests/hostile/run_cases.py, each
command line as its own grutool run), so the test means the same on any machine and a failure
cannot take the machine's memory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLE, run_capped
from deflated_zeros import pytorch_gru_npz

LIMIT = 1536 * 2**20  # far above what grutool needs to start, far below the files below
COMMANDS = {"inspect": ["inspect"], "inspect-json": ["inspect", "--json"], "check": ["check"],
            "split": ["split", "--out", "{tmp}/w.npz"],
            "convert": ["convert", "--to", "keras", "--out", "{tmp}/k.npz"]}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """1.5 MB declaring 24 GiB: the sizes say 6 Gi float32, the deflate stream holds 1.5 GiB."""
    path = tmp_path_factory.mktemp("hostile") / "declares-24GiB.npz"
    return pytorch_gru_npz(path, inputs=2**31, hidden=1, stored=3 * 2**29)


@pytest.fixture(scope="module")
def honest(tmp_path_factory) -> Path:
    """About 2 MB holding exactly what it declares: 3 GiB of zeros."""
    path = tmp_path_factory.mktemp("honest") / "holds-3GiB.npz"
    return pytorch_gru_npz(path, inputs=2**28, hidden=1)


def test_the_files_are_what_they_say(hostile, honest):
    assert hostile.stat().st_size < 2 * 2**20 and honest.stat().st_size < 4 * 2**20
    with zipfile.ZipFile(hostile) as archive:
        assert archive.getinfo("gru.weight_ih_l0.npy").file_size > 24 * 2**30
    with zipfile.ZipFile(honest) as archive:  # a valid archive: its CRC holds
        with archive.open("gru.bias_ih_l0.npy") as member:
            assert np.lib.format.read_array(member).shape == (3,)


@pytest.fixture(scope="module")
def limited_runs(hostile, honest, tmp_path_factory):
    """Every command on both files, and `inspect --no-stats --json` of the hostile one, in one
    subprocess under the lowered limit; (file, command) -> (result, its working folder)."""
    folders, cases = {}, []
    for fixture, path in (("hostile", hostile), ("honest", honest)):
        for command, words in COMMANDS.items():
            folder = folders[fixture, command] = tmp_path_factory.mktemp(f"{fixture}-{command}")
            args = [word.format(tmp=folder) for word in words]
            cases.append({"case": f"{fixture} {command}", "cwd": str(folder),
                          "args": [args[0], str(path), *args[1:]]})
    folders["hostile", "names"] = tmp_path_factory.mktemp("names")
    cases.append({"case": "hostile names", "cwd": str(folders["hostile", "names"]),
                  "args": ["inspect", str(hostile), "--no-stats", "--json"]})
    results = run_capped(cases, LIMIT)
    return {key: (results[" ".join(key)], folder) for key, folder in folders.items()}


@pytest.mark.parametrize("fixture", ["hostile", "honest"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_tensor_beyond_the_machine_is_one_line_exit_2(request, limited_runs, fixture, command):
    path = request.getfixturevalue(fixture)
    result, folder = limited_runs[fixture, command]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"grutool: {path}: tensor 'gru.weight_ih_l0' [3, ")
    assert "more than this machine can give" in line and "GiB" in line
    assert "internal error" not in line and "Traceback" not in result.stderr
    assert not list(folder.iterdir()), "nothing is written"


def test_names_and_shapes_need_no_memory(limited_runs):
    result, _ = limited_runs["hostile", "names"]
    assert result.returncode == 0, result.stderr
    assert '"hidden_size": 1' in result.stdout


def test_a_memory_error_anywhere_is_one_line_exit_2(run, monkeypatch):
    from grutool import stats

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 24.0 GiB for an array")

    monkeypatch.setattr(stats, "gate_stats", exhausted)
    result = run("inspect", EXAMPLE)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "out of memory" in result.stderr and "internal error" not in result.stderr


def test_the_bound_reads_the_address_space_limit():
    from grutool import memory

    code = ("import resource; from grutool import memory; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, resource.RLIM_INFINITY)); "
            "print(memory.shortfall(2 * 2**30)); print(memory.shortfall(2**20))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert "address-space limit (ulimit -v) of 1.5 GiB" in out[0]
    assert out[1] == "None"
    assert memory.available_ram() is None or memory.available_ram() > 0
