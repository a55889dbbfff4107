"""Wall time and peak memory of grutool on wide cells, many cells, and at start-up, beside
TensorFlow doing the same in the same run.

    python benchmarks/bench_scale.py [--runs 3] [--only wide|many|startup]

* wide: the checkpoint of `wide_checkpoint.py` (a 4-layer MultiRNNCell of TF 1 GRUCells,
  I = H = 2048, 384 MiB of GRU weights), written once with TensorFlow. Each command runs in
  a fresh process (warm page cache, as for a user who reads a file twice); its wall time and
  its peak RSS (`getrusage(RUSAGE_CHILDREN).ru_maxrss` of a wrapper whose only child it is)
  are the median over the runs. TensorFlow's naive route, `load_checkpoint` + `get_tensor` +
  `np.savez` of the split arrays, runs in the same loop.
* many: 2000 small cells (a MultiRNNCell of 2000 GRUCells of 8 units), `inspect` printed
  to a pipe and `--json`.
* startup: `grutool --help` against `python -c "import click"`.
* proof: the numerical check of one cell of 256, 1024 and 2048 units, wall and CPU time.

Prints markdown tables and the issue's targets, met or not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tf_route import tf_split_script  # noqa: E402
from wide_checkpoint import CELL_SCOPE, LAYERS, write_checkpoint  # noqa: E402

MANY = HERE / "data" / "many" / "model.ckpt"
MANY_CELLS, MANY_UNITS = 2000, 8
GRUTOOL = [sys.executable, "-m", "grutool.cli"] if shutil.which("grutool") is None \
    else [shutil.which("grutool")]

# What a TensorFlow user would write to do what `grutool split` does.
TF_SPLIT = tf_split_script(LAYERS, CELL_SCOPE)

# Runs one command as its only child; prints its wall time and peak RSS (KiB).
WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
result = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
if result.returncode not in (0,):
    sys.stderr.write(result.stderr.decode(errors="replace"))
    sys.exit(result.returncode)
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def child_env() -> dict[str, str]:
    """An ordinary user's environment: bytecode caches written and used."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(command: list[str], runs: int, cleanup: Path | None = None) -> tuple[float, float]:
    """Median wall time (s) and median peak RSS (MB, 10^6 bytes) of `command` over `runs` fresh
    processes, after one warm-up run. `cleanup`: a file the command writes, removed after
    each run so that the next one writes it anew."""
    walls, peaks = [], []
    for index in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True,
                             text=True, env=child_env())
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr}")
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)
        if index:  # the first run warms the page cache
            wall, peak = out.stdout.split()
            walls.append(float(wall))
            peaks.append(int(peak) * 1024 / 1e6)  # ru_maxrss is in KiB on Linux
    return statistics.median(walls), statistics.median(peaks)


def table(rows: list[tuple[str, float, float, str]]) -> None:
    print("| command | wall (s) | peak RSS (MB) | target |\n|---|---:|---:|---|")
    for label, wall, peak, target in rows:
        print(f"| {label} | {wall:.2f} | {peak:.0f} | {target} |")


def bench_wide(runs: int) -> None:
    prefix = str(write_checkpoint())
    with tempfile.TemporaryDirectory(dir=HERE / "data") as folder:
        out = Path(folder)
        commands = [
            ("`grutool inspect --json`", [*GRUTOOL, "inspect", prefix, "--json"], None, 200),
            ("`grutool split --out w.npz`", [*GRUTOOL, "split", prefix, "--out",
                                             str(out / "w.npz")], out / "w.npz", 250),
            ("`grutool convert --to keras --out k.npz`",
             [*GRUTOOL, "convert", prefix, "--to", "keras", "--out", str(out / "k.npz")],
             None, 450),
            ("`grutool convert --to tf --out t.safetensors`",
             [*GRUTOOL, "convert", prefix, "--to", "tf", "--out", str(out / "t.safetensors")],
             out / "t.safetensors", 450),
            ("`grutool convert --to onnx --out o.onnx`",
             [*GRUTOOL, "convert", prefix, "--to", "onnx", "--out", str(out / "o.onnx")],
             out / "o.onnx", 450),
            ("`grutool convert --to pytorch --allow-inexact --out p.safetensors`",
             [*GRUTOOL, "convert", prefix, "--to", "pytorch", "--allow-inexact", "--out",
              str(out / "p.safetensors")], out / "p.safetensors", 450),
            ("`grutool verify CKPT k.npz`", [*GRUTOOL, "verify", prefix, str(out / "k.npz")],
             None, 450),
            ("TensorFlow: `load_checkpoint` + `get_tensor` + `np.savez`",
             [sys.executable, "-c", TF_SPLIT, prefix, str(out / "tf.npz")], out / "tf.npz",
             None),
        ]
        rows = []
        results = {}
        for label, command, cleanup, _ in commands:
            if "--to keras" in label:
                # verify reads this file: write it once, then time the conversion over it
                (out / "k.npz").unlink(missing_ok=True)
                command = [*command, "--force"]
            results[label] = measure(command, runs, cleanup)
            print(f"  {label}: {results[label][0]:.2f} s, {results[label][1]:.0f} MB",
                  file=sys.stderr)
        tf_wall = results[commands[-1][0]][0]
        for label, _command, _, limit in commands:
            wall, peak = results[label]
            if limit is None:
                target = "the route to beat"
            else:
                met = peak <= limit and ("convert" not in label or wall <= tf_wall)
                target = (f"≤ {limit} MB" + (", wall ≤ TF's" if "convert" in label else "")
                          + (" — met" if met else " — NOT met"))
            rows.append((label, wall, peak, target))
    size = sum(f.stat().st_size for f in Path(prefix).parent.iterdir())
    print(f"\nWide checkpoint: {size / 2**20:.0f} MiB, {LAYERS} TF 1 GRUCells of I = H = 2048; "
          f"median of {runs} fresh processes\n")
    table(rows)


