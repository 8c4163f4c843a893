"""Data-parallel scaling over MPI: ms per step on 1, 2 and 4 ranks, the Allreduce alone, the
two-process GEMM ceiling of this machine, and a ring-allreduce cost model projected to clusters.

    python benchmarks/mpi_scaling.py            # the target (below), then the full table:
                                                # 784-{256,1024}-10, batches 128..8192
    python benchmarks/mpi_scaling.py --quick    # smoke run: the target with one pair, then
                                                # 784-256-10, batches 128 and 512, 5 steps
                                                # each (checks that it runs, not speed)

The target comes first: 784-1024-10 at global batch 2048, 1 rank and 2 ranks measured in
turns (three pairs), the efficiency T(1) / (2 T(2)), the same against the two-process GEMM
ceiling, the Allreduce's share of a step, and per rank where the step goes (compute, the
gradient Allreduce, the wait for the other rank). The load average is printed with each pair.

Every rank uses one BLAS thread (OPENBLAS_NUM_THREADS=1). The 1-rank figure is a plain fit (no
MPI); 2 ranks is ``mpiexec -n 2`` on the 2 cores; 4 ranks oversubscribes them (marked so: MPI's
busy polling then costs milliseconds per collective). A step is timed batch end to batch end
inside one ``fit(..., comm=)`` epoch of synthetic 784-feature data (the first steps are warm-up).

Cost model (printed with its assumptions): T(1) = a * B * P + b is fitted by least squares to
the 1-rank steps (B the global batch, P the parameters: a is the products' time per sample and
parameter, b the per-step overhead that does not shrink with the batch). One step on p
machines then takes

    T(p) = (T(1) - b) / p  +  b  +  2 (p - 1) / p * bytes / bandwidth  +  2 (p - 1) * latency
           +  status(p)

(compute assumed to divide evenly: each machine runs the products on B / p rows, which holds
while B / p keeps the GEMMs efficient), bytes the float32 gradient, a ring Allreduce
(bandwidth-optimal: each byte crosses 2 (p - 1) / p links), and status(p) = ceil(log2 p) *
latency for the per-step 32-byte status Allreduce. The speed-up is T(1) / T(p).

Every worker run has a timeout (RUN_TIMEOUT_S): mpiexec and its ranks are killed as a process
group and the benchmark stops with the command that hung.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_FEATURES, N_CLASSES = 784, 10
NETWORKS_GBIT = (10, 25, 100)
MACHINES = (2, 4, 8, 16, 32, 64)
LATENCY_S = 20e-6  # one MPI message over a datacenter Ethernet hop (assumption, stated)
RUN_TIMEOUT_S = 600  # one worker run (mpiexec and its ranks), beyond which the benchmark stops


def n_params(hidden: int) -> int:
    return N_FEATURES * hidden + hidden + hidden * N_CLASSES + N_CLASSES


# ---- the worker: runs on every rank under mpiexec (or alone) ------------------------------------
def worker(hidden: int, batch: int, steps: int, warmup: int, allreduce_repeats: int) -> None:
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.optim import SGD
    from softgrad.training import fit
    from softgrad.training.distributed import world

    comm = world()
    # wall and CPU seconds in each kind of collective
    timed = {"gradient": [], "status": [], "gradient_cpu": [], "status_cpu": []}
    if comm is not None:
        plain_sum = comm.sum_

        def sum_(buffer):  # the gradient, or the step's few-number status (a wait for the others)
            t0, c0 = time.perf_counter(), time.thread_time()
            plain_sum(buffer)
            # the status is a handful of float64 (ShardedRunner.status: 5 since the failure
            # flag joined it; a size of 4 here missed it), the gradient every parameter
            kind = "status" if buffer.size < n_params(hidden) else "gradient"
            timed[kind].append(time.perf_counter() - t0)
            timed[f"{kind}_cpu"].append(time.thread_time() - c0)
            return buffer

        comm.sum_ = sum_
    rng = np.random.default_rng(0)
    n = batch * (steps + warmup)
    X = rng.random((n, N_FEATURES), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    model = build_mlp(N_FEATURES, [hidden], N_CLASSES, rng=0)
    ends: list[float] = []
    cpu: list[float] = []

    class Timer:
        def on_batch_end(self, state):
            ends.append(time.perf_counter())
            cpu.append(time.thread_time())

    fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.01, momentum=0.9),
        X,
        y,
        epochs=1,
        batch_size=batch,
        rng=0,
        callbacks=[Timer()],
        comm=comm,
    )
    figures = {
        "step_ms": 1e3 * statistics.median(np.diff(ends[warmup - 1 :])),
        "cpu_ms": 1e3 * statistics.median(np.diff(cpu[warmup - 1 :])),
    }
    for kind, samples in timed.items():
        if samples:  # per step, after the warm-up
            figures[f"{kind}_ms"] = 1e3 * statistics.median(samples[warmup:])
    if comm is None:
        print(json.dumps({"ranks": 1, "allreduce_ms": None, **figures}))
        return
    buffer = np.zeros(n_params(hidden), dtype=np.float32)
    samples = []
    for _ in range(allreduce_repeats):
        comm.comm.Barrier()
        t0 = time.perf_counter()
        plain_sum(buffer)
        samples.append(time.perf_counter() - t0)
    allreduce_ms = 1e3 * statistics.median(samples)
    by_rank = comm.gather_object(figures)
    if comm.rank == 0:
        print(
            json.dumps(
                {"ranks": comm.size, "allreduce_ms": allreduce_ms, "by_rank": by_rank, **by_rank[0]}
            )
        )


def _env() -> dict[str, str]:
    src = str(HERE.parent / "src")
    return {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }


def measure(hidden: int, batch: int, ranks: int, steps: int) -> dict:
    """One worker run: {"ranks", "step_ms", "allreduce_ms"}."""
    command = [sys.executable, __file__, "--worker", str(hidden), str(batch), str(steps)]
    if ranks > 1:
        command = [mpiexec() or "mpiexec", "-n", str(ranks), *command]
    return json.loads(run_with_timeout(command, RUN_TIMEOUT_S).strip().splitlines()[-1])


def mpiexec() -> str | None:
    """The mpiexec of this interpreter's environment (the mpich wheel puts it beside python),
    else the one on PATH; None when there is none."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def check_mpi(parser) -> None:
    """mpi4py and an mpiexec, or one line naming what is missing and exit 2."""
    import bench_cli

    if bench_cli.missing("mpi4py"):
        parser.error("mpi4py is not installed (pip install softgrad[mpi])")
    if mpiexec() is None:
        parser.error("no mpiexec beside python or on PATH (pip install mpich)")


