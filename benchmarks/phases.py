"""Whether this machine has slow phases, and what they cost a softgrad step on two BLAS threads.

    python benchmarks/phases.py                   # 4 minutes of samples, then a summary
    python benchmarks/phases.py --seconds 60

The project's VM has phases, seconds to minutes long, in which work that both cores share line
by line runs slower while either core alone does not (training_findings.md, stop 33). This
script samples in turns, as fast as it can for ``--seconds``: a 50-step softgrad fit of
784-100-10 at batch 128 on Fashion-MNIST rows on NumPy's BLAS threads, the same fit on one BLAS
thread, PyTorch's 50 steps of the same network (when installed), run.py's handoff probe
(harness.HandoffProbe), and a lock handed back and forth between two threads (the cost of
waking the other core). Each fit is the best of two, the probe the best of its repeats. A line
per sample, then the medians over the samples whose probe was within 1.3x of the quickest
(quick) and over the others (slow).

Measured here (4 minutes, 89 quick and 315 slow samples): the fit on two BLAS threads 22.2 ms
quick and 47.4 ms slow, on one thread 28.3 and 28.5, PyTorch 34.3 and 53.3, the lock 11.6 us in
both: in a slow phase one BLAS thread trained 1.66x faster than two.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

import bench_cli
import numpy as np
import report

ROWS = 6_400  # 50 batches of 128
COLUMNS = ("2 BLAS threads ms", "1 BLAS thread ms", "PyTorch ms", "probe ms", "lock us")


def lock_round_trip(n: int = 2_000) -> float:
    """Seconds for one hand-off of a lock to another thread and back."""
    here, there = threading.Lock(), threading.Lock()
    here.acquire()
    there.acquire()

    def pong() -> None:
        for _ in range(n):
            here.acquire()
            there.release()

    other = threading.Thread(target=pong)
    other.start()
    start = time.perf_counter()
    for _ in range(n):
        here.release()
        there.acquire()
    seconds = time.perf_counter() - start
    other.join()
    return seconds / n


class Sampler:
    """The figures of one sample (:meth:`__call__`), on ``X`` (float32, at least 128 rows): the
    softgrad and PyTorch peers of run.py (peers.py), SGD momentum 0.9, lr 0.03."""

    def __init__(self, X: np.ndarray, y: np.ndarray, n_classes: int, torch_peer: bool = True):
        import harness
        from peers import PEERS, RunSpec

        spec = RunSpec(hidden=100, batch_size=128, optimizer="sgd", lr=0.03)
        self.softgrad = PEERS["softgrad"](spec, X, y, n_classes)
        self.torch = PEERS["pytorch"](spec, X, y, n_classes) if torch_peer else None
        self.probe = harness.HandoffProbe(X)

    def __call__(self) -> tuple[float, ...]:
        """(fit on the BLAS's threads, fit on one, PyTorch or NaN, probe, lock), in seconds."""
        from threadpoolctl import threadpool_limits

        def best(fn) -> float:
            times = []
            for _ in range(2):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return min(times)

        both = best(self.softgrad.train_epoch)
        with threadpool_limits(1, user_api="blas"):
            one = best(self.softgrad.train_epoch)
        torch = best(self.torch.train_epoch) if self.torch is not None else float("nan")
        probe = self.probe()  # the best of its repeats
        return both, one, torch, probe, lock_round_trip()


def summary(samples: list[tuple[float, ...]], slow_probe: float = report.SLOW_PROBE) -> list[str]:
    """Markdown lines: the medians of every column over the quick samples (probe within
    ``slow_probe`` times the quickest, run.py's rule) and over the slow ones, and slow / quick."""
    quickest = min(s[3] for s in samples)
    groups = {
        "quick": [s for s in samples if s[3] <= slow_probe * quickest],
        "slow": [s for s in samples if s[3] > slow_probe * quickest],
    }
    scale = (1e3, 1e3, 1e3, 1e3, 1e6)
    medians = {
        name: [statistics.median(s[i] for s in group) * scale[i] for i in range(len(scale))]
        for name, group in groups.items()
        if group
    }
    lines = ["| samples | count | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for name, values in medians.items():
        cells = " | ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {len(groups[name])} | {cells} |")
    if len(medians) == 2:
        ratios = " | ".join(
            f"{s / q:.2f}x" for s, q in zip(medians["slow"], medians["quick"], strict=True)
        )
        lines.append(f"| slow / quick | | {ratios} |")
    return lines


def main(argv=None) -> int:
    parser = bench_cli.Parser(prog="phases.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=bench_cli.positive_float, default=240.0, help="how long to sample"
    )
    args = bench_cli.parse(parser, argv, needs={"threadpoolctl": "phases.py"}, fashion=True)
    import data

    print(bench_cli.header(), flush=True)
    fashion = data.load_fashion()
    sampler = Sampler(
        np.ascontiguousarray(fashion.X_train[:ROWS]),
        fashion.y_train[:ROWS],
        fashion.n_classes,
        torch_peer=not bench_cli.missing("torch"),
    )
    print("| time UTC | " + " | ".join(COLUMNS) + " |", flush=True)
    samples = []
    end = time.monotonic() + args.seconds
    while not samples or time.monotonic() < end:
        samples.append(sampler())
        figures = [f"{v * 1e3:.1f}" for v in samples[-1][:4]] + [f"{samples[-1][4] * 1e6:.1f}"]
        print(f"| {time.strftime('%H:%M:%S', time.gmtime())} | " + " | ".join(figures) + " |")
    print()
    print("\n".join(summary(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
