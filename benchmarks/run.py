"""The training benchmark suite: softgrad against PyTorch CPU and scikit-learn, in one command.

    python benchmarks/run.py            # full run (< 10 min on 2 cores), rewrites BENCHMARKS.md
    python benchmarks/run.py --quick    # a smoke run of every part (about a minute)
    python benchmarks/run.py --epochs 15 --sizes 100 256 --batches 32 64 512 --no-write

Workload: Fashion-MNIST (60,000 x 784 train, 10,000 test, [0, 1] float32), the network
784-H-10 (Linear, ReLU, Linear, softmax cross-entropy) for H in --sizes, batch 128 with SGD
(momentum 0.9) and Adam, a batch-size sweep (--batches) with SGD at H=100, and the 8x8 digits
(64-100-10) as the small case. Peers train interleaved epoch by epoch in this one process with
the same thread count as NumPy's BLAS. Then: the GEMM-only lower bound of each shape, peak RSS
per peer (subprocesses), inference throughput (plus ONNX Runtime) and where softgrad's epoch
goes (stage profile). Prints every table and rewrites the "Training" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_cli  # noqa: E402
import data  # noqa: E402
import gemm_bound  # noqa: E402
import harness  # noqa: E402
import inference  # noqa: E402
import machine  # noqa: E402
import memory  # noqa: E402
import profile_step  # noqa: E402
import report  # noqa: E402
import sections  # noqa: E402
import targets  # noqa: E402
from peers import RunSpec, softgrad_available  # noqa: E402

LR = {"sgd": 0.03, "adam": 1e-3}
FINDINGS = HERE / "training_findings.md"


PEER_CHOICES = ("softgrad", "pytorch", "sklearn", "numpy-ref")
PEER_MODULES = {"pytorch": "torch", "sklearn": "sklearn"}  # optional peers: what they import
N_FASHION_TRAIN = 60_000


def parse_args(argv=None) -> argparse.Namespace:
    """The run's arguments, every one checked before any work (a bad one: one line, exit 2).

    ``args.notes`` says what the run changed on its own: a default peer that is not installed
    is left out (a peer named in --peers must be installed), softgrad is replaced by the NumPy
    reference when it cannot be imported.
    """
    parser = bench_cli.Parser(
        prog="run.py",
        description="softgrad training benchmarks against PyTorch CPU and scikit-learn",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of every part: 3 epochs, h100, a one-size batch sweep (512)",
    )
    count, size = bench_cli.positive_int, bench_cli.positive_int
    parser.add_argument(
        "--epochs", type=count, default=None, help="epochs of the batch-128 runs (default 15)"
    )
    parser.add_argument(
        "--sweep-epochs", type=count, default=None, help="epochs of the batch sweep (default 4)"
    )
    parser.add_argument(
        "--sizes", type=size, nargs="+", default=None, help="hidden sizes (default 100 256)"
    )
    parser.add_argument(
        "--batches",
        type=size,
        nargs="*",
        default=None,
        help="sweep batch sizes, SGD at H=100 (default 32 64 512; none: no sweep)",
    )
    parser.add_argument(
        "--peers",
        nargs="+",
        choices=PEER_CHOICES,
        default=None,
        help="default: softgrad pytorch sklearn (those installed)",
    )
    parser.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="leave out the hand-fused NumPy step (benchmarks/peers.py) and the two-thread step "
        "(benchmarks/threaded_ref.py) in the batch-128 runs",
    )
    parser.add_argument(
        "--threads",
        type=bench_cli.positive_int,
        default=None,
        help="threads for every peer: NumPy's BLAS (scikit-learn's too), softgrad's kernels, "
        "PyTorch, ONNX Runtime (default: the BLAS's own count). 1 measures one core, where no "
        "product is split between cores; the two-thread reference is then left out",
    )
    parser.add_argument("--no-write", action="store_true", help="do not rewrite --output")
    parser.add_argument(
        "--json", type=bench_cli.output_file, default=None, help="also dump raw figures here"
    )
    parser.add_argument(
        "--output",
        default=str(HERE.parent / "BENCHMARKS.md"),
        help="the Markdown file whose training section is rewritten (default BENCHMARKS.md)",
    )
    args = parser.parse_args(argv)
    _complete(parser, args)
    return args


def _complete(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill the defaults and refuse what cannot run (see :func:`parse_args`)."""
    quick, args.notes = args.quick, []
    if args.epochs is None:
        args.epochs = 3 if quick else 15
    if args.sweep_epochs is None:
        args.sweep_epochs = 2 if quick else 4
    if args.sizes is None:
        args.sizes = [100] if quick else [100, 256]
    if args.batches is None:
        args.batches = [512] if quick else [32, 64, 512]
    too_big = [b for b in args.batches if b > N_FASHION_TRAIN]
    if too_big:
        parser.error(
            f"argument --batches: a batch must be at most the {N_FASHION_TRAIN:,} training "
            f"images; got {too_big[0]}"
        )
    bench_cli.check_output(parser, args, section="training")
    named = args.peers is not None
    args.peers = list(dict.fromkeys(args.peers or ["softgrad", "pytorch", "sklearn"]))
    absent = {p: m for p, m in PEER_MODULES.items() if p in args.peers and bench_cli.missing(m)}
    if absent and named:
        peer, module = next(iter(absent.items()))
        parser.error(f"peer {peer} needs {module}, which is not installed")
    for peer, module in absent.items():
        args.peers.remove(peer)
        args.notes.append(f"{peer} left out: {module} is not installed")
    if "softgrad" in args.peers and not softgrad_available():
        args.peers = ["numpy-ref" if p == "softgrad" else p for p in args.peers]
        args.notes.append("softgrad is not importable: the NumPy reference runs in its place")
    if not args.peers:
        parser.error("no peer left to run")
    # the two-thread reference's imports (Numba is softgrad's; SciPy and threadpoolctl come with
    # scikit-learn and the bench extra)
    args.threads_ref = args.reference and not bench_cli.missing("numba", "scipy", "threadpoolctl")
    if args.reference and not args.threads_ref:
        args.notes.append("the two-thread reference left out: it needs numba, scipy, threadpoolctl")
    if args.threads == 1 and args.threads_ref:  # it runs two threads, whatever --threads says
        args.threads_ref = False
        args.notes.append("the two-thread reference left out: --threads 1")
    if args.threads is not None and bench_cli.missing("threadpoolctl"):
        parser.error("argument --threads: needs threadpoolctl, which is not installed")
    bench_cli.check_kernels(parser)
    bench_cli.fashion_root(parser)


