"""grutool's own safetensors reader and writer beside the `safetensors` package's, measured.

    python benchmarks/bench_safetensors.py

Writes and reads 4 cells of I = H = 2048 float32 (96 MiB of arrays per cell, 384 MiB in all)
in fresh processes and prints wall time and peak RSS of each route:

* write: `safetensors.numpy.save_file` takes every array at once (a dict), so the process
  holds the whole file's arrays; grutool's streaming writer takes one cell's arrays at a time
  (what `split` and `convert` hold).
* read: `safe_open(...).get_tensor` of every tensor, and grutool's reader; both read a local
  file. `safe_open` maps a local path: it cannot read a file object, so it cannot read
  through range requests (a checkpoint at a URL).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS, UNITS = 4, 2048
NAMES = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")

CELL = f"""
import numpy as np
def cell(k):
    rng = np.random.default_rng(k)
    return {{f"cell_{{k}}/{{n}}": rng.standard_normal(({UNITS}, {UNITS}) if n.startswith("W")
             else ({UNITS},), dtype=np.float32) for n in {NAMES!r}}}
"""
ROUTES = {
    "write: safetensors.numpy.save_file (all arrays at once)": CELL + f"""
from safetensors.numpy import save_file
arrays = {{}}
for k in range({CELLS}):
    arrays.update(cell(k))
save_file(arrays, OUT)
""",
    "write: grutool's streaming writer (one cell at a time)": CELL + f"""
from pathlib import Path
from grutool.writers import array_writer
with array_writer(Path(OUT)) as writer:
    for k in range({CELLS}):
        for name, array in cell(k).items():
            writer.add(name, array)
        del array
    writer.finish({{}})
""",
    "read: safetensors safe_open + get_tensor": """
from safetensors import safe_open
with safe_open(OUT, framework="numpy") as f:
    total = sum(float(f.get_tensor(name).sum()) for name in f.keys())
""",
    "read: grutool's reader": """
from pathlib import Path
from grutool.readers.safetensors import open as open_safetensors
with open_safetensors(Path(OUT)) as source:
    total = sum(float(source.read(name).sum()) for name in source.infos)
""",
}


def run(code: str, out: str) -> tuple[float, float]:
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "subprocess.run(sys.argv[1:], check=True); "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-c",
                             f"OUT = {out!r}\n" + code], check=True, capture_output=True, text=True)
    wall, rss = result.stdout.split()
    return float(wall), int(rss) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "cells.safetensors")
        print(f"{CELLS} cells of {UNITS} units, {CELLS * 6 * UNITS * UNITS * 4 // 2**20} MiB of float32 arrays\n")
        print("| route | wall (s) | peak RSS (MiB) |\n|---|---:|---:|")
        for label, code in ROUTES.items():
            wall, rss = run(code, out)
            print(f"| {label} | {wall:.2f} | {rss:.0f} |")
            time.sleep(0.1)


if __name__ == "__main__":
    main()
