"""Per-step time of the training step and the inference pass, with and without fusing.

A small measurement for the fused forms (issue 11): Fashion-MNIST, an h100 b128 float32 MLP,
SGD with momentum. It times

- whole epochs of :func:`softgrad.training.fit` with the tree's defaults (median epoch after
  the first, divided by the steps per epoch): run it on two trees to compare them;
- on a tree with the fused forms, interleaved rounds of the fused step (``fuse=True`` and
  ``CrossEntropyLoss.forward_backward``) and of the separate passes (``fuse=False``, loss
  forward, backward and an argmax), by wall clock and by the calling thread's CPU time (less
  sensitive to a loaded machine);
- the 10,000-image ``predict_proba``, fused and not, and ONNX Runtime on the model's own
  export (``softgrad.onnx_export``) when onnxruntime is installed.

Run it against any tree::

    PYTHONPATH=src python benchmarks/fused_step.py [--epochs 3] [--lane numba|numpy]

Figures go to stdout with the load average; nothing is written.
"""

from __future__ import annotations

import inspect
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _model(fuse: bool | None):
    from softgrad.nn import Sequential, build_mlp

    net = build_mlp(784, [100], 10, rng=0)
    if fuse is None:
        return net
    return Sequential(*net.layers, fuse=fuse)


def _steps(model, loss, optimizer, X, y, fused: bool, n_steps: int, clock) -> float:
    """Mean seconds (by ``clock``) of ``n_steps`` training steps on random batches of 128:
    the fused step (fused forward, ``loss.forward_backward``) or the separate passes
    (forward, loss forward, loss backward, argmax), each with backward and the update."""
    gen = np.random.default_rng(0)
    x_buf = np.empty((128, X.shape[1]), X.dtype)
    params, grads = model.named_params(), model.named_grads()
    model.fuse = fused
    started = clock()
    for _ in range(n_steps):
        idx = gen.integers(0, len(X), 128)
        x = np.take(X, idx, axis=0, out=x_buf)
        t = y[idx]
        logits = model.forward(x)
        if fused:
            _, grad, _ = loss.forward_backward(logits, t)
        else:
            loss.forward(logits, t)
            np.count_nonzero(np.argmax(logits, axis=1) == t)
            grad = loss.backward()
        model.backward(grad, input_grad=False)
        optimizer.step(params, grads)
    return (clock() - started) / n_steps


def _step_table(X, y, rounds: int, n_steps: int) -> dict:
    """Interleaved rounds of fused and unfused steps; median per-step wall and thread time."""
    from softgrad.nn import CrossEntropyLoss
    from softgrad.optim import SGD

    model = _model(True)
    loss, optimizer = CrossEntropyLoss(), SGD(lr=0.01, momentum=0.9)
    _steps(model, loss, optimizer, X, y, True, 20, time.perf_counter)  # compile, warm up
    _steps(model, loss, optimizer, X, y, False, 20, time.perf_counter)
    figures = {(f, c): [] for f in (True, False) for c in ("wall", "thread")}
    for _ in range(rounds):
        for fused in (True, False):
            for name, clock in (("wall", time.perf_counter), ("thread", time.thread_time)):
                step = _steps(model, loss, optimizer, X, y, fused, n_steps, clock)
                figures[fused, name].append(step)
    return {key: statistics.median(v) * 1e6 for key, v in figures.items()}, model


def _epoch_us(X, y, epochs: int) -> tuple[float, float]:
    """Per step of ``fit`` with the tree's defaults: the median epoch's wall time (after the
    first) and the calling thread's CPU time over all epochs (after a warm-up fit), each
    divided by the steps per epoch."""
    from softgrad.nn import CrossEntropyLoss
    from softgrad.optim import SGD
    from softgrad.training import fit

    def run(n_epochs):
        return fit(
            _model(None), CrossEntropyLoss(), SGD(lr=0.01, momentum=0.9), X, y,
            epochs=n_epochs, batch_size=128, rng=0,
        )  # fmt: skip

    steps = -(-len(X) // 128)
    run(1)  # compile and warm up
    started = time.thread_time()
    history = run(epochs)
    cpu = (time.thread_time() - started) / (epochs * steps)
    return statistics.median(history.epoch_time) / steps * 1e6, cpu * 1e6


def _predict_ms(model, X, repeats=15) -> float:
    from softgrad.training import predict_proba

    predict_proba(model, X)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict_proba(model, X)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def _onnx_ms(model, X, repeats=15) -> float | None:
    try:
        import onnxruntime as ort

        from softgrad.onnx_export import export_onnx
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run():
        return [session.run(None, {name: X[i : i + 1024]}) for i in range(0, len(X), 1024)]

    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    import bench_cli
    import data as bench_data

    parser = bench_cli.Parser(prog="fused_step.py", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=bench_cli.positive_int, default=3)
    parser.add_argument("--rounds", type=bench_cli.positive_int, default=5)
    parser.add_argument("--steps", type=bench_cli.positive_int, default=200)
    parser.add_argument(
        "--lane", choices=("numba", "numpy"), default=None, help="default: SOFTGRAD_KERNELS's"
    )
    args = bench_cli.parse(parser, argv, fashion=True)
    from softgrad.datasets.mnist import load_fashion_mnist
    from softgrad.kernels import set_kernels
    from softgrad.nn import Sequential

    if args.lane:
        try:
            set_kernels(args.lane)
        except ImportError as error:  # numba not installed
            parser.error(str(error))
    print(bench_cli.header(), flush=True)  # after the lane is chosen: the one that runs
    data = load_fashion_mnist(bench_data.fashion_root())
    X = np.ascontiguousarray(data.X_train, dtype=np.float32) / np.float32(data.scale or 1)
    Xt = np.ascontiguousarray(data.X_test, dtype=np.float32) / np.float32(data.scale or 1)
    y = data.y_train.astype(np.intp)
    can_fuse = "fuse" in inspect.signature(Sequential).parameters
    wall, cpu = _epoch_us(X, y, args.epochs)
    print(f"fit, per step: wall {wall:.0f} us (median epoch), calling thread's CPU {cpu:.0f} us")
    if not can_fuse:
        return 0
    table, model = _step_table(X, y, args.rounds, args.steps)
    for fused in (True, False):
        print(
            f"step fused={fused}: wall {table[fused, 'wall']:.0f} us, "
            f"calling thread's CPU {table[fused, 'thread']:.0f} us"
        )
    for fused in (True, False):
        model.fuse = fused
        print(f"predict_proba 10k fuse={fused}: {_predict_ms(model, Xt):.2f} ms")
    onnx = _onnx_ms(model, Xt)
    print(f"onnxruntime 10k: {'n/a' if onnx is None else f'{onnx:.2f} ms'}")
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
