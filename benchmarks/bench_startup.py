"""What a fresh `grutool inspect` process costs on a small file, bfloat16 beside float32.

A bfloat16 tensor makes grutool import ml_dtypes, whose import time depends on its release
(0.7.0 took 0.9 s beside NumPy 2.4, 0.6.0 0.1 s): this shows what a user pays for it.

    python benchmarks/bench_startup.py [--runs 5]

Prints the median wall time and peak RSS (from /usr/bin/time) of each route, and the time
to import ml_dtypes alone in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

GATES = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")
UNITS = 64


def write_safetensors(path: Path, dtype: str) -> None:
    """One canonical GRU cell (grutool's own names) in `dtype` ("BF16" or "F32"), written
    by hand so that no framework is needed."""
    rng = np.random.default_rng(0)
    header: dict[str, object] = {}
    blobs = []
    offset = 0
    for gate in GATES:
        values = rng.standard_normal((UNITS, UNITS)).astype(np.float32)
        # bfloat16: the upper half of each float32 (truncation is fine for a benchmark).
        data = ((values.view(np.uint32) >> 16).astype(np.uint16).tobytes() if dtype == "BF16"
                else values.tobytes())
        header[f"cell/{gate}"] = {"dtype": dtype, "shape": [UNITS, UNITS],
                                  "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def timed(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run, measured by /usr/bin/time."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True,
                          text=True, check=True)
    wall, rss = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import ml_dtypes

    print(f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}")
    grutool = [sys.executable, "-m", "grutool"]
    with tempfile.TemporaryDirectory() as folder:
        routes = {"import ml_dtypes": [sys.executable, "-c", "import ml_dtypes"]}
        for dtype in ("F32", "BF16"):
            path = Path(folder) / f"{dtype.lower()}.safetensors"
            write_safetensors(path, dtype)
            routes[f"inspect {dtype}"] = [*grutool, "inspect", str(path)]
        for label, command in routes.items():
            runs = [timed(command) for _ in range(args.runs)]
            wall = statistics.median(run[0] for run in runs)
            rss = statistics.median(run[1] for run in runs)
            print(f"{label:18} {wall:6.2f} s  {rss / 1024:6.1f} MiB")


if __name__ == "__main__":
    main()