def write_many() -> str:
    if not MANY.with_name(MANY.name + ".index").is_file():
        print(f"writing {MANY} with TensorFlow (once)...", file=sys.stderr)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import numpy as np
        import tensorflow as tf

        MANY.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        names, tensors = [], []
        rows = 2 * MANY_UNITS
        for k in range(MANY_CELLS):
            scope = CELL_SCOPE.format(k=k)
            for suffix, shape in (("gates/kernel", (rows, 2 * MANY_UNITS)),
                                  ("gates/bias", (2 * MANY_UNITS,)),
                                  ("candidate/kernel", (rows, MANY_UNITS)),
                                  ("candidate/bias", (MANY_UNITS,))):
                names.append(f"{scope}/{suffix}")
                tensors.append(tf.constant(rng.standard_normal(shape, dtype=np.float32) * 0.1))
        tf.raw_ops.SaveV2(prefix=str(MANY), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=tensors)
    return str(MANY)


def bench_many(runs: int) -> None:
    prefix = write_many()
    rows = []
    for label, command in (("`grutool inspect` (tables, to a pipe)", [*GRUTOOL, "inspect", prefix]),
                           ("`grutool inspect --json`", [*GRUTOOL, "inspect", prefix, "--json"])):
        wall, peak = measure(command, runs)
        target = ("≤ 2 s — " + ("met" if wall <= 2 else "NOT met")) if "tables" in label else ""
        rows.append((label, wall, peak, target))
    print(f"\n{MANY_CELLS} cells of {MANY_UNITS} units ({4 * MANY_CELLS} tensors); median of "
          f"{runs} fresh processes\n")
    table(rows)


def bench_startup(runs: int) -> None:
    """Interleaved runs (click, --help, --version, click, ...), so that a busy machine weighs
    on each command alike; medians of the wall times."""
    runs = max(runs, 21)
    commands = {"`python -c 'import click'`": [sys.executable, "-c", "import click"],
                "`grutool --help`": [*GRUTOOL, "--help"],
                "`grutool --version`": [*GRUTOOL, "--version"]}
    walls: dict[str, list[float]] = {label: [] for label in commands}
    for index in range(runs + 1):
        for label, command in commands.items():
            out = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True,
                                 text=True, env=child_env(), check=True)
            if index:
                walls[label].append(float(out.stdout.split()[0]))
    medians = {label: statistics.median(values) for label, values in walls.items()}
    base = medians["`python -c 'import click'`"]
    print(f"\nStart-up; median of {runs} interleaved fresh processes\n")
    print("| command | wall (s) | ratio to `python -c 'import click'` |\n|---|---:|---:|")
    for label, wall in medians.items():
        target = " (target ≤ 1.3)" if "help" in label else ""
        print(f"| {label} | {wall:.3f} | {wall / base:.2f}{target} |")


PROOF = """
import sys, time
import numpy as np
from grutool.cells import GruCell, GruModule
from grutool.verify import compare_modules
units = int(sys.argv[1])
rng = np.random.default_rng(0)
scale = 1 / np.sqrt(units)
weights = {name: rng.uniform(-scale, scale, (units, units)).astype(np.float32)
           for name in ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")}
weights.update({name: rng.uniform(-scale, scale, units).astype(np.float32)
                for name in ("b_ir", "b_iz", "b_in")})
cell = GruCell("cell", "cell", 0, "forward", "tf-gru-cell", units, units, False, "float32", [])
module = GruModule("cell", [cell])
start, cpu = time.perf_counter(), time.process_time()
result, _ = compare_modules(module, lambda c: weights, module, lambda c: weights)
print(time.perf_counter() - start, time.process_time() - cpu, result.max_abs_error)
"""


def bench_proof(runs: int) -> None:
    """The numerical check of one cell, both sides, weights already in memory: wall and CPU
    time (all threads) in a fresh process, median over the runs."""
    print("\nThe check of one cell (both sides, sequences of 1, 7 and 23 steps); median of "
          f"{runs} fresh processes\n")
    print("| units (I = H) | wall (s) | CPU (s) | max abs difference |\n|---:|---:|---:|---:|")
    for units in (256, 1024, 2048):
        values = []
        for _ in range(runs):
            out = subprocess.run([sys.executable, "-c", PROOF, str(units)], capture_output=True,
                                 text=True, env=child_env(), check=True).stdout.split()
            values.append([float(v) for v in out])
        wall, cpu, error = (statistics.median(column) for column in zip(*values, strict=True))
        target = " (target: well under 1 s)" if units == 2048 else ""
        print(f"| {units} | {wall:.3f} | {cpu:.3f}{target} | {error:g} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["wide", "many", "startup", "proof"])
    args = parser.parse_args()
    for name, bench in (("startup", bench_startup), ("proof", bench_proof), ("many", bench_many),
                        ("wide", bench_wide)):
        if args.only in (None, name):
            bench(args.runs)


if __name__ == "__main__":
    main()