def plan(args) -> list[tuple[str, RunSpec, int]]:
    """(dataset, spec, epochs) of every training configuration, in run order."""
    runs = []
    for hidden in args.sizes:
        for optimizer in ("sgd", "adam"):
            runs.append(
                ("fashion-mnist", RunSpec(hidden, 128, optimizer, LR[optimizer]), args.epochs)
            )
    for batch in args.batches:
        runs.append(("fashion-mnist", RunSpec(100, batch, "sgd", LR["sgd"]), args.sweep_epochs))
    runs.append(("digits", RunSpec(100, 128, "sgd", LR["sgd"]), 5 if args.quick else 20))
    return runs


def log(message: str) -> None:
    print(message, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    with machine.held_threads(args.threads):
        return _run(args, argv)


def _run(args: argparse.Namespace, argv) -> int:
    """The whole run of :func:`main`, with the threads ``--threads`` holds."""
    started = time.perf_counter()
    threads = machine.blas_threads()
    if "pytorch" in args.peers:
        import torch

        torch.set_num_threads(threads)
    info = machine.describe()
    command = "python benchmarks/run.py" + (" " + shlex.join(argv) if argv else "")
    if argv is None and sys.argv[1:]:
        command = "python benchmarks/run.py " + shlex.join(sys.argv[1:])
    log(bench_cli.header(info))
    log(
        f"peers: {args.peers}; threads per peer: {threads}; PyTorch {info['torch']}, "
        f"scikit-learn {info['scikit-learn']}, ONNX Runtime {info['onnxruntime']}"
    )
    for note in args.notes:
        log(f"note: {note}")

    fashion = data.load_fashion()
    digits = data.load_digits_split()
    sets = {"fashion-mnist": fashion, "digits": digits}

    configs = []
    for dataset, spec, epochs in plan(args):
        peer_names = list(args.peers)
        if args.reference and spec.batch_size == 128 and "numpy-ref" not in peer_names:
            peer_names.append("numpy-ref")
            if dataset == "fashion-mnist" and args.threads_ref:
                peer_names.append("threads-ref")
        if dataset == "fashion-mnist" and "softgrad" in peer_names:
            # what `softgrad train` runs on an image set: the pixels kept as uint8
            # right after softgrad, which stays the first peer with train(): the one fit()
            # call that drives the interleaving (harness.run_config)
            peer_names.insert(peer_names.index("softgrad") + 1, "softgrad-uint8")
        log(f"training {dataset} {spec.label} lr {spec.lr} for {epochs} epochs: {peer_names}")
        bench = sets[dataset]

        def quick_bound(bench=bench, spec=spec) -> float:
            return gemm_bound.epoch_bound(
                len(bench.X_train),
                spec.batch_size,
                bench.n_features,
                spec.hidden,
                bench.n_classes,
                repeats=3,
                per_shape=False,
            ).seconds

        configs.append(
            harness.run_config(bench, spec, peer_names, epochs, log=log, bound=quick_bound)
        )

    bounds = {}
    for dataset, spec, _ in plan(args):
        key = (dataset, spec.hidden, spec.batch_size)
        if key not in bounds:
            harness.settle()
            bench = sets[dataset]
            full = gemm_bound.epoch_bound(
                len(bench.X_train), spec.batch_size, bench.n_features, spec.hidden, bench.n_classes
            )
            quick = [
                seconds
                for c in configs
                if (c.dataset, c.spec.hidden, c.spec.batch_size) == key
                for seconds in c.bound_times
            ]
            bounds[key] = full.lowest(quick)
            log(
                f"GEMM bound {key}: {bounds[key].seconds:.3f} s ({bounds[key].gflops:.0f} GFLOP/s; "
                f"measured at the end {full.seconds:.3f} s)"
            )

    log("inference throughput")
    sg_name = "softgrad" if "softgrad" in args.peers else None
    inf_spec = RunSpec(args.sizes[0], 128, "adam", LR["adam"])
    inf_cfg = next(
        (c for c in configs if c.spec == inf_spec and c.dataset == "fashion-mnist"), None
    )
    trained = harness.trained_peers(inf_cfg) if inf_cfg else {}
    inf_results, onnx_how = inference.measure(trained, fashion.X_test, threads)
    if "onnxruntime" not in {r.peer for r in inf_results}:
        log(f"note: ONNX Runtime {onnx_how}")

    log("peak memory (subprocesses)")
    mem_records = memory.measure(
        [p for p in args.peers if p != "numpy-ref"] or args.peers,
        hidden=args.sizes[0],
        batch_size=128,
        optimizer="sgd",
        lr=LR["sgd"],
        epochs=1,
    )

    stages = None
    if sg_name:
        log("stage profile of softgrad's epoch")
        prof_spec = RunSpec(args.sizes[0], 128, "sgd", LR["sgd"])
        stages = profile_step.stage_breakdown(
            fashion.X_train, fashion.y_train, fashion.n_classes, prof_spec
        )
    info["load_average_end"] = machine.load_average()
    elapsed = time.perf_counter() - started

    body = render(args, info, command, configs, bounds, inf_results, onnx_how, mem_records, stages)
    body += f"\nWhole run: {elapsed:.0f} s.\n"
    print()
    print(body)
    if not args.no_write:
        sections.write_section(args.output, "training", body)
        log(f"rewrote the training section of {args.output}")
    if args.json:
        dump = {
            "machine": info,
            "configs": [
                {
                    "dataset": c.dataset,
                    "spec": c.spec.__dict__,
                    "runs": {n: r.__dict__ for n, r in c.runs.items()},
                    # the quick bound after each round, paired with that round's epochs
                    "bound_times": c.bound_times,
                    "probe_times": c.probe_times,
                }
                for c in configs
            ],
            "bounds": {str(k): b.__dict__ for k, b in bounds.items()},
            "inference": [r.__dict__ for r in inf_results],
            "memory": mem_records,
        }
        args.json.write_text(json.dumps(dump, indent=1, default=str))
    return 0


def render(args, info, command, configs, bounds, inf_results, onnx_how, mem_records, stages):
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fashion_cfgs = [c for c in configs if c.dataset == "fashion-mnist"]
    other_cfgs = [c for c in configs if c.dataset != "fashion-mnist"]
    lines = [
        "## Training",
        "",
        f"Last run: {today}, `{command}`"
        + (" (quick smoke run: too few epochs for stable figures)" if args.quick else ""),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, "
        f"NumPy {info['numpy']} with {info['blas']}; softgrad kernels: {info['kernels']}; "
        f"PyTorch {info['torch']} "
        f"({machine.threads_text(machine.blas_threads())}, set to NumPy's BLAS count); "
        f"scikit-learn {info['scikit-learn']}; ONNX Runtime {info['onnxruntime']}; "
        f"{' / '.join(machine.ENV_KEYS)}: {bench_cli.env_text(info['env'])}. Load average at "
        "start "
        f"{info['load_average']}, at end {info['load_average_end']}.",
        "",
        "Workload: 784-H-10 MLP (Linear, ReLU, Linear, softmax cross-entropy), float32 inputs in "
        "[0, 1], Glorot-uniform weights (softgrad and PyTorch start from the same arrays; "
        "scikit-learn draws its own from the same distribution), SGD momentum 0.9 (no Nesterov) "
        f"lr {LR['sgd']} or Adam lr {LR['adam']}, no weight decay, shuffled every epoch. Peers "
        "train interleaved epoch by epoch in one process; epoch time = median over the epochs "
        "after the first (warm-up); test accuracy is measured after each epoch, outside the "
        "timed region. softgrad trains with one `fit(..., epochs=N)` call; PyTorch idiomatically "
        "(preloaded tensors, `torch.randperm` indices, `F.cross_entropy`, `torch.optim`); "
        "scikit-learn's `MLPClassifier` with one `partial_fit` per epoch (exactly one pass, "
        "`alpha=0`, constant lr, no early stopping).",
        "",
        "### Epoch time, ratios and the GEMM-only bound",
        "",
        report.epoch_table(configs, bounds),
        "",
        "softgrad / peer below 1 means softgrad is faster: the ratio of the medians, then in "
        "brackets the median and interquartile range of the epoch-by-epoch ratios (each pair of "
        "epochs ran back to back, so load that comes and goes moves both). softgrad / bound: "
        "against the bound (next sections: the lowest of its measurement at the end of the run "
        "and the quick ones after every round), then in brackets "
        "the same statistics of softgrad's epochs against a quick bound re-measured right "
        "after each of them (3 repeats instead of 15, so a little higher). GEMM share = bound "
        "/ softgrad epoch. Slow rounds: rounds of epochs (after the warm-up) before or after "
        "which the handoff probe (`harness.HandoffProbe`: a batch gathered on one core, then "
        "read by both BLAS threads) took over 1.3x the quickest probe of its data set in the "
        "run: the "
        "host's slow phases, which slow every peer's epoch (softgrad's most) and the bound "
        "little. The targets below give the figures over the quick rounds beside those over all "
        "rounds; the status is the one over all rounds. "
        "NumPy ref = the same step hand-written inside the benchmark (`NumpyRefPeer` in "
        "benchmarks/peers.py: preallocated buffers, fused softmax-CE gradient, no loss value, "
        "no accuracy, no checks), a yardstick for how much of softgrad's time is layering. "
        "2-thread ref = the step as two threads each running half of every batch in one "
        "compiled function on one BLAS thread, exchanging gradients once a step, on the pixel "
        "bytes scaled as they are gathered (benchmarks/threaded_ref.py), a yardstick for what "
        "that structure would gain here.",
        "",
        "### Throughput, accuracy and time to 0.88 test accuracy",
        "",
        report.detail_table(fashion_cfgs),
        "",
    ]
    if other_cfgs:
        lines += [report.detail_table(other_cfgs), ""]
    lines += ["### Targets (issue 11)", ""]
    if args.threads is not None and args.threads != info["cores"]:
        lines += [
            f"This run held every peer to {machine.threads_text(args.threads)} (`--threads "
            f"{args.threads}`) on {info['cores']} cores; the issue's targets are for runs on every "
            "core, so these statuses describe this configuration only.",
            "",
        ]
    lines += [
        targets.targets_table(configs, bounds, mem_records, inf_results),
        "",
        "### GEMM-only lower bound (NumPy float32, this machine)",
        "",
        "Per batch: x @ W1, h @ W2, h^T @ d2, d2 @ W2^T, x^T @ d1 (no input gradient), the "
        "last short batch included; each product timed in NumPy's BLAS on preallocated operands "
        "laid out as in training (`benchmarks/gemm_bound.py`). The bound is the lowest of the "
        "full measurement at the end of the run (15 repeats; the per-product split is its) and "
        "the quick ones taken after every round of epochs (3 repeats): the host's slow phases "
        "hold for seconds at a time, and one measurement can fall inside one.",
        "",
        report.bound_table(bounds),
        "",
        "### Peak memory while training (Fashion-MNIST, h"
        f"{args.sizes[0]} b128 SGD, one epoch, one subprocess per peer)",
        "",
        report.memory_table(mem_records),
        "",
        "Peak RSS is read from VmHWM after resetting it once the data is loaded, so it covers "
        "training only; 'peak - imports' excludes the interpreter, library code and what each "
        "library allocates at its first use (every peer trains 3 steps on stand-in rows before "
        "the imports reading).",
        "",
        "### Inference: predict_proba on the 10,000 test images, batch 1,024",
        "",
        report.inference_table(inf_results),
        "",
        (
            f"ONNX Runtime runs the trained softgrad network exported by {onnx_how}"
            if not onnx_how.startswith("not run")
            else f"ONNX Runtime: {onnx_how}"
        )
        + "; scikit-learn "
        "predicts the whole array in one call (no batch argument), and so do the NumPy "
        "reference and the two-thread reference (one product over all rows, which is faster "
        "than ten of 1,024 rows: read their rows as the layering's cost plus that). The "
        "probabilities of ONNX Runtime and of softgrad on the uint8 set (the same weights) are "
        "compared with softgrad's. The peers ran in 15 "
        "interleaved rounds; in brackets, the median over the rounds of softgrad's time over "
        "the peer's in the same round.",
        "",
    ]
    if stages is not None:
        epoch, table = stages
        n_steps = -(-60_000 // 128)
        lines += [
            f"### Where softgrad's epoch goes (h{args.sizes[0]} b128 SGD, one epoch "
            f"{epoch:.3f} s, perf_counter stages)",
            "",
            report.stage_table(epoch, table, n_steps),
            "",
        ]
        lines += targets.budget_lines(configs, bounds, table, n_steps, args.sizes[0])
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().strip(), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
