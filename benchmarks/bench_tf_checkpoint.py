"""How much faster grutool reads a large TF checkpoint than TensorFlow does.

    python benchmarks/bench_tf_checkpoint.py [--runs 5]

Once, writes with TensorFlow into benchmarks/data/ (git-ignored) a ~2 GB checkpoint: 240 filler
tensors of 8 MiB and an 8-cell MultiRNNCell of TF 1 GRUCells under
encoder/rnn/multi_rnn_cell/cell_K/gru_cell. Then times each command in fresh processes (the page
cache is warm after the first run, as it is for a user who inspects a file twice) and prints a
markdown table of medians, the ratios against the targets, and grutool inspect's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tf_route import tf_split_script

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "tf_checkpoint"
PREFIX = DATA / "model.ckpt"
GRUTOOL = [sys.executable, "-m", "grutool.cli"] if shutil.which("grutool") is None \
    else [shutil.which("grutool")]
FILLERS, FILLER_SHAPE = 240, (2048, 1024)
CELLS, UNITS, INPUTS = 8, 256, 256
CELL_SCOPE = "encoder/rnn/multi_rnn_cell/cell_{k}/gru_cell"
TARGETS = {"inspect vs TF": 15.0, "inspect vs import numpy": 1.5, "split vs TF": 9.0}
PEAK_RSS_TARGET_MIB = 60

# What a TensorFlow user would write to do what `grutool split` does.
TF_SPLIT = tf_split_script(CELLS, CELL_SCOPE)


def write_checkpoint() -> None:
    if PREFIX.with_name(PREFIX.name + ".index").is_file():
        return
    print(f"writing {PREFIX} with TensorFlow (once)...", file=sys.stderr)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names, tensors = [], []
    block = rng.standard_normal(FILLER_SHAPE, dtype=np.float32)
    for k in range(FILLERS):
        names.append(f"decoder/layer_{k:03d}/dense/kernel")
        tensors.append(tf.constant(block + np.float32(k)))
    for k in range(CELLS):
        scope = CELL_SCOPE.format(k=k)
        rows = INPUTS + UNITS
        for suffix, shape in (("gates/kernel", (rows, 2 * UNITS)), ("gates/bias", (2 * UNITS,)),
                              ("candidate/kernel", (rows, UNITS)), ("candidate/bias", (UNITS,))):
            names.append(f"{scope}/{suffix}")
            tensors.append(tf.constant(rng.standard_normal(shape, dtype=np.float32) * 0.1))
    names.append("global_step")
    tensors.append(tf.constant(np.int64(1000)))
    tf.raw_ops.SaveV2(prefix=str(PREFIX), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)


def child_env() -> dict[str, str]:
    """The environment of an ordinary user: bytecode caches written and used. (Some sandboxes
    set PYTHONDONTWRITEBYTECODE, which would recompile grutool's editable sources on every
    run while numpy and TensorFlow use the caches pip wrote at install time.)"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_runs(command: list[str], runs: int) -> float:
    """Median wall time of `command` in fresh processes, after one warm-up run."""
    env = child_env()
    subprocess.run(command, check=True, capture_output=True, env=env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mib(command: list[str]) -> float:
    """Peak RSS of `command` alone: measured from a wrapper process whose only child it is."""
    wrapper = ("import resource, subprocess, sys; "
               "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, *command], check=True,
                         capture_output=True, text=True, env=child_env()).stdout
    return int(out.strip()) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    write_checkpoint()
    size = sum(f.stat().st_size for f in DATA.iterdir() if f.name.startswith(PREFIX.name))
    prefix = str(PREFIX)
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "grutool inspect --json": [*GRUTOOL, "inspect", prefix, "--json"],
            "TF list_variables": [sys.executable, "-c",
                                  "import sys, tensorflow as tf; tf.train.list_variables(sys.argv[1])",
                                  prefix],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
            "grutool split --out x.npz": [*GRUTOOL, "split", prefix, "--out",
                                          str(Path(tmp) / "grutool.npz"), "--force"],
            "TF load_checkpoint + split": [sys.executable, "-c", TF_SPLIT, prefix,
                                           str(Path(tmp) / "tf.npz")],
        }
        medians = {label: time_runs(command, args.runs) for label, command in commands.items()}
        rss = peak_rss_mib(commands["grutool inspect --json"])
    ratios = {
        "inspect vs TF": medians["TF list_variables"] / medians["grutool inspect --json"],
        "inspect vs import numpy": medians["grutool inspect --json"]
        / medians["python -c 'import numpy'"],
        "split vs TF": medians["TF load_checkpoint + split"] / medians["grutool split --out x.npz"],
    }
    print(f"Checkpoint: {size / 2**30:.2f} GiB, {FILLERS + 4 * CELLS + 1} tensors, "
          f"{CELLS} GRU cells; median of {args.runs} fresh-process runs\n")
    print("| command | median (s) |\n|---|---:|")
    for label, seconds in medians.items():
        print(f"| `{label}` | {seconds:.3f} |")
    print("\n| measure | value | target | met |\n|---|---:|---:|:-:|")
    for label, value in ratios.items():
        target = TARGETS[label]
        met = value <= target if label == "inspect vs import numpy" else value >= target
        sign = "≤" if label == "inspect vs import numpy" else "≥"
        print(f"| {label} | {value:.2f}× | {sign} {target}× | {'yes' if met else 'NO'} |")
    print(f"| grutool inspect peak RSS | {rss:.1f} MiB | ≤ {PEAK_RSS_TARGET_MIB} MiB | "
          f"{'yes' if rss <= PEAK_RSS_TARGET_MIB else 'NO'} |")


if __name__ == "__main__":
    main()
