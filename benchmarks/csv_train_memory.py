"""`softgrad train` on a large CSV file: the whole process's peak memory against the file's size,
and how fast the file loads.

    python benchmarks/csv_train_memory.py                # the tall file, 3 runs
    python benchmarks/csv_train_memory.py --runs 1 --shapes tall wide

The file is generated in a temporary folder as benchmarks/csv_load.py writes it (tall: 200,000 x
50, ~85 MB; wide: 2,000 x 5,000, ~85 MB; 5-decimal random normal features, an integer label
0..9 last). Each run is a fresh interpreter running `softgrad train --data FILE --epochs 1
--quiet` (`softgrad.cli.main`, what `python -m softgrad` runs) with hooks that note the resident
memory (VmRSS, and the high-water mark VmHWM, from /proc/self/status) after each stage: imports,
loading (timed: MB/s), the kernel lane (Numba and its first kernel), the scaler, the training
rows, fit and the report. The peak is the child's VmHWM at its end: the whole process,
interpreter and libraries included (not ``ru_maxrss``: Linux carries the parent's RSS at the
fork into it; `/usr/bin/time -v python -m softgrad train ...` gives the same peak within 2 MB).
Before the runs, one `softgrad train` on a tiny file fills the Numba cache, so every run loads
its kernels instead of compiling them; a first run after an install compiles them, which costs
more memory (--cold: one more run with an empty cache).

Target (issue 12): peak RSS at most 3x the file's size, loading at least 50 MB/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cli
from csv_load import SHAPES, generate

SRC = Path(__file__).resolve().parent.parent / "src"
MB = 1e6
STAGES = ("imports", "load", "kernels", "scaler", "training rows", "fit", "report")


def _memory() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def child(argv: list[str]) -> None:
    """Run `softgrad train argv` here, printing one JSON line of stage memory and load time."""
    import time

    import softgrad.cli as cli
    import softgrad.cli.train  # the command's own imports, before any stage
    import softgrad.kernels
    import softgrad.training
    from softgrad.cli import progress, ranks, train_report
    from softgrad.datasets.dataset import Dataset

    stages = {"imports": _memory()}
    timing = {}

    def hook(owner, name, stage, once=False):
        real = getattr(owner, name)

        def run(*args, **kwargs):
            start = time.perf_counter()
            out = real(*args, **kwargs)
            if stage not in stages or not once:
                stages[stage] = _memory()
                timing[stage] = time.perf_counter() - start
            return out

        setattr(owner, name, run)

    hook(progress, "load_data_with_progress", "load")
    hook(softgrad.kernels, "get_ops", "kernels", once=True)
    hook(Dataset, "fit_scaler", "scaler")
    hook(ranks, "training_rows", "training rows")
    hook(softgrad.training, "fit", "fit")
    hook(train_report, "report", "report")  # looked up there by the command at each run
    code = cli.main(["train", *argv])
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork into a child's ru_maxrss
    peak = _memory()["VmHWM"]  # the whole process
    print(json.dumps({"code": code, "stages": stages, "load_s": timing["load"], "peak": peak}))


def run_once(path: Path, out: Path, env: dict[str, str]) -> dict:
    argv = ["--data", str(path), "--epochs", "1", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"csv_train_memory: softgrad train failed on {path.name}: {last}")
    return json.loads(stdout.strip().splitlines()[-1])


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def report(name: str, path: Path, results: list[dict]) -> None:
    size = path.stat().st_size
    n, d = SHAPES[name]
    peaks = [r["peak"] for r in results]
    speeds = [size / MB / r["load_s"] for r in results]
    print(
        f"| {n:,} x {d:,} | {size / MB:.1f} MB | {statistics.median(peaks) / MB:.0f} MB "
        f"({min(peaks) / MB:.0f}-{max(peaks) / MB:.0f}) | {statistics.median(peaks) / size:.2f} | "
        f"{statistics.median(speeds):.1f} ({max(speeds):.1f}) |"
    )
    stages = results[peaks.index(sorted(peaks)[len(peaks) // 2])]["stages"]
    print(f"\nstages of the median run ({n:,} x {d:,}): RSS after each, high-water mark so far")
    for stage in STAGES:
        if stage in stages:
            s = stages[stage]
            print(f"    {stage:14s} RSS {s['VmRSS'] / MB:6.0f} MB   peak {s['VmHWM'] / MB:6.0f} MB")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = bench_cli.Parser(prog="csv_train_memory.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=bench_cli.positive_int, default=3)
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["tall"])
    parser.add_argument(
        "--cold", action="store_true", help="one more run with an empty Numba cache"
    )
    parser.add_argument(
        "--src", type=Path, default=SRC, help="softgrad source tree to run (before/after)"
    )
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    bench_cli.parse(parser, argv)
    if not (args.src / "softgrad" / "__init__.py").is_file():
        parser.error(f"argument --src: {str(args.src)!r} must hold a softgrad package")
    print(bench_cli.header(), flush=True)
    paths = [str(args.src), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    print(f"softgrad from {args.src}; load before: {_uptime()}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        tiny = folder / "tiny.csv"
        tiny.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(50)))
        run_once(tiny, folder / "m.npz", env)  # fills the Numba cache: the runs load kernels
        print("| file | size | peak RSS median (range) | peak/size | load MB/s median (best) |")
        print("|---|---|---|---|---|")
        for name in args.shapes:
            path = folder / f"{name}.csv"
            generate(path, *SHAPES[name])
            results = [run_once(path, folder / "m.npz", env) for _ in range(args.runs)]
            report(name, path, results)
            if args.cold:
                cache = folder / f"numba-cache-{name}"  # empty: every kernel compiles
                cold = run_once(path, folder / "m.npz", {**env, "NUMBA_CACHE_DIR": str(cache)})
                size = path.stat().st_size
                print(
                    f"cold Numba cache: peak {cold['peak'] / MB:.0f} MB "
                    f"({cold['peak'] / size:.2f}x the file)\n"
                )
            path.unlink()
    print(f"load after: {_uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
