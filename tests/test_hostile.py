"""Hostile and broken inputs: a clear one-line error, the right exit code, nothing executed,
no runaway allocation, and no output left behind.

Every case of tests/hostile/corpus/manifest.json (made by tests/hostile/make_corpus.py) is
run through the real CLI in a subprocess whose address space is capped, so that a reader
trying to allocate what a header claims fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "hostile" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
ADDRESS_SPACE_LIMIT = 4 * 2**30
TIMEOUT_SECONDS = 20
WORKERS = max(2, min(8, (os.cpu_count() or 2) * 2))
# The split sample: one case per reader family, each must leave no output behind.
SPLIT_SAMPLE = ["tf_data_bitflip_kernel", "npz_member_huge_shape", "h5_virtual_dataset",
                "safetensors_offsets_beyond", "pt_pickle_runs_code", "keras_config_garbage",
                "onnx_external_escape", "npz_zip_bomb"]


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        return subprocess.run([sys.executable, "-m", "grutool.cli", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                              preexec_fn=_limit_child)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, -999, exc.stdout or "",
                                           f"TIMEOUT after {TIMEOUT_SECONDS}s")


def problems_of(case: str, spec: dict, result: subprocess.CompletedProcess, cwd: Path) -> list[str]:
    found = []
    if result.returncode != spec["exit"]:
        found.append(f"exit {result.returncode}, expected {spec['exit']}")
    lines = result.stderr.splitlines()
    if len(lines) != 1 or not lines[0].strip():
        found.append(f"stderr has {len(lines)} lines")
    elif not lines[0].startswith("grutool: "):
        found.append("stderr does not start with 'grutool: '")
    elif spec["name_in_error"] not in lines[0]:
        found.append(f"stderr does not name {spec['name_in_error']}")
    if "Traceback" in result.stderr or "Traceback" in result.stdout:
        found.append("a traceback")
    if "internal error" in result.stderr:
        found.append("an internal error")
    if spec["marker"] and any(cwd.glob(spec["marker"] + "*")):
        found.append("the pickle RAN: its marker file exists")
    return [f"{case}: {p} | {result.stderr.strip()[:300]!r}" for p in found]


@pytest.fixture(scope="module")
def inspect_results(tmp_path_factory):
    """Every case inspected once, in parallel; case -> (spec, result, working folder)."""
    def one(case: str):
        cwd = tmp_path_factory.mktemp(case)
        spec = MANIFEST[case]
        return case, spec, run_cli(["inspect", str(CORPUS / spec["path"])], cwd), cwd

    with ThreadPoolExecutor(WORKERS) as pool:
        return {case: (spec, result, cwd) for case, spec, result, cwd in pool.map(one, MANIFEST)}


def test_corpus_is_big_and_small_enough():
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert len(MANIFEST) >= 50
    assert sum(p.stat().st_size for p in files) < 2**20
    for spec in MANIFEST.values():
        assert spec["exit"] in (1, 2)
        assert (CORPUS / spec["path"]).exists() or (CORPUS / (spec["path"] + ".index")).exists()


def test_every_case_fails_cleanly(inspect_results):
    problems = [problem for case, (spec, result, cwd) in sorted(inspect_results.items())
                for problem in problems_of(case, spec, result, cwd)]
    assert not problems, "\n".join(problems)


def test_code_carrying_files_never_run(inspect_results):
    pickles = [case for case, spec in MANIFEST.items() if spec["marker"]]
    assert len(pickles) >= 4
    for case in pickles:
        spec, result, cwd = inspect_results[case]
        assert not list(cwd.iterdir()), f"{case} left files in the working folder"
        assert not Path(spec["marker"]).exists()


def test_split_of_hostile_inputs_leaves_nothing(tmp_path):
    def one(case: str):
        folder = tmp_path / case
        folder.mkdir()
        out = folder / "out.npz"
        result = run_cli(["split", str(CORPUS / MANIFEST[case]["path"]), "--out", str(out)],
                         folder)
        return case, result, sorted(p.name for p in folder.iterdir())

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(one, SPLIT_SAMPLE))
    for case, result, left in outcomes:
        assert result.returncode == MANIFEST[case]["exit"], (case, result.stderr)
        assert left == [], f"{case} left {left}"
