"""Peak memory (RSS) of training, one peer per fresh subprocess.

Each child imports its library, loads Fashion-MNIST (float32 in [0, 1]) and drops the test set,
then resets the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``) and trains. It
reports its RSS after the imports, after loading the data, and the peak RSS while training.
The figure held against the target is ``peak - RSS after imports``: the training set, the
model and everything training allocates, without the interpreter and library code.

Run standalone: ``python benchmarks/memory.py --peers softgrad pytorch sklearn``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"memory: /proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(peer: str, hidden: int, batch_size: int, optimizer: str, lr: float, epochs: int):
    """Measure one peer in this process; print one JSON line."""
    import numpy as np  # noqa: F401

    if peer == "pytorch":
        import torch
        from machine import blas_threads

        torch.set_num_threads(blas_threads())
    elif peer == "sklearn":
        import sklearn.neural_network  # noqa: F401
    elif peer == "softgrad":
        import softgrad.nn
        import softgrad.optim
        import softgrad.training  # noqa: F401
    import data
    from peers import PEERS, RunSpec

    rss_imports = _status_kib("VmRSS")
    bench = data.load_fashion()
    X, y, n_classes = bench.X_train, bench.y_train, bench.n_classes
    del bench
    rss_data = _status_kib("VmRSS")
    reset = _reset_peak()
    spec = RunSpec(hidden, batch_size, optimizer, lr)
    runner = PEERS[peer](spec, X, y, n_classes)
    if hasattr(runner, "train"):
        runner.train(epochs)
    else:
        for _ in range(epochs):
            runner.train_epoch()
    peak = _status_kib("VmHWM")
    model_bytes = 4 * (X.shape[1] * hidden + hidden + hidden * n_classes + n_classes)
    print(
        json.dumps(
            {
                "peer": peer,
                "rss_imports_mib": rss_imports * 1024 / MiB,
                "rss_data_mib": rss_data * 1024 / MiB,
                "peak_mib": peak * 1024 / MiB,
                "peak_is_training_only": reset,
                "train_set_mib": X.nbytes / MiB,
                "model_mib": model_bytes / MiB,
            }
        )
    )


def measure(peers, hidden=100, batch_size=128, optimizer="sgd", lr=0.01, epochs=1) -> list:
    """Run one child per peer and return their JSON records (in ``peers`` order)."""
    records = []
    for peer in peers:
        cmd = [
            sys.executable,
            str(HERE / "memory.py"),
            "--child",
            peer,
            "--hidden",
            str(hidden),
            "--batch",
            str(batch_size),
            "--optimizer",
            optimizer,
            "--lr",
            str(lr),
            "--epochs",
            str(epochs),
        ]
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env=os.environ.copy(), cwd=HERE
        )
        records.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return records


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--peers", nargs="+", default=["softgrad", "pytorch", "sklearn"])
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(HERE))
        child(args.child, args.hidden, args.batch, args.optimizer, args.lr, args.epochs)
        return
    for rec in measure(args.peers, args.hidden, args.batch, args.optimizer, args.lr, args.epochs):
        print(
            f"{rec['peer']:>10}: imports {rec['rss_imports_mib']:7.1f} MiB, "
            f"+data {rec['rss_data_mib']:7.1f} MiB, peak {rec['peak_mib']:7.1f} MiB, "
            f"peak - imports {rec['peak_mib'] - rec['rss_imports_mib']:7.1f} MiB "
            f"(train set {rec['train_set_mib']:.1f} MiB, model {rec['model_mib']:.2f} MiB)"
        )


if __name__ == "__main__":
    main()
