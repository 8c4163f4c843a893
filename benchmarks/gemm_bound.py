"""The GEMM-only lower bound of one training epoch.

One epoch of D-H-C training in mini-batches of b rows (the last, short batch included) performs,
per batch, exactly these matrix products (no gradient for the network input):

    forward      h      = x @ W1          (b, D) @ (D, H)
                 logits = h @ W2          (b, H) @ (H, C)
    backward     grad_W2 = h^T @ d2       (H, b) @ (b, C)
                 grad_h  = d2 @ W2^T      (b, C) @ (C, H)
                 grad_W1 = x^T @ d1       (D, b) @ (b, H)

Each costs 2 * m * k * n FLOPs. The bound is the time NumPy's own BLAS takes for exactly those
products in float32 with the operands laid out as a training step has them (x C-contiguous, the
transposes as views), preallocated outputs, nothing else. A training epoch cannot be faster than
this on the same machine and library; epoch / bound is the overhead factor.

Run standalone: ``python benchmarks/gemm_bound.py --hidden 100 256 --batch 128``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class GemmShape:
    """One product A @ B with A (m, k), B (k, n); a_t / b_t: operand is a transposed view."""

    name: str
    m: int
    k: int
    n: int
    a_t: bool = False
    b_t: bool = False

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n


def step_shapes(b: int, n_features: int, hidden: int, n_classes: int) -> list[GemmShape]:
    """The five products of one training step on a batch of b rows."""
    return [
        GemmShape("x @ W1", b, n_features, hidden),
        GemmShape("h @ W2", b, hidden, n_classes),
        GemmShape("h^T @ d2", hidden, b, n_classes, a_t=True),
        GemmShape("d2 @ W2^T", b, n_classes, hidden, b_t=True),
        GemmShape("x^T @ d1", n_features, b, hidden, a_t=True),
    ]


def epoch_batches(n_samples: int, batch_size: int) -> list[tuple[int, int]]:
    """[(rows, count)] of an epoch: full batches and the last short one, if any."""
    full, rest = divmod(n_samples, batch_size)
    out = [(batch_size, full)] if full else []
    if rest:
        out.append((rest, 1))
    return out


def epoch_flops(n_samples: int, batch_size: int, n_features: int, hidden: int, n_classes: int):
    """FLOPs of one epoch's matrix products."""
    return sum(
        count * sum(s.flops for s in step_shapes(rows, n_features, hidden, n_classes))
        for rows, count in epoch_batches(n_samples, batch_size)
    )


def _operands(shape: GemmShape, rng: np.random.Generator):
    def make(rows, cols, transposed):
        if transposed:  # stored (cols, rows) C-contiguous, used as its transpose view
            return rng.random((cols, rows), dtype=np.float32).T
        return rng.random((rows, cols), dtype=np.float32)

    a = make(shape.m, shape.k, shape.a_t)
    b = make(shape.k, shape.n, shape.b_t)
    return a, b, np.empty((shape.m, shape.n), dtype=np.float32)


def time_step_gemms(
    b: int,
    n_features: int,
    hidden: int,
    n_classes: int,
    *,
    repeats: int = 15,
    min_time=0.02,
    per_shape: bool = True,
) -> tuple[float, dict[str, float]]:
    """Fastest seconds of one step's five products run back to back, and per product.

    The minimum over repeats, not the median: a lower bound should not absorb the noise of a
    shared machine (this makes every ratio to the bound more demanding, never less). With
    ``per_shape=False`` the products are not timed one by one (a quick re-measurement).
    """
    rng = np.random.default_rng(0)
    shapes = step_shapes(b, n_features, hidden, n_classes)
    ops = [_operands(s, rng) for s in shapes]
    for a, bb, out in ops:  # warm BLAS threads and caches
        np.matmul(a, bb, out=out)
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            for a, bb, out in ops:
                np.matmul(a, bb, out=out)
        if time.perf_counter() - t0 >= min_time:
            break
        loops *= 2
    step_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            for a, bb, out in ops:
                np.matmul(a, bb, out=out)
        step_times.append((time.perf_counter() - t0) / loops)
    by_shape: dict[str, float] = {}
    if not per_shape:
        return float(np.min(step_times)), by_shape
    for s, (a, bb, out) in zip(shapes, ops, strict=True):
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(loops):
                np.matmul(a, bb, out=out)
            samples.append((time.perf_counter() - t0) / loops)
        by_shape[s.name] = float(np.min(samples))
    return float(np.min(step_times)), by_shape


