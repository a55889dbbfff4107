"""How long opening a file takes, per reader: `open_source` (list every tensor's name, shape
and dtype, read the format's own metadata), then recognising its GRU cells, over every
committed test fixture that the installed packages can read.

    python benchmarks/bench_listing.py [--rounds 10] [--many-arrays 8000]

Prints, per file suffix, the number of fixtures and the mean milliseconds of each step. Every
command starts this way, and the test suite opens fixtures many hundreds of times. With
--many-arrays N, also an `.npz` state dict of N small arrays (N/4 one-layer nn.GRUs), made
in a temporary folder: the listing of an archive whose members are many and small.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from grutool.errors import GrutoolError
from grutool.readers import checkpoints_in, open_source
from grutool.reading import ReadingOptions, read_cells

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def fixture_files() -> list[Path]:
    found = []
    for folder in sorted(p for p in FIXTURES.rglob("*") if p.is_dir() and "hostile" not in p.parts):
        for path in checkpoints_in(folder):
            try:
                with open_source(path):
                    found.append(path)
            except GrutoolError:
                pass  # a reader's extra is missing, or the fixture is damaged on purpose
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--many-arrays", type=int, default=0, metavar="N")
    args = parser.parse_args()
    files = fixture_files()
    if args.many_arrays:
        with tempfile.TemporaryDirectory() as folder:
            files.append(many_arrays(Path(folder) / "many_arrays.npz", args.many_arrays))
            report(files, args.rounds)
    else:
        report(files, args.rounds)


def many_arrays(path: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for index in range(count // 4):
        for kind in ("ih", "hh"):
            arrays[f"gru{index}.weight_{kind}_l0"] = rng.standard_normal((12, 4), dtype=np.float32)
            arrays[f"gru{index}.bias_{kind}_l0"] = rng.standard_normal(12, dtype=np.float32)
    np.savez(path, **arrays)
    return path


def report(files: list[Path], rounds: int) -> None:
    opening: dict[str, list[float]] = defaultdict(list)
    recognising: dict[str, list[float]] = defaultdict(list)
    options = ReadingOptions.make(None, None, None)
    for _ in range(rounds):
        for path in files:
            kind = path.name if path.name == "many_arrays.npz" else path.suffix or "TF checkpoint"
            start = time.perf_counter()
            source = open_source(path)
            listed = time.perf_counter()
            try:
                read_cells(source, options)
            except GrutoolError:
                pass
            finally:
                source.close()
            opening[kind].append(listed - start)
            recognising[kind].append(time.perf_counter() - listed)
    print(f"{'suffix':16} {'files':>5} {'open ms':>8} {'recognise ms':>13}")
    for kind in sorted(opening, key=lambda k: -sum(opening[k])):
        count = len(opening[kind]) // rounds
        mean_open = 1000 * sum(opening[kind]) / len(opening[kind])
        mean_cells = 1000 * sum(recognising[kind]) / len(recognising[kind])
        print(f"{kind:16} {count:5d} {mean_open:8.2f} {mean_cells:13.2f}")


if __name__ == "__main__":
    main()
