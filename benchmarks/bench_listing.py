"""How long opening a file takes, per reader: `open_source` (list every tensor's name, shape
and dtype, read the format's own metadata), then recognising its GRU cells, over every
committed test fixture that the installed packages can read.

    python benchmarks/bench_listing.py [--rounds 10]

Prints, per file suffix, the number of fixtures and the mean milliseconds of each step. Every
command starts this way, and the test suite opens fixtures many hundreds of times.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

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
    args = parser.parse_args()
    files = fixture_files()
    opening: dict[str, list[float]] = defaultdict(list)
    recognising: dict[str, list[float]] = defaultdict(list)
    options = ReadingOptions.make(None, None, None)
    for _ in range(args.rounds):
        for path in files:
            kind = path.suffix or "TF checkpoint"
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
        count = len(opening[kind]) // args.rounds
        mean_open = 1000 * sum(opening[kind]) / len(opening[kind])
        mean_cells = 1000 * sum(recognising[kind]) / len(recognising[kind])
        print(f"{kind:16} {count:5d} {mean_open:8.2f} {mean_cells:13.2f}")


if __name__ == "__main__":
    main()
