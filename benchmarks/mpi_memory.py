"""Peak memory per rank of a 2-rank Fashion-MNIST run, for each way of reading the data.

    python benchmarks/mpi_memory.py     # about 45 s: four mpiexec -n 2 runs, one epoch each

It needs mpi4py and an mpiexec (``pip install softgrad[mpi]``) and the gzipped Fashion-MNIST
files ($SOFTGRAD_DATA or the Debian package's folder); without them it stops before any run.

- ``whole``: every rank loads the whole training set (``load_idx``, uint8) and fit converts it
  to float32: the way ``softgrad train`` reads today.
- ``map``: every rank memory-maps one float32 .npy of the scaled set (``open_rows``; written
  once, beforehand, as a user's preprocessing would) and fit gathers its rows of each global
  batch from the map: the global permutation, equal to one process to float64 rounding.
- ``shard``: every rank stream-reads only its half of the gzipped IDX file (``read_shard``):
  what a rank-owned split holds (no fit: fit's global batches need every row).
- ``cli``: ``softgrad train`` itself on the gzipped IDX folder (one epoch, same network and
  batch): rank 0 alone loads the set and writes the scaled rows once, every rank maps them
  (cli/ranks.py). Rank 0 also holds the uint8 set as loaded and the test set.

Each rank reports its peak resident set (``ru_maxrss``: file pages it touched included, though
the page cache holds them once for both ranks), and at the end its private memory and its
proportional share (Pss) from /proc/self/smaps_rollup. Every mpiexec run has a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_cli  # noqa: E402
import data  # noqa: E402
from mpi_scaling import check_mpi, mpiexec, run_with_timeout  # noqa: E402  (the same timeout)

FOLDER = data.fashion_root()
IMAGES, LABELS = FOLDER / "train-images-idx3-ubyte.gz", FOLDER / "train-labels-idx1-ubyte.gz"
TIMEOUT_S = 300


def _smaps() -> dict[str, float]:
    """Private and proportional memory of this process now, MB."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    private = fields["Private_Clean"] + fields["Private_Dirty"]
    # Anonymous: what the process itself allocated (file pages, mapped or written, excluded)
    return {
        "private_mb": round(private, 1),
        "pss_mb": round(fields["Pss"], 1),
        "anon_mb": round(fields["Anonymous"], 1),
    }


def cli_worker() -> None:
    """One rank of ``softgrad train`` (MPI is finalised when it returns: each rank prints).

    The CLI frees its arrays before it returns, so a thread samples the private memory and
    the proportional share every 20 ms and the peaks are reported.
    """
    from softgrad.cli import main

    peaks = {"private_mb": 0.0, "pss_mb": 0.0, "anon_mb": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            for name, value in _smaps().items():
                peaks[name] = max(peaks[name], value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as folder:
        args = ["train", "--data", str(FOLDER), "--epochs", "1", "--hidden", "256"]
        args += ["--batch-size", "512", "--val-fraction", "0", "--quiet"]
        main([*args, "--out", str(Path(folder) / "model.npz")])
    done.set()
    sampler.join()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"rank": int(os.environ.get("PMI_RANK", 0)), "peak_rss_mb": round(peak_mb, 1)}
    peaks = {f"peak_{name}": value for name, value in peaks.items()}
    # both ranks print at about the same time: one write of the whole line each (print wrote the
    # text and the newline apart, and mpiexec once joined rank 1's line to rank 0's)
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), f"cli: {json.dumps({**report, **peaks})}\n".encode())


def worker(mode: str, mapped: str) -> None:
    if mode == "cli":
        cli_worker()
        return
    from softgrad.datasets import load_idx
    from softgrad.datasets.shards import open_rows, read_shard
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.optim import SGD
    from softgrad.training import fit
    from softgrad.training.distributed import world

    comm = world()
    imports_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    y = load_idx(LABELS).astype(np.intp)
    if mode == "shard":
        X = read_shard(IMAGES, comm.rank, comm.size)
    else:
        if mode == "map":
            X = open_rows(mapped)
        else:  # scaled to float32, as the CLI's scaler does
            X = load_idx(IMAGES).reshape(len(y), -1) / np.float32(255)
        model = build_mlp(784, [256], 10, rng=0)
        fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.05),
            X,
            y,
            epochs=1,
            batch_size=512,
            rng=0,
            comm=comm,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    held = X.nbytes if not isinstance(X, np.memmap) else 0
    report = {
        "rank": comm.rank,
        "imports_mb": round(imports_mb, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "rows": len(X),
        "private_array_mb": round(held / 2**20, 1),
        **_smaps(),
    }
    for line in comm.comm.gather(json.dumps(report), root=0) or []:
        print(f"{mode}: {line}")


def main(argv=None) -> int:
    parser = bench_cli.Parser(prog="mpi_memory.py", description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "MAPPED"), help=argparse.SUPPRESS)
    args = bench_cli.parse(parser, argv)
    if args.worker:
        worker(*args.worker)
        return 0
    check_mpi(parser)
    gzipped = [p for p in (IMAGES, LABELS) if not p.exists()]
    if gzipped:  # the gzipped IDX files: read_shard stream-reads them
        parser.error(f"Fashion-MNIST's gzipped IDX files are needed; missing {gzipped[0]}")
    print(bench_cli.header(), flush=True)
    from softgrad.datasets import load_idx

    with tempfile.TemporaryDirectory() as folder:
        mapped = Path(folder) / "fashion-mnist-train-float32.npy"
        images = load_idx(IMAGES)
        out = np.lib.format.open_memmap(mapped, "w+", np.float32, (len(images), 784))
        out[:] = images.reshape(len(images), -1) / np.float32(255)
        out.flush()
        del out, images
        for mode in ("whole", "map", "shard", "cli"):
            command = [
                mpiexec(),
                "-n",
                "2",
                sys.executable,
                __file__,
                "--worker",
                mode,
                str(mapped),
            ]
            print(run_with_timeout(command, TIMEOUT_S).strip(), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
