"""Tables of a training benchmark run: printed to the console and written into BENCHMARKS.md.

run.py writes them between ``<!-- training:begin -->`` and ``<!-- training:end -->``
(:func:`sections.write_section`); other sections of BENCHMARKS.md (ops, sklearn) are left
byte for byte as they are. The hand-written analysis in benchmarks/training_findings.md is
copied in below the tables.
"""

from __future__ import annotations

import statistics

TARGET_ACC = 0.88
PEER_TITLES = {
    "softgrad": "softgrad",
    "softgrad-uint8": "softgrad (uint8 set)",
    "pytorch": "PyTorch",
    "sklearn": "scikit-learn",
    "numpy-ref": "NumPy reference",
    "threads-ref": "two-thread reference",
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


def _rounds(times: list[float], warmup: int, rounds: list[int] | None) -> list[float]:
    """``times`` after the warm-up, or only those of ``rounds`` (indices into ``times``)."""
    return times[warmup:] if rounds is None else [times[i] for i in rounds]


def round_ratios(
    cfg, peer: str, warmup: int = 1, ours: str = "softgrad", rounds: list[int] | None = None
) -> list[float]:
    """softgrad / peer epoch by epoch (after the warm-up, or in ``rounds`` only): each pair ran
    back to back."""
    sg, other = cfg.runs.get(ours), cfg.runs.get(peer)
    if sg is None or other is None:
        return []
    pairs = zip(
        _rounds(sg.epoch_times, warmup, rounds),
        _rounds(other.epoch_times, warmup, rounds),
        strict=True,
    )
    return sorted(a / b for a, b in pairs)


def bound_ratios(cfg, warmup: int = 1, rounds: list[int] | None = None) -> list[float]:
    """softgrad epoch / GEMM-only bound re-measured right after it, epoch by epoch (after the
    warm-up, or in ``rounds`` only)."""
    sg = cfg.runs.get("softgrad")
    bounds = getattr(cfg, "bound_times", [])
    if sg is None or len(bounds) != len(sg.epoch_times):
        return []
    pairs = zip(
        _rounds(sg.epoch_times, warmup, rounds), _rounds(bounds, warmup, rounds), strict=True
    )
    return sorted(a / b for a, b in pairs)


def median_epoch(run, rounds: list[int] | None = None) -> float:
    """A peer's median epoch after the warm-up, or over ``rounds`` only."""
    return (
        run.median_epoch()
        if rounds is None
        else statistics.median(_rounds(run.epoch_times, 0, rounds))
    )


# a round with a handoff probe on either side this much longer than the quickest one of its data
# set in the run fell (partly) in a slow phase of the host (harness.HandoffProbe: slow phases
# gave 1.4x and more, quick rounds under 1.2x)
SLOW_PROBE = 1.3


def quickest_probes(configs, warmup: int = 1) -> dict[str, float]:
    """Each data set's quickest handoff probe over every configuration of the run (after their
    warm-ups). The probe's work depends on the data set alone, so a configuration that ran
    wholly inside a slow phase shows against the others' quick rounds; its own quickest would
    have counted every round of it as quick."""
    quickest: dict[str, float] = {}
    for cfg in configs:
        probes = getattr(cfg, "probe_times", [])[warmup:]
        if probes:
            quickest[cfg.dataset] = min(quickest.get(cfg.dataset, float("inf")), min(probes))
    return quickest


def quick_rounds(cfg, quickest: float | None = None, warmup: int = 1) -> list[int] | None:
    """The rounds after the warm-up (indices into the epoch lists) that began and ended in a
    quick phase: the probes on both sides of the round (the one after the round before, and its
    own) took at most ``SLOW_PROBE`` times ``quickest`` (:func:`quickest_probes` of the run;
    the configuration's own quickest when None). None without probes.

    Both sides, because a phase can begin or end inside a round: in a full run a round whose
    own probe was quick held epochs 2.2x as slow as the quick ones, after a slow probe."""
    probes = getattr(cfg, "probe_times", [])
    if len(probes) <= warmup:
        return None
    limit = SLOW_PROBE * (min(probes[warmup:]) if quickest is None else quickest)
    first = max(warmup, 1)  # the first round has no probe before it: it counts as slow
    return [i for i in range(first, len(probes)) if max(probes[i - 1], probes[i]) <= limit]


def slow_rounds(cfg, quickest: float | None = None, warmup: int = 1) -> tuple[int, int] | None:
    """(how many rounds after the warm-up were not :func:`quick_rounds`, how many rounds), or
    None without probes."""
    quick = quick_rounds(cfg, quickest, warmup)
    if quick is None:
        return None
    counted = len(cfg.probe_times) - warmup
    return counted - len(quick), counted


def _slow_rounds(cfg, quickest: float | None = None) -> str:
    counted = slow_rounds(cfg, quickest)
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
    quickest = quickest_probes(configs)
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
                _seconds(med.get("threads-ref")),
                _ratio(sg, med.get("pytorch")) + _round_ratios(cfg, "pytorch"),
                _ratio(med.get("softgrad-uint8"), med.get("pytorch"))
                + _round_ratios(cfg, "pytorch", "softgrad-uint8"),
                _ratio(sg, med.get("sklearn")) + _round_ratios(cfg, "sklearn"),
                _seconds(bound.seconds) if bound else "-",
                (_ratio(sg, bound.seconds) + _quartiles(bound_ratios(cfg))) if bound else "-",
                f"{100 * bound.seconds / sg:.0f} %" if bound and sg else "-",
                _slow_rounds(cfg, quickest.get(cfg.dataset)),
            ]
        )
    return _table(
        [
            "config",
            "softgrad s",
            "PyTorch s",
            "sklearn s",
            "NumPy ref s",
            "2-thread ref s",
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
        measured = b.seconds if b.measured is None else b.measured
        rows.append(
            [
                f"{dataset} h{hidden} b{batch}",
                f"{b.gflop:.2f}",
                _seconds(b.seconds),
                f"{b.gflops:.0f}",
                _seconds(measured),
                "-" if b.quick is None else _seconds(b.quick),
                detail,
            ]
        )
    headers = ["shapes", "GFLOP / epoch", "bound s", "GFLOP/s", "full measurement s"]
    headers += ["lowest quick s", "per product s (full measurement)"]
    return _table(headers, rows)
