"""What grutool fetches to read the ~2 GB checkpoint of bench_tf_checkpoint.py over HTTP.

    python benchmarks/bench_remote.py [--runs 3]

Serves benchmarks/data/tf_checkpoint/ (written by TensorFlow once, see bench_tf_checkpoint.py)
from tests/range_server.py, a real HTTP server on 127.0.0.1 that honours Range and logs the
body bytes it sends. Each command runs in a fresh process; the table gives the median wall
time and the bytes transferred beside the same command on the local files, and beside what
reading it without range requests costs: downloading the whole checkpoint first.

Targets (issue 16): `inspect --no-stats` transfers <= 64 KiB; `inspect` and `split` transfer
<= 1.1 x the GRU tensors' bytes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_tf_checkpoint import CELLS, DATA, GRUTOOL, INPUTS, PREFIX, UNITS, child_env, write_checkpoint  # noqa: E402
from range_server import RangeServer  # noqa: E402

# Per cell: gates kernel [I+H, 2H] and bias [2H], candidate kernel [I+H, H] and bias [H], float32.
GRU_BYTES = CELLS * 4 * ((INPUTS + UNITS) * 3 * UNITS + 3 * UNITS)


def timed(command: list[str], runs: int, server: RangeServer | None) -> tuple[float, int]:
    """Median wall time of `command` over `runs` fresh processes, and the bytes the server sent
    for one run."""
    env = child_env()
    times, sent = [], 0
    for run in range(runs):
        if server is not None:
            server.log.clear()
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
        if server is not None and run == 0:
            sent = server.log.bytes_sent
    return statistics.median(times), sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    write_checkpoint()
    local = str(PREFIX)
    total = sum(p.stat().st_size for p in DATA.iterdir() if p.name.startswith(PREFIX.name))
    rows = []
    with RangeServer(DATA) as server, tempfile.TemporaryDirectory() as scratch:
        url = server.url(PREFIX.name)
        out = Path(scratch) / "w.npz"
        commands = {
            "inspect --no-stats --json": ["inspect", "--no-stats", "--json"],
            "inspect --json": ["inspect", "--json"],
            "split --out w.npz --force": ["split", "--out", str(out), "--force"],
        }
        for label, arguments in commands.items():
            remote_time, sent = timed([*GRUTOOL, arguments[0], url, *arguments[1:]], args.runs, server)
            local_time, _ = timed([*GRUTOOL, arguments[0], local, *arguments[1:]], args.runs, None)
            rows.append((label, remote_time, local_time, sent))
        # Without range requests: download the checkpoint, then inspect the local copy.
        download = Path(scratch) / "download"
        fetch = ("import fsspec, sys; fsspec.filesystem('http').get(sys.argv[1], sys.argv[2], "
                 "recursive=False)")
        start = time.perf_counter()
        download.mkdir()
        for part in sorted(p.name for p in DATA.iterdir() if p.name.startswith(PREFIX.name)):
            subprocess.run([sys.executable, "-c", fetch, server.url(part), str(download / part)],
                           check=True, env=child_env())
        subprocess.run([*GRUTOOL, "inspect", "--no-stats", "--json", str(download / PREFIX.name)],
                       check=True, capture_output=True, env=child_env())
        download_time = time.perf_counter() - start
        shutil.rmtree(download)

    print(f"checkpoint: {total / 2**30:.2f} GiB in {len(list(DATA.iterdir()))} files; "
          f"GRU tensors {GRU_BYTES / 2**20:.2f} MiB; medians of {args.runs} fresh processes\n")
    print("| command | over HTTP | local | transferred | target |")
    print("|---|---|---|---|---|")
    for label, remote_time, local_time, sent in rows:
        if "no-stats" in label:
            target, met = "≤ 64 KiB", sent <= 64 * 1024
        else:
            target, met = f"≤ {1.1 * GRU_BYTES / 2**20:.2f} MiB", sent <= 1.1 * GRU_BYTES
        print(f"| `{label}` | {remote_time:.3f} s | {local_time:.3f} s | "
              f"{sent / 1024:,.1f} KiB | {target} {'met' if met else 'NOT MET'} |")
    print(f"| download whole + `inspect --no-stats` | {download_time:.2f} s | – | "
          f"{total / 2**20:,.0f} MiB | – |")


if __name__ == "__main__":
    main()
