"""Tables of a training benchmark run: printed to the console and written into BENCHMARKS.md.

Only the text between ``<!-- training:begin -->`` and ``<!-- training:end -->`` is rewritten;
other sections of BENCHMARKS.md (ops, sklearn) are left byte for byte as they are. The
hand-written analysis in benchmarks/training_findings.md is copied in below the tables.
"""

from __future__ import annotations

import statistics
from pathlib import Path

BEGIN, END = "<!-- training:begin -->", "<!-- training:end -->"
HEADING = "# softgrad benchmarks\n"
TARGET_ACC = 0.88
PEER_TITLES = {
    "softgrad": "softgrad",
    "softgrad-uint8": "softgrad (uint8 set)",
    "pytorch": "PyTorch",
    "sklearn": "scikit-learn",
    "numpy-ref": "NumPy reference",
    "onnxruntime": "ONNX Runtime",
}


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def round_ratios(cfg, peer: str, warmup: int = 1, ours: str = "softgrad") -> list[float]:
    """softgrad / peer epoch by epoch (after the warm-up): each pair ran back to back."""
    sg, other = cfg.runs.get(ours), cfg.runs.get(peer)
    if sg is None or other is None:
        return []
    pairs = zip(sg.epoch_times[warmup:], other.epoch_times[warmup:], strict=True)
    return sorted(a / b for a, b in pairs)


def bound_ratios(cfg, warmup: int = 1) -> list[float]:
    """softgrad epoch / GEMM-only bound re-measured right after it, epoch by epoch."""
    sg = cfg.runs.get("softgrad")
    bounds = getattr(cfg, "bound_times", [])
    if sg is None or len(bounds) != len(sg.epoch_times):
        return []
    pairs = zip(sg.epoch_times[warmup:], bounds[warmup:], strict=True)
    return sorted(a / b for a, b in pairs)


# a round whose handoff probe took this much longer than the configuration's quickest one fell
# in a slow phase of the host (harness.HandoffProbe: slow phases gave 1.4x and more, quick
# rounds under 1.2x)
SLOW_PROBE = 1.3


def slow_rounds(cfg, warmup: int = 1) -> tuple[int, int] | None:
    """(how many rounds after the warm-up had a handoff probe over ``SLOW_PROBE`` times the
    configuration's quickest, how many rounds), or None without probes."""
    probes = getattr(cfg, "probe_times", [])[warmup:]
    if not probes:
        return None
    quickest = min(probes)
    return sum(p > SLOW_PROBE * quickest for p in probes), len(probes)


def _slow_rounds(cfg) -> str:
    counted = slow_rounds(cfg)
    return "-" if counted is None else f"{counted[0]} of {counted[1]}"


def _quartiles(ratios: list[float]) -> str:
    """`` (median; lower quartile-upper quartile)`` of at least 3 ratios, interpolated between
    neighbours as numpy.percentile does (the median of an even count is the mean of the two
    middle ratios, not the upper one)."""
    if len(ratios) < 3:
        return ""
    q1, q2, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return f" ({q2:.2f}; {q1:.2f}-{q3:.2f})"


def _round_ratios(cfg, peer: str, ours: str = "softgrad") -> str:
    return _quartiles(round_ratios(cfg, peer, ours=ours))


def epoch_table(configs, bounds) -> str:
    """One row per configuration: median epoch per peer, ratios, GEMM bound."""
    rows = []
    for cfg in configs:
        runs = cfg.runs
        med = {name: run.median_epoch() for name, run in runs.items()}
        sg = med.get("softgrad", med.get("numpy-ref"))
        bound = bounds.get((cfg.dataset, cfg.spec.hidden, cfg.spec.batch_size))
        rows.append(
            [
                f"{cfg.dataset} {cfg.spec.label}",
                _seconds(med.get("softgrad")),
                _seconds(med.get("pytorch")),
                _seconds(med.get("sklearn")),
                _seconds(med.get("numpy-ref")),
                _ratio(sg, med.get("pytorch")) + _round_ratios(cfg, "pytorch"),
                _ratio(med.get("softgrad-uint8"), med.get("pytorch"))
                + _round_ratios(cfg, "pytorch", "softgrad-uint8"),
                _ratio(sg, med.get("sklearn")) + _round_ratios(cfg, "sklearn"),
                _seconds(bound.seconds) if bound else "-",
                (_ratio(sg, bound.seconds) + _quartiles(bound_ratios(cfg))) if bound else "-",
                f"{100 * bound.seconds / sg:.0f} %" if bound and sg else "-",
                _slow_rounds(cfg),
            ]
        )
    return _table(
        [
            "config",
            "softgrad s",
            "PyTorch s",
            "sklearn s",
            "NumPy ref s",
            "softgrad / PyTorch",
            "softgrad uint8 / PyTorch",
            "softgrad / sklearn",
            "GEMM bound s",
            "softgrad / bound",
            "GEMM share",
            "slow rounds",
        ],
        rows,
    )


