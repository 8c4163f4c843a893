"""Interleaved training runs: every peer trains epoch by epoch, A B C A B C, in one process.

softgrad trains as a user trains it, with ONE ``fit(..., epochs=N)`` call: its callback times
each epoch (on_epoch_begin -> on_epoch_end) and, at each epoch's end, runs the other peers'
epoch, so the machine's drift hits every peer alike. Test accuracy is measured after every epoch
of every peer, outside the timed region. The one-time cost of starting fit (input checks,
buffers) is recorded apart and added to softgrad's time to reach the target accuracy.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field

import numpy as np
from data import BenchData
from peers import PEERS, RunSpec


@dataclass
class PeerRun:
    """Per-epoch figures of one peer in one configuration."""

    peer: str
    epoch_times: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    setup_time: float = 0.0

    def median_epoch(self, warmup: int = 1) -> float:
        timed = self.epoch_times[warmup:] or self.epoch_times
        return statistics.median(timed)

    def final_accuracy(self, last: int = 3) -> float:
        """Mean test accuracy over the last ``last`` epochs."""
        tail = self.test_acc[-last:]
        return sum(tail) / len(tail)

    def time_to(self, accuracy: float) -> float | None:
        """Training seconds (setup and warm-up included) until test accuracy >= ``accuracy``."""
        total = self.setup_time
        for seconds, acc in zip(self.epoch_times, self.test_acc, strict=True):
            total += seconds
            if acc >= accuracy:
                return total
        return None

    def epochs_to(self, accuracy: float) -> int | None:
        for epoch, acc in enumerate(self.test_acc, start=1):
            if acc >= accuracy:
                return epoch
        return None


@dataclass
class ConfigResult:
    """One configuration (data set + RunSpec) run by every peer."""

    dataset: str
    spec: RunSpec
    n_train: int
    epochs: int
    runs: dict[str, PeerRun]
    peers: dict = field(default_factory=dict, repr=False)  # the trained peer objects
    # the GEMM-only bound re-measured after every round of epochs, paired with that round
    bound_times: list[float] = field(default_factory=list)
    # handoff_probe timed after every round: what tells the rounds in the host's slow phases
    probe_times: list[float] = field(default_factory=list)


# OpenBLAS's idle workers spin for about 2**28 cycles (~0.1 s) after a product before they
# sleep, and would compete with the next peer's threads for the two cores: every timed epoch
# starts after this pause (outside the timed region, the same for every peer)
SETTLE_SECONDS = 0.15


def settle() -> None:
    time.sleep(SETTLE_SECONDS)


class HandoffProbe:
    """Time the training step's handoff between the cores: gather 128 random rows of ``X``
    into a buffer, then the two products that read it on both BLAS threads (x @ W1, x^T @ d1,
    H = 100), 20 times; the fastest of 3 such runs, in seconds (about 6 ms when quick).

    This host has slow phases in which every peer's epoch takes up to 2.2x as long while a
    Python loop, a gather, page faults, a serial kernel and the products alone (the quick
    bound) move by 8% at most. This probe moves with them (measured in turns with 50-step fits
    for three minutes: 47.6 ms against 32.5 ms, every slow fit's probe over 1.4x the quickest,
    no quick one's over 1.2x): the phases slow the transfer of the lines one core wrote to
    the other, which the step does at every batch and the bound never does.
    """

    STEPS, ROWS, HIDDEN = 20, 128, 100

    def __init__(self, X, seed: int = 0) -> None:
        # the training set itself where it is C-contiguous float32 (Fashion-MNIST's): no copy
        self.X = np.ascontiguousarray(X.reshape(X.shape[0], -1), dtype=np.float32)
        self.rng = np.random.default_rng(seed)
        d = self.X.shape[1]
        self.x = np.empty((self.ROWS, d), dtype=np.float32)
        self.W = self.rng.random((d, self.HIDDEN), dtype=np.float32)
        self.d1 = self.rng.random((self.ROWS, self.HIDDEN), dtype=np.float32)
        self.h = np.empty((self.ROWS, self.HIDDEN), dtype=np.float32)
        self.gW = np.empty((d, self.HIDDEN), dtype=np.float32)

    def __call__(self, repeats: int = 3) -> float:
        best = float("inf")
        for _ in range(repeats):
            rows = [self.rng.integers(0, self.X.shape[0], self.ROWS) for _ in range(self.STEPS)]
            started = time.perf_counter()
            for idx in rows:
                np.take(self.X, idx, axis=0, out=self.x)
                np.matmul(self.x, self.W, out=self.h)
                np.matmul(self.x.T, self.d1, out=self.gW)
            best = min(best, time.perf_counter() - started)
        return best


class _EpochClock:
    """fit() callback: times softgrad's epochs and hands control to the other peers."""

    def __init__(self, run: PeerRun, after_epoch) -> None:
        self.run, self.after_epoch = run, after_epoch
        self.started = self.called = time.perf_counter()

    def on_epoch_begin(self, state) -> None:
        self.started = time.perf_counter()
        if not self.run.epoch_times:
            self.run.setup_time = self.started - self.called

    def on_epoch_end(self, state) -> bool:
        self.run.epoch_times.append(time.perf_counter() - self.started)
        self.after_epoch()
        return False


def run_config(
    data: BenchData,
    spec: RunSpec,
    peer_names: list[str],
    epochs: int,
    log=None,
    bound=None,
    probe: bool = True,
) -> ConfigResult:
    """Train every peer for ``epochs`` epochs, interleaved, and collect their figures.

    ``bound``, if given, is called after every round of epochs and returns the GEMM-only epoch
    time measured then (``ConfigResult.bound_times``): paired with that round's epochs, it gives
    an epoch / bound ratio that load coming and going moves on both sides. ``probe``: time a
    :class:`HandoffProbe` after every round too (``ConfigResult.probe_times``).
    """
    peers = [PEERS[name](spec, data.X_train, data.y_train, data.n_classes) for name in peer_names]
    runs = {p.name: PeerRun(p.name) for p in peers}
    driver = next((p for p in peers if hasattr(p, "train")), None)
    others = [p for p in peers if p is not driver]
    bound_times: list[float] = []
    probe_times: list[float] = []
    handoff = HandoffProbe(data.X_train) if probe else None

    def evaluate(peer) -> None:
        runs[peer.name].test_acc.append(peer.accuracy(data.X_test, data.y_test))

    def other_epochs() -> None:
        if driver is not None:
            evaluate(driver)
        for peer in others:
            gc.collect()
            settle()
            started = time.perf_counter()
            peer.train_epoch()
            runs[peer.name].epoch_times.append(time.perf_counter() - started)
            evaluate(peer)
        if bound is not None:
            gc.collect()
            settle()
            bound_times.append(bound())
        if handoff is not None:
            probe_times.append(handoff())
        if log is not None:
            done = len(runs[peers[0].name].epoch_times)
            log(
                f"  {data.name} {spec.label} epoch {done}/{epochs}: "
                + "  ".join(
                    f"{name} {r.epoch_times[-1]:.3f}s acc {r.test_acc[-1]:.4f}"
                    for name, r in runs.items()
                )
                + (f"  handoff probe {1e3 * probe_times[-1]:.1f} ms" if probe_times else "")
            )
        gc.collect()
        settle()  # before the driver's next epoch

    gc.collect()
    settle()
    if driver is not None:
        clock = _EpochClock(runs[driver.name], other_epochs)
        driver.train(epochs, callbacks=[clock])
    else:
        for _ in range(epochs):
            other_epochs()
    return ConfigResult(
        data.name,
        spec,
        len(data.X_train),
        epochs,
        runs,
        {p.name: p for p in peers},
        bound_times,
        probe_times,
    )


def trained_peers(config: ConfigResult) -> dict:
    """name -> trained Peer of a finished configuration."""
    return dict(config.peers)