def run_with_timeout(command: list[str], timeout: float) -> str:
    """``command``'s stdout; after ``timeout`` seconds its whole process group (mpiexec and
    every rank it started) is killed and the benchmark stops with the command in its message."""
    proc = subprocess.Popen(
        command,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit(
            f"mpi_scaling: {' '.join(command)} must end within {timeout} s; it did not"
        ) from None
    if proc.returncode != 0:
        raise SystemExit(f"mpi_scaling: {' '.join(command)} failed ({proc.returncode}):\n{err}")
    return out


# ---- the hardware ceiling: two single-thread GEMM processes against one ----------------------
GEMM_CODE = """
import time, numpy as np
a = np.random.default_rng(0).random((2048, 784), dtype=np.float32)
b = np.random.default_rng(1).random((784, 1024), dtype=np.float32)
out = np.empty((2048, 1024), dtype=np.float32)
np.matmul(a, b, out=out)
t0 = time.perf_counter(); n = 0
while time.perf_counter() - t0 < {seconds}:
    np.matmul(a, b, out=out); n += 1
print(2 * 2048 * 784 * 1024 * n / (time.perf_counter() - t0) / 1e9)
"""


def gemm_ceiling(seconds: float) -> tuple[float, list[float]]:
    """GFLOP/s of one single-thread GEMM process alone, and of each of two side by side."""
    code = GEMM_CODE.format(seconds=seconds)

    command = [sys.executable, "-c", code]
    alone = float(run_with_timeout(command, seconds + RUN_TIMEOUT_S))
    with ThreadPoolExecutor(2) as pool:  # two processes side by side
        pair = list(
            pool.map(lambda _: float(run_with_timeout(command, seconds + RUN_TIMEOUT_S)), range(2))
        )
    return alone, pair


# ---- the cost model ---------------------------------------------------------------------------
def projected_speedup(
    step_1: float, hidden: int, machines: int, gbit: float, fixed: float = 0.0
) -> float:
    """T(1) / T(p) under the model of the module docstring (times in seconds); ``fixed`` is
    the part of T(1) that does not divide over the machines (per-step Python overhead)."""
    p = machines
    bandwidth = gbit * 1e9 / 8
    nbytes = 4 * n_params(hidden)
    allreduce = 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * LATENCY_S
    status = math.ceil(math.log2(p)) * LATENCY_S
    return step_1 / ((step_1 - fixed) / p + fixed + allreduce + status)


def fit_cost_model(step_ms: dict[tuple[int, int], float]) -> tuple[float, float]:
    """Least squares of the 1-rank step times on T(1) = a * B * P + b: ``(a, b)`` in seconds,
    with B the global batch and P the parameters (the products scale with B * P; ``b`` is the
    per-step cost that does not shrink with the batch: Python, the optimizer's launch)."""
    work = np.array([batch * n_params(hidden) for hidden, batch in step_ms], dtype=np.float64)
    seconds = np.array(list(step_ms.values()), dtype=np.float64) / 1e3
    design = np.stack([work, np.ones_like(work)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, seconds, rcond=None)
    return float(a), max(float(b), 0.0)


def cost_model_table(step_ms: dict[tuple[int, int], float]) -> list[str]:
    """The projected speed-up on 2-64 machines, each model and batch at its fitted T(1)."""
    a, b = fit_cost_model(step_ms)
    lines = [
        f"fitted on the 1-rank figures: T(1) = {a * 1e9:.3f} ns x B x P + {b * 1e3:.2f} ms "
        f"(B global batch, P parameters; {6 / a / 1e9:.1f} GFLOP/s at 6 flops per parameter "
        "and sample)",
        "",
        "| network | model | global batch | "
        + " | ".join(f"{p} machines" for p in MACHINES)
        + " |",
        "|---|---|---|" + "---|" * len(MACHINES),
    ]
    pays = {gbit: [] for gbit in NETWORKS_GBIT}
    for gbit in NETWORKS_GBIT:
        for hidden, batch in sorted(step_ms):
            step_1 = a * batch * n_params(hidden) + b
            speedups = [projected_speedup(step_1, hidden, p, gbit, b) for p in MACHINES]
            cells = " | ".join(f"{s:.1f}x" for s in speedups)
            lines.append(f"| {gbit} Gbit/s | 784-{hidden}-10 | {batch} | {cells} |")
            if speedups[MACHINES.index(8)] >= 0.5 * 8:
                pays[gbit].append(f"784-{hidden}-10 at {batch}")
    lines.append("")
    for gbit, where in pays.items():
        lines.append(
            f"{gbit} Gbit/s: data parallelism pays (8 machines at least 4x faster) for "
            + (", ".join(where) if where else "none of these models and batches")
        )
    return lines


def print_ceiling(seconds: float) -> float:
    """Measure and print the two-process GEMM ceiling; returns it (2.0 = two cores' worth)."""
    alone, pair = gemm_ceiling(seconds)
    ceiling = sum(pair) / alone
    print(
        f"GEMM ceiling: one single-thread process {alone:.1f} GFLOP/s; two side by side "
        f"{pair[0]:.1f} + {pair[1]:.1f} GFLOP/s = {ceiling:.2f}x",
        flush=True,
    )
    return ceiling


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def target(rounds: int, ceiling_seconds: float = 5.0) -> float:
    """The issue's target, 784-1024-10 at global batch 2048: 1 rank and 2 ranks (1 thread each)
    measured in turns (``rounds`` pairs, so a change of load hits both alike), the ceiling, and
    where a 2-rank step goes on each rank.

    Efficiency = steps/s of 2 ranks / (2 x steps/s of 1 rank) = T(1) / (2 T(2)); against the
    ceiling, T(1) / (ceiling x T(2)). Per rank: compute (the step minus its collectives), the
    gradient Allreduce in the step, and the wait in the step's status Allreduce (the time this
    rank waited for the slower one: imbalance, or another process taking its core). Returns
    the ceiling.
    """
    hidden, batch, steps = 1024, 2048, 12
    print(f"## Target: 784-{hidden}-10, global batch {batch}, 1 thread per rank ({_load()})")
    ceiling = print_ceiling(ceiling_seconds)
    pairs = []
    for _ in range(rounds):
        one, two = measure(hidden, batch, 1, steps), measure(hidden, batch, 2, steps)
        pairs.append((one, two))
        print(
            f"1 rank {one['step_ms']:.1f} ms/step (CPU {one['cpu_ms']:.1f}), 2 ranks "
            f"{two['step_ms']:.1f} ms/step: efficiency {one['step_ms'] / (2 * two['step_ms']):.3f}"
            f" ({_load()})",
            flush=True,
        )
    one_ms = statistics.median(one["step_ms"] for one, _ in pairs)
    one_cpu = statistics.median(one["cpu_ms"] for one, _ in pairs)
    two_ms = statistics.median(two["step_ms"] for _, two in pairs)
    best = min(pairs, key=lambda pair: pair[1]["step_ms"])[1]
    print(
        f"median: 1 rank {one_ms:.1f} ms, 2 ranks {two_ms:.1f} ms; efficiency "
        f"{one_ms / (2 * two_ms):.3f} (target 0.85), against the ceiling "
        f"{one_ms / (ceiling * two_ms):.3f}; Allreduce of {4 * n_params(hidden) / 1e6:.1f} MB "
        f"alone {best['allreduce_ms']:.2f} ms = {best['allreduce_ms'] / two_ms:.1%} of a step"
    )
    print(
        "where the fastest 2-rank step goes, per rank, in ms (wall; then CPU time, which does "
        f"not count another process holding the core): ideal compute = 1 rank / 2 = "
        f"{one_ms / 2:.1f} wall, {one_cpu / 2:.1f} CPU"
    )
    for rank, f in enumerate(best["by_rank"]):
        compute = f["step_ms"] - f["gradient_ms"] - f["status_ms"]
        compute_cpu = f["cpu_ms"] - f["gradient_cpu_ms"] - f["status_cpu_ms"]
        print(
            f"  rank {rank}: step {f['step_ms']:.1f} = compute {compute:.1f} + gradient "
            f"Allreduce {f['gradient_ms']:.2f} + waiting for the other rank "
            f"{f['status_ms']:.2f}; CPU: compute {compute_cpu:.1f} + gradient Allreduce "
            f"{f['gradient_cpu_ms']:.2f}"
        )
    busiest = max(f["cpu_ms"] - f["status_cpu_ms"] for f in best["by_rank"])
    print(
        f"by CPU time (waits left out, so less sensitive to load): efficiency "
        f"{one_cpu / (2 * busiest):.3f}\n",
        flush=True,
    )
    return ceiling


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    import bench_cli

    parser = bench_cli.Parser(prog="mpi_scaling.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: the target once (one pair), then 784-256-10 at batches 128 and 512",
    )
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = bench_cli.parse(parser, argv)
    if args.worker:
        hidden, batch, steps = args.worker
        worker(hidden, batch, steps, warmup=3, allreduce_repeats=50)
        return 0
    check_mpi(parser)
    print(bench_cli.header(), flush=True)
    # the quick run takes the target's every path too: one pair, a 1-second ceiling
    ceiling = target(rounds=1, ceiling_seconds=1.0) if args.quick else target(rounds=3)
    hiddens = (256,) if args.quick else (256, 1024)
    batches = (128, 512) if args.quick else (128, 512, 2048, 8192)
    rank_counts = (1, 2, 4)
    print(f"## All models and batches ({_load()})")
    print(
        "| model | global batch | ranks | ms/step | Allreduce ms (alone) | speed-up | "
        "efficiency | vs ceiling | Allreduce share |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    one_rank: dict[tuple[int, int], float] = {}
    for hidden in hiddens:
        for batch in batches:
            steps = max(5, min(40, 40_000 // batch)) if not args.quick else 5
            for ranks in rank_counts:
                result = measure(hidden, batch, ranks, steps)
                ms = result["step_ms"]
                if ranks == 1:
                    one_rank[(hidden, batch)] = ms
                speedup = one_rank[(hidden, batch)] / ms
                share = "" if result["allreduce_ms"] is None else f"{result['allreduce_ms']:.2f}"
                part = "" if not share else f"{result['allreduce_ms'] / ms:.0%}"
                mark = " (oversubscribed)" if ranks > (os.cpu_count() or 1) else ""
                print(
                    f"| 784-{hidden}-10 | {batch} | {ranks}{mark} | {ms:.2f} | {share} | "
                    f"{speedup:.2f}x | {speedup / ranks:.2f} | "
                    f"{speedup / (1.0 if ranks == 1 else ceiling):.2f} | {part} |"
                )
    print(
        f"\nProjected speed-up (ring Allreduce, latency {LATENCY_S * 1e6:.0f} us per message, "
        "the fitted compute divided evenly, the fitted overhead on every machine):"
    )
    print("\n".join(cost_model_table(one_rank)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
