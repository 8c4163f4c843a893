"""``softgrad gradcheck``: check every layer, loss and a small network against finite differences.

Each case runs :func:`softgrad.gradcheck.gradcheck` in float64 (central differences of
``sum(g * f(x))`` for a random cotangent g) on the input and every parameter; the softmax
Jacobian is also checked against its invariants. The table shows the worst errors per case; the
exit status is 1 when any case fails.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.cli.output import print_json, table
from softgrad.cli.parser import nonnegative_int

N, D, C = 4, 5, 3  # small shapes: every entry costs two forward passes


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "gradcheck",
        help="check every layer's gradients against finite differences",
        description="Run the float64 gradient checker over every layer, every loss and a small "
        "network; print the largest errors; exit 1 if any gradient is wrong.",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the test points")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def _away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal draws pushed at least 0.1 from 0, so ReLU's kink is never inside a difference."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


def cases(seed: int) -> list[tuple[str, Callable[[], Any]]]:
    """``(name, thunk)`` pairs; each thunk returns a GradcheckResult."""
    from softgrad import functional as F
    from softgrad import nn
    from softgrad.gradcheck import check_softmax_jacobian, gradcheck

    rng = np.random.default_rng(seed)
    x = _away_from_zero(rng, (N, D))
    logits = rng.standard_normal((N, C))
    target = rng.integers(0, C, size=N)

    def layer(name: str, f: Any, inputs: np.ndarray, **kw: Any) -> tuple[str, Callable[[], Any]]:
        return name, lambda: gradcheck(f, inputs, rng=seed, name=name, **kw)

    model = nn.build_mlp(D, [6], C, activation="tanh", rng=seed, dtype=np.float64)
    return [
        layer("Linear", nn.Linear(D, C, rng=seed, dtype=np.float64), x),
        layer("ReLU", nn.ReLU(), x),
        layer("Tanh", nn.Tanh(), x),
        layer("Sigmoid", nn.Sigmoid(), x),
        layer("Identity", nn.Identity(), x),
        layer("Softmax", nn.Softmax(), logits),
        layer("LogSoftmax", nn.LogSoftmax(), logits),
        layer("Dropout(p=0.5)", nn.Dropout(0.5, rng=seed), x),
        layer("CrossEntropyLoss", nn.CrossEntropyLoss(), logits, target=target),
        layer(
            "CrossEntropyLoss(label_smoothing=0.1)",
            nn.CrossEntropyLoss(label_smoothing=0.1),
            logits,
            target=target,
        ),
        layer("NLLLoss(log_input=True)", nn.NLLLoss(), F.log_softmax(logits), target=target),
        layer(
            "NLLLoss(log_input=False)",
            nn.NLLLoss(log_input=False),
            F.softmax(logits),
            target=target,
        ),
        layer(f"MLP {D}-6-{C} tanh", model, x),
        ("softmax_jacobian", lambda: check_softmax_jacobian(logits, rng=seed)),
    ]


def run(args: argparse.Namespace) -> int:
    results = [(name, thunk()) for name, thunk in cases(args.seed)]
    failed = [name for name, r in results if not r.ok]
    if args.json:
        print_json(
            {"ok": not failed, "failed": failed, "results": [r.as_dict() for _, r in results]}
        )
        return 1 if failed else 0
    rows = []
    for name, r in results:
        checked = ", ".join(c.name for c in r.checks)
        worst = r.worst
        where = "" if worst is None or worst.ok else f" (worst: {worst.name} {worst.worst_index})"
        rows.append(
            [
                name,
                checked,
                f"{r.max_abs_err:.2e}",
                f"{r.max_rel_err:.2e}",
                ("ok" if r.ok else "FAIL") + where,
            ]
        )
    print(
        table(
            ["case", "checked", "max abs err", "max rel err", "result"],
            rows,
            right=[False, False, True, True, False],
        )
    )
    print()
    if failed:
        print(f"{len(failed)} of {len(results)} cases FAILED: {', '.join(failed)}")
        return 1
    print(f"all {len(results)} cases passed (float64 central differences, eps 1e-6)")
    return 0