def detail_table(configs) -> str:
    """One row per (configuration, peer): samples/s, accuracy, time to TARGET_ACC."""
    rows = []
    for cfg in configs:
        for name, run in cfg.runs.items():
            med = run.median_epoch()
            to_acc = run.time_to(TARGET_ACC)
            epochs_to = run.epochs_to(TARGET_ACC)
            rows.append(
                [
                    f"{cfg.dataset} {cfg.spec.label}",
                    PEER_TITLES.get(name, name),
                    str(len(run.epoch_times)),
                    _seconds(med),
                    f"{cfg.n_train / med:,.0f}",
                    f"{run.test_acc[-1]:.4f}",
                    f"{run.final_accuracy():.4f}",
                    f"{max(run.test_acc):.4f}",
                    "-" if epochs_to is None else str(epochs_to),
                    "not reached" if to_acc is None else _seconds(to_acc),
                ]
            )
    return _table(
        [
            "config",
            "peer",
            "epochs",
            "median epoch s",
            "samples/s",
            "last test acc",
            "mean of last 3 ep.",
            "best test acc",
            f"epochs to {TARGET_ACC}",
            f"time to {TARGET_ACC} s",
        ],
        rows,
    )


def memory_table(records) -> str:
    """Peak memory per peer against the target of ``benchmarks/memory.py`` (``TARGET``)."""
    import memory  # beside this file: run.py puts benchmarks/ on the path

    rows = []
    for rec in records:
        budget = memory.TARGET * memory.budget_unit(rec)
        used = rec["peak_mib"] - rec["rss_imports_mib"]
        rows.append(
            [
                PEER_TITLES.get(rec["peer"], rec["peer"]),
                f"{rec['rss_imports_mib']:.0f}",
                f"{rec['rss_data_mib']:.0f}",
                f"{rec['peak_mib']:.0f}",
                f"{used:.0f}",
                f"{rec.get('held_mib', rec['train_set_mib']):.0f}",
                f"{used / memory.budget_unit(rec):.2f}x",
                f"{budget:.0f}",
            ]
        )
    return _table(
        [
            "peer",
            "RSS after imports MiB",
            "RSS with train set MiB",
            "peak RSS training MiB",
            "peak - imports MiB",
            "train set as held MiB",
            "x (float32 train set + model)",
            f"target MiB ({memory.TARGET}x)",
        ],
        rows,
    )


def inference_table(results) -> str:
    sg = next((r.seconds for r in results if r.peer == "softgrad"), None)
    rows = [
        [
            PEER_TITLES.get(r.peer, r.peer),
            f"{1000 * r.seconds:.1f}",
            f"{r.samples_per_s:,.0f}",
            _ratio(sg, r.seconds)
            + ("" if r.round_ratio is None else f" ({r.round_ratio:.2f} round by round)"),
            "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}",
        ]
        for r in results
    ]
    return _table(
        [
            "peer",
            "10,000 images ms",
            "samples/s",
            "softgrad time / peer time",
            "max |p - p_softgrad|",
        ],
        rows,
    )


def stage_table(epoch: float, stages: dict, n_steps: int) -> str:
    rows = [
        [
            stage,
            f"{seconds:.4f}",
            f"{100 * seconds / epoch:.1f} %",
            f"{1e6 * seconds / n_steps:.1f}",
        ]
        for stage, seconds in stages.items()
    ]
    return _table(["stage", "s / epoch", "share", "us / step"], rows)


def bound_table(bounds) -> str:
    rows = []
    for (dataset, hidden, batch), b in sorted(bounds.items()):
        detail = ", ".join(f"{k} {v:.3f}" for k, v in b.per_shape.items())
        rows.append(
            [
                f"{dataset} h{hidden} b{batch}",
                f"{b.gflop:.2f}",
                _seconds(b.seconds),
                f"{b.gflops:.0f}",
                detail,
            ]
        )
    return _table(["shapes", "GFLOP / epoch", "bound s", "GFLOP/s", "per product s"], rows)


def markers_problem(path: Path) -> str | None:
    """What keeps :func:`write_section` from rewriting ``path``, or None: the file must hold
    both training markers once, in order, or neither (a missing file is fine). With one of
    them gone, the section's end is unknown: the rewrite would append a second training
    section below the first instead of replacing it."""
    if not path.exists():
        return None
    text = path.read_text()
    counts = text.count(BEGIN), text.count(END)
    if counts == (0, 0):
        return None
    if counts != (1, 1) or text.index(BEGIN) > text.index(END):
        return (
            f"{path} must hold the markers {BEGIN} and {END} once each, in that order, or "
            f"neither; it holds {counts[0]} and {counts[1]} (put the missing one back around "
            "the training section)"
        )
    return None


def write_section(path: Path, body: str) -> None:
    """Replace the text between the training markers (creating file/markers if absent).

    Raises
    ------
    ValueError
        The file holds one marker without the other, or either twice (:func:`markers_problem`).
    """
    problem = markers_problem(path)
    if problem is not None:
        raise ValueError(problem)
    block = f"{BEGIN}\n{body.rstrip()}\n{END}"
    if path.exists():
        text = path.read_text()
    else:
        text = HEADING
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
