"""Data-parallel fits that the ranks refuse, run by
tests/distributed/test_mpi_refused_fit_changes_nothing.py under ``mpiexec -n N``.

``python mpi_refused.py OUT CASE...`` runs each CASE on every rank, from objects that have
trained already (a plain fit that wrote this rank's checkpoint, then one more epoch past it):
the refused ``fit(..., comm=world())``, then what it changed in the caller's objects (the
weights, the optimizer, the schedule, the batch-order policy, the layers' generators and fit's
generator), then the same fit with the mistake fixed, compared bit for bit with that fit made
by the same objects that never saw the refused one. Each rank writes ``OUT/<case>.rank<r>.json``:
``{"error": ..., "changed": [...], "retry_identical": bool}``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import Adam, StepLR
from softgrad.training import fit
from softgrad.training.distributed import world
from softgrad.training.run_checkpoint import layer_generators

N_SAMPLES, N_FEATURES, N_CLASSES = 203, 7, 3


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, N_CLASSES, size=N_SAMPLES)
    centers = rng.normal(scale=1.5, size=(N_CLASSES, N_FEATURES))
    return (centers[y] + rng.normal(size=(N_SAMPLES, N_FEATURES))).astype(np.float64), y


class _UsersOrder:
    """A user's batch-order policy, keeping its state where it likes: a ``random.Random``, a
    NumPy generator in a list, a count changed in place (fit can only ask it for its state)."""

    def __init__(self) -> None:
        self.random, self.generators, self.count = (
            random.Random(4),
            [np.random.default_rng(4)],
            np.zeros(1),
        )

    def order(self, train_idx: np.ndarray, generator: Any) -> np.ndarray:
        self.count += 1
        self.generators[0].random()
        order = list(train_idx)
        self.random.shuffle(order)
        return np.asarray(order)

    def state_dict(self) -> dict[str, Any]:
        state = self.generators[0].bit_generator.state
        return {"random": self.random.getstate(), "generator": state, "count": self.count.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        version, internal, gauss = state["random"]
        self.random.setstate((version, tuple(internal), gauss))
        self.generators[0].bit_generator.state = state["generator"]
        self.count[...] = state["count"]


def _trained(out: Path, rank: int) -> dict[str, Any]:
    """Objects that have trained, as a script holds them before it calls fit on every rank:
    a plain fit wrote this rank's checkpoint, one more epoch moved them past it."""
    X, y = _data()
    model = build_mlp(N_FEATURES, [16], N_CLASSES, dropout=0.2, rng=1, dtype=np.float64)
    optimizer = Adam(lr=0.01)
    parts = {
        "model": model,
        "optimizer": optimizer,
        "lr_schedule": StepLR(optimizer, step_size=1, gamma=0.9),
        "shuffle": _UsersOrder(),
        "rng": np.random.default_rng(5),
        "checkpoint": out / f"checkpoint{rank}.npz",
    }
    common = {key: parts[key] for key in ("lr_schedule", "shuffle")}
    common["validation_fraction"] = 0.2
    loss = CrossEntropyLoss()
    fit(model, loss, optimizer, X, y, epochs=1, rng=2, checkpoint=parts["checkpoint"], **common)
    fit(model, loss, optimizer, X, y, epochs=1, rng=3, **common)
    return parts


def _state(parts: dict[str, Any]) -> dict[str, Any]:
    """What a refused call must leave as it was."""
    model = parts["model"]
    return {
        "weights": {k: v.copy() for k, v in model.named_params().items()},
        "optimizer": parts["optimizer"].state_dict(),
        "schedule": parts["lr_schedule"].state_dict(),
        "batch order": parts["shuffle"].state_dict(),
        "layer generators": {
            key: (id(g), g.bit_generator.state) for key, g in layer_generators(model).items()
        },
        "fit's generator": parts["rng"].bit_generator.state,
    }


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _fit(parts: dict[str, Any], comm: Any, **changed: Any) -> None:
    """The fit every case makes (3 epochs from the checkpoint, a validation share), with
    ``changed`` arguments."""
    X, y = _data()
    kwargs = {
        "epochs": 3,
        "batch_size": 32,
        "validation_fraction": 0.2,
        "resume": parts["checkpoint"],
        "X": X,
        "y": y,
        **changed,
    }
    fit(
        parts["model"],
        CrossEntropyLoss(),
        parts["optimizer"],
        kwargs.pop("X"),
        kwargs.pop("y"),
        rng=parts["rng"],
        lr_schedule=parts["lr_schedule"],
        shuffle=parts["shuffle"],
        comm=comm,
        **kwargs,
    )


def _mistake(case: str, out: Path, rank: int, last: bool) -> dict[str, Any]:
    """The arguments of the refused call: on the last rank alone, or (batch size) on all."""
    if case == "resume_missing_on_one_rank" and last:
        return {"resume": out / "not-on-this-node.npz"}
    if case == "epochs_differ" and last:
        return {"epochs": 4}
    if case == "X_differs" and last:
        X = _data()[0]
        X[150, 3] += 1.0
        return {"X": X}
    if case == "batch_size_below_the_ranks":
        return {"batch_size": 1}
    if case == "no_resume_epochs_differ":
        return {"resume": None, **({"epochs": 4} if last else {})}
    return {}


def main(out: Path, cases: list[str]) -> int:
    comm = world()
    rank, last = comm.rank, comm.rank == comm.size - 1
    for case in cases:
        (out / case).mkdir(exist_ok=True)
        parts = _trained(out / case, rank)
        before = _state(parts)
        mistake = _mistake(case, out, rank, last)
        fixed = {"resume": None} if case.startswith("no_resume") else {}
        try:
            _fit(parts, comm, **mistake)
            error = None
        except Exception as exc:  # every rank raises the same error
            error = f"{type(exc).__name__}: {exc}"
        after = _state(parts)
        changed = [name for name in before if not _equal(before[name], after[name])]
        _fit(parts, comm, **fixed)
        clean = _trained(out / case, rank)  # the same objects, never given the refused call
        _fit(clean, comm, **fixed)
        # all but the layers' generators' identities (objects of their own in each run)
        retried, reference = _state(parts), _state(clean)
        for state in (retried, reference):
            state["layer generators"] = {k: s for k, (_, s) in state["layer generators"].items()}
        identical = _equal(retried, reference)
        result = {"error": error, "changed": changed, "retry_identical": bool(identical)}
        (out / f"{case}.rank{rank}.json").write_text(json.dumps(result))
    comm.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
