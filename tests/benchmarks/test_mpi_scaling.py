"""The MPI scaling benchmark's cost model, by hand (no timings)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
spec = importlib.util.spec_from_file_location(
    "softgrad_bench_mpi_scaling", BENCH / "mpi_scaling.py"
)
mpi_scaling = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mpi_scaling
spec.loader.exec_module(mpi_scaling)


def test_gradient_bytes_of_784_1024_10():
    # 784 * 1024 + 1024 + 1024 * 10 + 10 parameters
    assert mpi_scaling.n_params(1024) == 814_090


def test_projected_speedup_by_hand():
    # 2 machines on 10 Gbit/s (1.25e9 B/s), 784-1024-10 (3,256,360 gradient bytes), T(1) 111.9 ms:
    # ring: 2 * (1/2) * 3,256,360 / 1.25e9 = 2.605 ms, + 2 * 1 * 20 us; status: 1 * 20 us
    step_2 = 0.1119 / 2 + 3_256_360 / 1.25e9 + 2 * 20e-6 + 20e-6
    got = mpi_scaling.projected_speedup(0.1119, 1024, 2, 10)
    assert got == pytest.approx(0.1119 / step_2, rel=1e-12)
    assert got == pytest.approx(1.909, abs=1e-3)
    # one machine: no communication at all
    assert mpi_scaling.projected_speedup(0.1119, 1024, 1, 10) == 1.0


def test_the_cost_model_fit_recovers_its_own_figures():
    # T(1) = a B P + b with a = 0.2 ns, b = 1.5 ms, for both models at two batches
    a, b = 0.2e-9, 1.5e-3
    step_ms = {
        (hidden, batch): 1e3 * (a * batch * mpi_scaling.n_params(hidden) + b)
        for hidden in (256, 1024)
        for batch in (128, 2048)
    }
    got_a, got_b = mpi_scaling.fit_cost_model(step_ms)
    assert got_a == pytest.approx(a, rel=1e-9) and got_b == pytest.approx(b, rel=1e-6)
    # the fixed part stays on every machine: with b == T(1) nothing divides
    assert mpi_scaling.projected_speedup(0.01, 256, 8, 100, fixed=0.01) < 1.0


@pytest.mark.mpi
def test_a_two_rank_step_is_split_into_compute_gradient_and_wait():
    # the worker tells the step's status Allreduce (a handful of numbers) from the gradient's;
    # when the status grew from 4 numbers to 5 it found none, and the target's report of
    # where a step goes stopped on a KeyError
    got = mpi_scaling.measure(hidden=16, batch=64, ranks=2, steps=6)
    assert got["ranks"] == 2 and len(got["by_rank"]) == 2
    for figures in got["by_rank"]:
        for key in ("step_ms", "cpu_ms", "gradient_ms", "status_ms", "gradient_cpu_ms"):
            assert figures[key] >= 0.0, key


@pytest.mark.mpi
def test_the_memory_benchmark_reports_every_way_of_reading_on_two_ranks(tmp_path, rng):
    # the whole script, on a tiny IDX folder where SOFTGRAD_DATA points (the gzipped files it
    # needs); each of its four mpiexec runs prints one JSON line per rank
    from softgrad.datasets import save_idx

    n_train, n_test = 1100, 50  # more than the script's batch of 512
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        save_idx(tmp_path / name, array)
    env = {**os.environ, "SOFTGRAD_DATA": str(tmp_path), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(BENCH / "mpi_memory.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    reports = {}
    for line in out.stdout.splitlines():
        mode, _, figures = line.partition(": ")
        if mode in ("whole", "map", "shard", "cli"):
            reports.setdefault(mode, []).append(json.loads(figures))
    assert sorted(reports) == ["cli", "map", "shard", "whole"], out.stdout
    for mode, ranks in reports.items():
        assert sorted(r["rank"] for r in ranks) == [0, 1], (mode, ranks)
        assert all(r["peak_rss_mb"] > 0 for r in ranks), (mode, ranks)
    # a rank-owned shard holds its half of the rows; the others every row
    assert sorted(r["rows"] for r in reports["shard"]) == [n_train // 2, n_train // 2]
    assert all(r["rows"] == n_train for r in reports["whole"] + reports["map"])
    assert all(r["private_array_mb"] == 0 for r in reports["map"])  # mapped, not held
