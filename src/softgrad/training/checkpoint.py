"""Checkpoints: everything a run needs to continue bit-identically, in one atomic .npz file.

A checkpoint holds the live weights, the optimizer's and schedule's state, the shuffling
generator's state (and that of any layer-owned generator, e.g. Dropout's), the validation split,
the history and the early-stopping state. Arrays go into the .npz; everything else into its JSON
metadata, where an array is referenced as ``{"__array__": "<key>"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from softgrad.errors import ModelFileError
from softgrad.training.history import History

FORMAT_VERSION = 1


def split_state(state: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON-safe copy of ``state``; its ndarrays move into ``arrays`` under ``prefix.<path>``.

    Example
    -------
    >>> arrays = {}
    >>> split_state({"lr": 0.1, "m": {"W": np.zeros(2)}}, "optim", arrays)
    {'lr': 0.1, 'm': {'W': {'__array__': 'optim.m.W'}}}
    >>> list(arrays)
    ['optim.m.W']
    """
    if isinstance(state, np.ndarray):
        arrays[prefix] = state
        return {"__array__": prefix}
    if isinstance(state, dict):
        return {str(k): split_state(v, f"{prefix}.{k}", arrays) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [split_state(v, f"{prefix}.{i}", arrays) for i, v in enumerate(state)]
    if isinstance(state, np.generic):
        return state.item()
    return state


def join_state(state: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`split_state` (lists stay lists)."""
    if isinstance(state, dict):
        if set(state) == {"__array__"}:
            return np.array(arrays[state["__array__"]])
        return {k: join_state(v, arrays) for k, v in state.items()}
    if isinstance(state, list):
        return [join_state(v, arrays) for v in state]
    return state


def layer_generators(model: Any) -> dict[str, np.random.Generator]:
    """Generators owned by the model's layers (e.g. Dropout's), keyed ``"<layer>.<attribute>"``."""
    found = {}
    for i, layer in enumerate(getattr(model, "layers", ())):
        for attr, value in vars(layer).items():
            if isinstance(value, np.random.Generator):
                found[f"{i}.{attr}"] = value
    return found


@dataclass
class Checkpoint:
    """The state of a run after a completed epoch (see :func:`save_checkpoint`)."""

    epoch: int
    params: dict[str, np.ndarray]
    optimizer: dict[str, Any]
    schedule: dict[str, Any] | None
    rng: dict[str, Any]
    layer_rngs: dict[str, Any]
    history: History
    stopper: dict[str, Any]
    val_idx: np.ndarray | None
    data: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | PathLike, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` atomically to ``path`` (serialization.write_npz, kind "checkpoint").

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> ckpt = Checkpoint(
    ...     epoch=2, params={"0.W": np.ones((2, 2), np.float32)}, optimizer={"lr": 0.1},
    ...     schedule=None, rng=np.random.default_rng(0).bit_generator.state, layer_rngs={},
    ...     history=History(), stopper={}, val_idx=None)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(Path(folder) / "run.npz", ckpt)
    ...     back = load_checkpoint(Path(folder) / "run.npz")
    >>> back.epoch, back.params["0.W"].dtype, back.rng == ckpt.rng
    (2, dtype('float32'), True)
    """
    from softgrad.serialization import write_npz

    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format": "softgrad-checkpoint",
        "version": FORMAT_VERSION,
        "epoch": ckpt.epoch,
        "params": split_state(dict(ckpt.params), "param", arrays),
        "optimizer": split_state(ckpt.optimizer, "optim", arrays),
        "schedule": split_state(ckpt.schedule, "sched", arrays),
        "rng": split_state(ckpt.rng, "rng", arrays),
        "layer_rngs": split_state(ckpt.layer_rngs, "layer_rng", arrays),
        "history": ckpt.history.to_dict(),
        "stopper": split_state(ckpt.stopper, "stop", arrays),
        "val_idx": split_state(ckpt.val_idx, "split.val_idx", arrays),
        "data": ckpt.data,
    }
    write_npz(path, arrays, meta, kind="checkpoint")


def load_checkpoint(path: str | PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; ModelFileError if it is not one.

    Examples
    --------
    ``fit(..., checkpoint=path)`` writes one after every epoch; ``fit(..., resume=path)``
    continues from it.

    >>> import tempfile
    >>> from pathlib import Path
    >>> from softgrad.nn import CrossEntropyLoss, build_mlp
    >>> from softgrad.optim import SGD
    >>> from softgrad.training import fit
    >>> X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> model = build_mlp(2, [4], 2, rng=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "run.npz"
    ...     _ = fit(model, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=3, rng=0, checkpoint=path)
    ...     ckpt = load_checkpoint(path)
    >>> ckpt.epoch, ckpt.history.epochs, sorted(ckpt.params), ckpt.data["n_samples"]
    (3, 3, ['0.W', '0.b', '2.W', '2.b'], 40)
    >>> all(np.array_equal(ckpt.params[k], v) for k, v in model.named_params().items())
    True
    """
    from softgrad.serialization import read_npz

    arrays, meta = read_npz(path, what="checkpoint")
    if meta.get("format") != "softgrad-checkpoint":
        raise ModelFileError(
            f"fit: resume must be a softgrad checkpoint file; got {str(path)!r}, which holds "
            f"{meta.get('format', 'no format marker')!r}"
        )
    try:
        return Checkpoint(
            epoch=int(meta["epoch"]),
            params=join_state(meta["params"], arrays),
            optimizer=join_state(meta["optimizer"], arrays),
            schedule=join_state(meta["schedule"], arrays),
            rng=join_state(meta["rng"], arrays),
            layer_rngs=join_state(meta["layer_rngs"], arrays),
            history=History.from_dict(meta["history"]),
            stopper=join_state(meta["stopper"], arrays),
            val_idx=join_state(meta["val_idx"], arrays),
            data=dict(meta["data"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"fit: resume must be a complete softgrad checkpoint; {str(path)!r} is missing or "
            f"has a malformed entry ({exc})"
        ) from None
