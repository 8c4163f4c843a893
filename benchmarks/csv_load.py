"""CSV loading: speed (MB/s) and peak memory (RSS) against the file's size, one subprocess per run.

    python benchmarks/csv_load.py                 # softgrad, pandas and pyarrow; 3 runs each
    python benchmarks/csv_load.py --runs 1 --readers softgrad

Two files are generated in a temporary folder: 200,000 x 50 (tall, ~85 MB) and 2,000 x 5,000
(wide, ~85 MB), random normal features written with 5 decimals and an integer label column
(0..9) named ``label`` last. Each run is a fresh interpreter that imports its reader (softgrad's
then loads a 10-line file, so the lazy imports NumPy makes once per process are done), notes
its RSS, loads the file, and reports the wall time and its peak RSS (VmHWM). Readers:

``softgrad``
    ``softgrad.datasets.load_file``: what ``softgrad train --data FILE.csv`` runs (reading,
    the finiteness check, label encoding and the 20% split).
``softgrad-read``
    ``softgrad.datasets.csv.read_csv`` alone (the table, no checks or split).
``pandas``, ``pyarrow``
    ``pandas.read_csv`` (C engine) and ``pyarrow.csv.read_csv``, each turned into the same
    float64 (N, D) feature array; peers measured in the same run, skipped when not installed.

The targets (issue 12): at least 50 MB/s, and a peak of at most 3x the file's size. Two ratios
are printed: ``peak/size`` (the whole process, interpreter and libraries included) and
``(peak-imports)/size`` (what loading added). The machine is shared: the load (``uptime``) is
printed before and after, and each figure is the median of the runs (the best in brackets).
``MB per CPU-s`` divides by the process's CPU time instead of the wall time: what one core
reads when the machine is not shared (the readers use one thread; pyarrow uses more).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_cli
import numpy as np

READERS = ("softgrad", "softgrad-read", "pandas", "pyarrow")
SHAPES = {"tall": (200_000, 50), "wide": (2_000, 5_000)}
MB = 1e6


def generate(path: Path, n_samples: int, n_features: int, seed: int = 0) -> None:
    """A CSV of random normal features (5 decimals) and a last column ``label`` in 0..9."""
    rng = np.random.default_rng(seed)
    step = max(1, 2_000_000 // n_features)
    with open(path, "w") as f:
        f.write(",".join(f"f{j}" for j in range(n_features)) + ",label\n")
        for start in range(0, n_samples, step):
            rows = min(step, n_samples - start)
            block = np.column_stack(
                [rng.standard_normal((rows, n_features)), rng.integers(0, 10, rows)]
            )
            fmt = ",".join(["%.5f"] * n_features + ["%d"])
            np.savetxt(f, block, fmt=fmt)


def _high_water() -> int:
    """This process's peak RSS (VmHWM) in bytes. Not ``ru_maxrss``: Linux carries the parent's
    RSS at the fork into a child's, which hid what loading added under the parent's size."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def child(reader: str, path: str) -> None:
    """Load ``path`` with ``reader`` in this process; print one JSON line."""
    import time

    if reader == "pandas":
        import pandas as pd
    elif reader == "pyarrow":
        import pyarrow as pa
        import pyarrow.csv as pacsv
    else:
        from softgrad.datasets import load_file
        from softgrad.datasets.csv import read_csv

        # warm up on a tiny file: NumPy imports numpy.ma and numpy.random at their first use
        # (0.3 s under load), once per process, which is not the cost of reading the file
        tiny = Path(path).with_name("warm-up.csv")
        tiny.write_text("a,label\n" + "1,0\n2,1\n" * 5)
        load_file(tiny)
    imports = _high_water()
    start, cpu_start = time.perf_counter(), time.process_time()
    if reader == "softgrad":
        load_file(path)
    elif reader == "softgrad-read":
        read_csv(path, "bench")
    elif reader == "pandas":
        frame = pd.read_csv(path, dtype={"label": str}, engine="c")
        frame.drop(columns="label").to_numpy(np.float64)
    else:
        options = pacsv.ConvertOptions(column_types={"label": pa.string()})
        table = pacsv.read_csv(path, convert_options=options)
        X = np.empty((table.num_rows, table.num_columns - 1))
        for j, name in enumerate(n for n in table.column_names if n != "label"):
            X[:, j] = table.column(name).to_numpy()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _high_water()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": peak, "imports": imports}))


def _available(reader: str) -> bool:
    module = {"pandas": "pandas", "pyarrow": "pyarrow.csv"}.get(reader)
    if module is None:
        return True
    code = f"import {module}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def measure(reader: str, path: Path, runs: int) -> dict[str, float]:
    size = path.stat().st_size
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", reader, str(path)], capture_output=True, text=True
        )
        if out.returncode != 0:  # the child's last line names its error
            last = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise SystemExit(f"csv_load: {reader} failed on {path.name}: {last}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    speeds = [size / MB / r["seconds"] for r in results]
    cpu_speeds = [size / MB / r["cpu"] for r in results]
    peaks = [r["peak"] / size for r in results]
    added = [(r["peak"] - r["imports"]) / size for r in results]
    return {
        "mb_s": statistics.median(speeds),
        "mb_s_best": max(speeds),
        "mb_cpu_s": statistics.median(cpu_speeds),
        "peak_ratio": statistics.median(peaks),
        "added_ratio": statistics.median(added),
        "peak_mb": statistics.median(r["peak"] for r in results) / MB,
    }


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = bench_cli.Parser(prog="csv_load.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=bench_cli.positive_int, default=3, help="runs per reader")
    parser.add_argument("--readers", nargs="+", choices=READERS, default=list(READERS))
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    bench_cli.parse(parser, argv)
    print(bench_cli.header(), flush=True)
    print(f"load before: {_uptime()}")
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, (n, d) in SHAPES.items():
            paths[name] = Path(folder) / f"{name}.csv"
            generate(paths[name], n, d)
        print(
            "| file | size | reader | MB/s median (best) | MB per CPU-s | peak RSS | peak/size "
            "| (peak-imports)/size |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, path in paths.items():
            n, d = SHAPES[name]
            size = path.stat().st_size / MB
            for reader in args.readers:
                if not _available(reader):
                    print(f"| {n:,} x {d:,} | {size:.1f} MB | {reader} | not installed | | | | |")
                    continue
                r = measure(reader, path, args.runs)
                print(
                    f"| {n:,} x {d:,} | {size:.1f} MB | {reader} | {r['mb_s']:.1f} "
                    f"({r['mb_s_best']:.1f}) | {r['mb_cpu_s']:.1f} | {r['peak_mb']:.0f} MB | "
                    f"{r['peak_ratio']:.2f} | "
                    f"{r['added_ratio']:.2f} |",
                    flush=True,
                )
    print(f"load after: {_uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
