"""Where softgrad's training epoch goes: a stage breakdown and a cProfile listing.

Stage breakdown: perf_counter around each part of the step (batch gather, every layer's
forward and backward, the loss, the optimizer), installed as wrappers on the instances of one
fit() run (nothing in softgrad changes; the trusted steps stay on: stage_breakdown). The Linear
layers' time is their matrix products plus their bias and bookkeeping; the GEMM-only bound of
the same shapes (gemm_bound.py) tells which part of it is BLAS. cProfile adds per-function
totals (its own overhead inflates the small functions; the stage times are the ones to trust).

Run standalone: ``python benchmarks/profile_step.py --hidden 100 --batch 128 --optimizer sgd``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections import defaultdict

from peers import RunSpec, SoftgradPeer


def _timed(table: dict, key: str, fn):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        out = fn(*args, **kwargs)
        table[key] += time.perf_counter() - started
        return out

    return wrapper


class _Stages:
    """fit() callback installing stage timers on the run's EpochRunner, layers and optimizer."""

    def __init__(self, peer: SoftgradPeer, warmup: int) -> None:
        self.peer, self.warmup = peer, warmup
        self.table: dict[str, float] = defaultdict(float)
        self.epoch_time = 0.0
        self.started = 0.0
        self.epoch = 0

    def on_epoch_begin(self, state) -> None:
        self.epoch += 1
        if self.epoch == self.warmup + 1:
            self.table.clear()
        self.started = time.perf_counter()

    def on_epoch_end(self, state) -> bool:
        self.epoch_time = time.perf_counter() - self.started
        return False


def stage_breakdown(X, y, n_classes, spec: RunSpec, warmup: int = 1) -> tuple[float, dict]:
    """(epoch seconds, {stage: seconds}) for the last of warmup + 1 epochs.

    The steps are timed where fit runs them: a plain MLP's full-size batches after the first
    take the trusted step (softgrad.training.trusted_step), whose gather, bound forward + loss,
    backward and update are wrapped on its instance (wrapping the runner's class methods would
    turn the trusted steps off), SGD's folded ones (folded_step) with the update's axpy apart.
    The checked steps (each epoch's first and short last batch) time their plan's calls and
    the optimizer step; their gather falls in "rest of the loop".
    """
    from softgrad.training import trusted_step
    from softgrad.training.step_plan import ForwardPlan, StepPlan

    peer = SoftgradPeer(spec, X, y, n_classes)
    stages = _Stages(peer, warmup)
    table = stages.table
    # the layers' and the loss's own methods run where the network has no plan; wrapped on a
    # plain MLP, they would be hooks, which the plan steps aside for (so that they run)
    if not ForwardPlan.fits(peer.model):
        for index, layer in enumerate(peer.model.layers):
            name = f"{index}:{type(layer).__name__}"
            layer.forward = _timed(table, f"{name} forward", layer.forward)
            layer.backward = _timed(table, f"{name} backward", layer.backward)
        # the loss as fit calls it there: its forward_backward, or its forward and backward
        if hasattr(peer.loss, "forward_backward"):
            peer.loss.forward_backward = _timed(
                table, "loss forward + backward", peer.loss.forward_backward
            )
        else:
            peer.loss.forward = _timed(table, "loss forward", peer.loss.forward)
            peer.loss.backward = _timed(table, "loss backward", peer.loss.backward)
    peer.opt.step = _timed(table, "optimizer step", peer.opt.step)
    # a plain MLP steps through the step plan (training/step_plan.py), not the layers' methods
    planned = (StepPlan.forward_loss, StepPlan.backward)
    StepPlan.forward_loss = _timed(table, "plan: forward + loss", planned[0])
    StepPlan.backward = _timed(table, "plan: backward", planned[1])
    trusted_init = trusted_step.TrustedStep.__init__

    def timed_trusted(self, *args, **kwargs):
        trusted_init(self, *args, **kwargs)
        # each input buffer's bound gather (the targets' np.take falls in "rest of the loop")
        self.takes = tuple(_timed(table, "gather batch", take) for take in self.takes)
        self.bounds = tuple(_BoundTimes(bound, table) for bound in self.bounds)
        # the optimizer's flat state lives across epochs: wrapped on this step's own view of
        # it, so that each epoch's trusted step does not wrap the last one's wrapper again
        self.state = _TimedState(self.state, table)
        fold = self.fold
        if fold is not None:
            fold.backward_calls = [
                [_timed(table, "plan: backward (gradients folded)", run) for run in calls]
                for calls in fold.backward_calls
            ]
            # what is left of the update after the products (the decay terms, W -= lr * b)
            fold.fold.finish = _timed(table, "optimizer step", fold.fold.finish)

    trusted_step.TrustedStep.__init__ = timed_trusted
    try:
        peer.train(warmup + 1, callbacks=[stages])
    finally:
        StepPlan.forward_loss, StepPlan.backward = planned
        trusted_step.TrustedStep.__init__ = trusted_init
    rest = stages.epoch_time - sum(table.values())
    out = dict(sorted(table.items(), key=lambda kv: -kv[1]))
    out["rest of the loop"] = rest
    return stages.epoch_time, out


class _TimedState:
    """A trusted step's view of the optimizer's flat state with its ``advance`` (the update of
    an unfolded step) timed; everything else is the state's own."""

    def __init__(self, state, table: dict) -> None:
        self._state = state
        self.advance = _timed(table, "optimizer step", state.advance)

    def __getattr__(self, name: str):
        return getattr(self._state, name)


class _BoundTimes:
    """A trusted step's bound step with its forward + loss and its backward timed (the plan
    keeps the bound step itself, so its checked steps are not timed twice)."""

    def __init__(self, bound, table: dict) -> None:
        self.forward_loss = _timed(table, "plan: forward + loss", bound.forward_loss)
        self.backward = _timed(table, "plan: backward", bound.backward)


def cprofile_top(X, y, n_classes, spec: RunSpec, top: int = 15) -> str:
    """cProfile of one epoch (after a warm-up epoch), sorted by own time."""
    peer = SoftgradPeer(spec, X, y, n_classes)
    peer.train_epoch()
    profiler = cProfile.Profile()
    profiler.enable()
    peer.train_epoch()
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    return stream.getvalue()


def main(argv=None) -> int:
    import bench_cli
    import data

    parser = bench_cli.Parser(prog="profile_step.py", description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=bench_cli.positive_int, default=100)
    parser.add_argument("--batch", type=bench_cli.positive_int, default=128)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--lr", type=bench_cli.positive_float, default=0.01)
    parser.add_argument("--cprofile", action="store_true", help="also a cProfile listing")
    args = bench_cli.parse(parser, argv, fashion=True)
    if args.batch > 60_000:
        parser.error(f"argument --batch: must be at most the 60,000 images; got {args.batch}")
    print(bench_cli.header(), flush=True)
    bench = data.load_fashion()
    spec = RunSpec(args.hidden, args.batch, args.optimizer, args.lr)
    epoch, stages = stage_breakdown(bench.X_train, bench.y_train, bench.n_classes, spec)
    n_steps = -(-len(bench.X_train) // args.batch)
    print(f"epoch {epoch:.3f} s, {n_steps} steps ({spec.label})")
    for stage, seconds in stages.items():
        print(
            f"  {stage:<24} {seconds:7.4f} s  {100 * seconds / epoch:5.1f} %  "
            f"{1e6 * seconds / n_steps:7.1f} us/step"
        )
    if args.cprofile:
        print(cprofile_top(bench.X_train, bench.y_train, bench.n_classes, spec))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
