"""Hostile and broken inputs: a clear one-line error, the right exit code, nothing executed,
no runaway allocation, and no output left behind.

Every case of tests/hostile/corpus/manifest.json (made by tests/hostile/make_corpus.py) is
inspected, and a sample split, through the real CLI in one subprocess whose address space is
capped, so that a reader trying to allocate what a header claims fails the test instead of
exhausting the machine. Each case still gets its own working folder, exit code, stdout and
stderr.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_capped

CORPUS = Path(__file__).parent / "hostile" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
ADDRESS_SPACE_LIMIT = 4 * 2**30
TIMEOUT_SECONDS = 20
# The split sample: one case per reader family, each must leave no output behind.
SPLIT_SAMPLE = ["tf_data_bitflip_kernel", "npz_member_huge_shape", "h5_virtual_dataset",
                "safetensors_offsets_beyond", "pt_pickle_runs_code", "keras_config_garbage",
                "onnx_external_escape", "npz_zip_bomb"]


def run_cases(cases: list[dict]) -> dict[str, subprocess.CompletedProcess]:
    return run_capped(cases, ADDRESS_SPACE_LIMIT, TIMEOUT_SECONDS)


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
def runs(tmp_path_factory):
    """Every case inspected, and the split sample split, in one capped run; each in its own
    working folder. "inspect" | "split" -> case -> (spec, result, working folder)."""
    folders = {(command, case): tmp_path_factory.mktemp(f"{command}-{case}")
               for command, cases in (("inspect", MANIFEST), ("split", SPLIT_SAMPLE))
               for case in cases}
    cases = [{"case": f"{command}:{case}", "cwd": str(folder),
              "args": [command, str(CORPUS / MANIFEST[case]["path"]),
                       *(["--out", str(folder / "out.npz")] if command == "split" else [])]}
             for (command, case), folder in folders.items()]
    results = run_cases(cases)
    found: dict[str, dict] = {"inspect": {}, "split": {}}
    for (command, case), folder in folders.items():
        found[command][case] = (MANIFEST[case], results[f"{command}:{case}"], folder)
    return found


@pytest.fixture(scope="module")
def inspect_results(runs):
    """Every case inspected once; case -> (spec, result, working folder)."""
    return runs["inspect"]


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


def test_split_of_hostile_inputs_leaves_nothing(runs):
    assert sorted(runs["split"]) == sorted(SPLIT_SAMPLE)
    for case, (spec, result, folder) in runs["split"].items():
        assert result.returncode == spec["exit"], (case, result.stderr)
        left = sorted(p.name for p in folder.iterdir())
        assert left == [], f"{case} left {left}"