@dataclass
class Bound:
    """The GEMM-only lower bound of one epoch."""

    hidden: int
    batch_size: int
    gflop: float  # per epoch
    seconds: float  # per epoch
    per_shape: dict[str, float]  # seconds per epoch spent in each product
    # after lowest(): the full measurement (what per_shape splits) and the lowest quick one
    measured: float | None = None
    quick: float | None = None

    @property
    def gflops(self) -> float:
        return self.gflop / self.seconds

    def lowest(self, quick: Iterable[float]) -> Bound:
        """This bound with ``seconds`` the lowest of its own and the ``quick`` re-measurements
        of the same shapes (run.py takes one after every round of epochs). A lower bound should
        be the fastest the products ran: the host's slow phases hold for seconds at a time (an
        h256 forward product flipped between about 275 and 370 us a call), and one full
        measurement of 15 repeats at the end of a run can fall entirely inside one, as both
        runs of 2026-12-05 did (0.320 s against 0.267 s before). Ratios to the bound only get
        more demanding."""
        times = list(quick)
        if not times:
            return self
        fastest = min(times)
        return replace(
            self, seconds=min(self.seconds, fastest), measured=self.seconds, quick=fastest
        )


def epoch_bound(
    n_samples: int,
    batch_size: int,
    n_features: int,
    hidden: int,
    n_classes: int,
    repeats=15,
    per_shape: bool = True,
) -> Bound:
    """Time exactly one epoch's GEMM shapes (full batches and the last short one)."""
    seconds = 0.0
    by_shape: dict[str, float] = {}
    for rows, count in epoch_batches(n_samples, batch_size):
        step, shapes = time_step_gemms(
            rows, n_features, hidden, n_classes, repeats=repeats, per_shape=per_shape
        )
        seconds += count * step
        for name, t in shapes.items():
            by_shape[name] = by_shape.get(name, 0.0) + count * t
    gflop = epoch_flops(n_samples, batch_size, n_features, hidden, n_classes) / 1e9
    return Bound(hidden, batch_size, gflop, seconds, by_shape)


def main(argv=None) -> int:
    import bench_cli

    parser = bench_cli.Parser(prog="gemm_bound.py", description=__doc__.splitlines()[0])
    size = bench_cli.positive_int
    parser.add_argument("--samples", type=size, default=60_000, help="rows of the epoch")
    parser.add_argument("--features", type=size, default=784)
    parser.add_argument("--classes", type=size, default=10)
    parser.add_argument("--hidden", type=size, nargs="+", default=[100, 256])
    parser.add_argument("--batch", type=size, nargs="+", default=[32, 64, 128, 512])
    args = bench_cli.parse(parser, argv)
    if max(args.batch) > args.samples:
        parser.error(
            f"argument --batch: a batch must be at most --samples ({args.samples}); "
            f"got {max(args.batch)}"
        )
    print(bench_cli.header(), flush=True)
    print(f"{'H':>4} {'batch':>5} {'GFLOP':>7} {'bound s':>8} {'GFLOP/s':>8}  per product (s)")
    for hidden in args.hidden:
        for batch in args.batch:
            bound = epoch_bound(args.samples, batch, args.features, hidden, args.classes)
            detail = "  ".join(f"{k}: {v:.3f}" for k, v in bound.per_shape.items())
            print(
                f"{hidden:>4} {batch:>5} {bound.gflop:>7.2f} {bound.seconds:>8.3f} "
                f"{bound.gflops:>8.1f}  {detail}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
