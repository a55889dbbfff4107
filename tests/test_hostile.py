"""Hostile and broken inputs: a clear one-line error, the right exit code, nothing executed,
no runaway allocation, and no output left behind.

Every case of tests/hostile/corpus/manifest.json (made by tests/hostile/make_corpus.py) is
run through the real CLI in one subprocess whose address space is capped, so that a reader
trying to allocate what a header claims fails the test instead of exhausting the machine.
Each case still gets its own working folder, exit code, stdout and stderr.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "hostile" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
ADDRESS_SPACE_LIMIT = 4 * 2**30
TIMEOUT_SECONDS = 20
RUNNER = Path(__file__).parent / "hostile" / "run_cases.py"
# The split sample: one case per reader family, each must leave no output behind.
SPLIT_SAMPLE = ["tf_data_bitflip_kernel", "npz_member_huge_shape", "h5_virtual_dataset",
                "safetensors_offsets_beyond", "pt_pickle_runs_code", "keras_config_garbage",
                "onnx_external_escape", "npz_zip_bomb"]


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_cases(cases: list[dict]) -> dict[str, subprocess.CompletedProcess]:
    """Run every case's command line in ONE capped subprocess (tests/hostile/run_cases.py);
    case -> its exit code, stdout and stderr, as if each had been its own `grutool` run."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(RUNNER)], input=json.dumps(cases), env=env,
                          capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS * len(cases) + 60, preexec_fn=_limit_child)
    results = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        results[record["case"]] = subprocess.CompletedProcess(
            ["grutool"], record["exit"], record["stdout"], record["stderr"])
    missing = [case["case"] for case in cases if case["case"] not in results]
    assert not missing, f"the runner stopped before {missing[:3]}: {done.stderr[-2000:]}"
    return results


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
    """Every case inspected once; case -> (spec, result, working folder)."""
    folders = {case: tmp_path_factory.mktemp(case) for case in MANIFEST}
    results = run_cases([{"case": case, "args": ["inspect", str(CORPUS / spec["path"])],
                          "cwd": str(folders[case])} for case, spec in MANIFEST.items()])
    return {case: (spec, results[case], folders[case]) for case, spec in MANIFEST.items()}


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
    cases = []
    for case in SPLIT_SAMPLE:
        folder = tmp_path / case
        folder.mkdir()
        cases.append({"case": case, "cwd": str(folder),
                      "args": ["split", str(CORPUS / MANIFEST[case]["path"]),
                               "--out", str(folder / "out.npz")]})
    results = run_cases(cases)
    for case in SPLIT_SAMPLE:
        result = results[case]
        assert result.returncode == MANIFEST[case]["exit"], (case, result.stderr)
        left = sorted(p.name for p in (tmp_path / case).iterdir())
        assert left == [], f"{case} left {left}"
