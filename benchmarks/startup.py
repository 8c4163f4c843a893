"""Cold and warm start: `import softgrad`, `softgrad --help`, `softgrad train` (digits) and
`softgrad evaluate` (the model train wrote).

    python benchmarks/startup.py            # 3 runs of each, medians
    python benchmarks/startup.py --quick    # 1 run of each

Every figure is the wall time of a fresh interpreter (`python -c ...` / `python -m softgrad ...`),
so it includes Python's own start. *Cold* means an empty Numba cache: NUMBA_CACHE_DIR points at
a new temporary folder, so every kernel the command calls compiles (the first run after an
install or an upgrade). *Warm* reuses that folder, so the kernels load from the disk cache (every
later run). The NumPy lane (SOFTGRAD_KERNELS=numpy) is the reference with nothing to compile;
`import softgrad` and `softgrad --help` never import Numba, so they have no cold case. For
`softgrad train` the table also gives the time inside `fit` (from `--json`'s time_s), where the
kernels compile (cold) or load from the cache (warm) at their first call.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cli
import machine

TRAIN = ["-m", "softgrad", "train", "--out", "model.npz", "--json"]

# (label, arguments after the interpreter, lanes to run it on, whether a cold start exists)
COMMANDS = [
    ("import softgrad", ["-c", "import softgrad"], ["default"], False),
    ("softgrad --help", ["-m", "softgrad", "--help"], ["default"], False),
    ("softgrad train", TRAIN, ["numba", "numpy"], True),
    # scores the model.npz a NumPy-lane `softgrad train` wrote first (untimed, compiling nothing):
    # a user's first evaluate compiles the inference kernels (bias + activation, softmax, the
    # cross-entropy rows)
    ("softgrad evaluate", ["-m", "softgrad", "evaluate", "--model", "model.npz"], ["numba"], True),
]
# commands that need a file another command writes: what to run before them, on the NumPy lane
SETUP = {"softgrad evaluate": TRAIN}


def wall_time(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float | None]:
    """Seconds from starting ``python argv`` to its exit (it must succeed), and the seconds
    inside ``fit`` when the command prints ``--json`` with time_s (else None)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"startup: {' '.join(argv)} failed:\n{done.stderr.decode()}")
    fit = json.loads(done.stdout)["time_s"] if "--json" in argv else None
    return seconds, fit


def _median(runs: list[tuple[float, float | None]]) -> tuple[float, float | None] | None:
    if not runs:
        return None
    fits = [fit for _, fit in runs if fit is not None]
    return statistics.median(w for w, _ in runs), (statistics.median(fits) if fits else None)


def measure(argv: list[str], lane: str, cold: bool, repeats: int, setup: list[str] | None = None):
    """(cold, warm) medians of (wall seconds, seconds in fit) of ``argv`` on ``lane``; cold is
    None where nothing compiles. ``setup`` runs first in the same folder, untimed, on the NumPy
    lane (so the Numba cache stays empty)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTGRAD_KERNELS", "NUMBA_CACHE_DIR")}
    if lane != "default":
        env["SOFTGRAD_KERNELS"] = lane
    colds, warms = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as work:
            env["NUMBA_CACHE_DIR"] = cache  # empty: the first run compiles, the next loads
            if setup:
                wall_time(setup, {**env, "SOFTGRAD_KERNELS": "numpy"}, work)
            first = wall_time(argv, env, work)
            if cold:
                colds.append(first)
                warms.append(wall_time(argv, env, work))
            else:
                warms.append(first)
    return _median(colds), _median(warms)


def _cell(figures: tuple[float, float | None] | None) -> str:
    """``wall`` or ``wall (fit)`` seconds; ``-`` where there is no such run."""
    if figures is None:
        return "-"
    wall, fit = figures
    return f"{wall:.2f}" + (f" ({fit:.2f})" if fit is not None else "")


def main(argv: list[str] | None = None) -> int:
    parser = bench_cli.Parser(prog="startup.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each instead of three")
    args = bench_cli.parse(parser, argv)
    repeats = 1 if args.quick else 3
    print(bench_cli.header(), flush=True)
    print(f"load average at start: {machine.load_average()}; {repeats} run(s) each, medians")
    rows = []
    for label, command, lanes, cold in COMMANDS:
        for lane in lanes:
            figures = measure(command, lane, cold and lane == "numba", repeats, SETUP.get(label))
            rows.append((label, lane, *figures))
    print("\n| command | lane | cold start, s (in fit) | warm start, s (in fit) |")
    print("|---|---|---|---|")
    for label, lane, cold, warm in rows:
        print(f"| `{label}` | {lane} | {_cell(cold)} | {_cell(warm)} |")
    print(f"\nload average at end: {machine.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
