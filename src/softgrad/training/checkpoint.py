"""Checkpoints: everything a run needs to continue bit-identically, in one atomic .npz file.

A checkpoint holds the live weights, the optimizer's and schedule's state, the shuffling
generator's state (and that of any layer-owned generator, e.g. Dropout's, on every rank of a
data-parallel run, and of a stateful batch-order policy), the validation split, the history
and the early-stopping state. Arrays go into the .npz; everything else into its JSON
metadata, where an array is referenced as ``{"__array__": "<key>"}``. This module is the file:
:class:`Checkpoint`, :func:`save_checkpoint` and :func:`load_checkpoint`, which refuses a file
it cannot trust. A run's state goes into a checkpoint and back in
:mod:`softgrad.training.run_checkpoint` (``snapshot``, ``resume_run``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from softgrad.errors import ModelFileError
from softgrad.training.history import History

# 2: the history's lists are arrays beside the header (1: JSON lists in it, which a run of
# thousands of epochs re-encoded at every checkpoint: 16 ms an epoch at 3,000 epochs)
FORMAT_VERSION = 2
#: the checkpoint format versions load_checkpoint reads (the outer .npz format has its own)
READABLE_VERSIONS = (1, 2)


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


def join_state(state: Any, arrays: dict[str, np.ndarray], taken: set[str] | None = None) -> Any:
    """Inverse of :func:`split_state` (lists stay lists).

    ``taken``: None copies every array. A set gives each array itself and records the keys
    given: what :func:`load_checkpoint` does with the arrays it has just read, which nothing
    else holds (a copy of each doubled the peak of loading a checkpoint). A key named again
    is refused (ValueError) before anything is copied: :func:`split_state` names each array
    once, and a file naming one stored array N times cost N copies of it (a 16 MB array of
    zeros, deflated to 16 KB and named 2,000 times in a 100 KB file, ran out of memory).
    """
    if isinstance(state, dict):
        if set(state) == {"__array__"}:
            key = state["__array__"]
            if taken is None:
                return np.array(arrays[key])
            if key in taken:
                raise ValueError(f"array {key!r} must be named once; got a second reference to it")
            taken.add(key)
            return arrays[key]
        return {k: join_state(v, arrays, taken) for k, v in state.items()}
    if isinstance(state, list):
        return [join_state(v, arrays, taken) for v in state]
    return state


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
    order: dict[str, Any] | None = None
    # a data-parallel run's layer generator states, one dict per rank (rank 0's also in
    # layer_rngs); None for a plain run
    rank_layer_rngs: list[dict[str, Any]] | None = None
    # the settings the caller ran with (JSON-safe; fit's checkpoint_settings), so that a resumed
    # run can honour or refuse changed ones; None when not given (and in older checkpoints)
    settings: dict[str, Any] | None = None
    # the file it was read from (load_checkpoint), for messages naming it
    source: str | None = None
    # read by load_checkpoint(..., single_use=True): the run that resumes from it takes its
    # optimizer state's arrays as its own (they change as it trains), so it resumes one run.
    # The token is shared by its shallow copies (copy.copy, dataclasses.replace), which hold
    # the same arrays: one run takes them; a deep copy has arrays and a token of its own
    handover: HandOver | None = field(default=None, repr=False, compare=False)

    @property
    def single_use(self) -> bool:
        """Whether a run that resumes from it takes its optimizer state's arrays as its own."""
        return self.handover is not None

    @property
    def spent(self) -> bool:
        """Whether a run took its optimizer state (a single_use Checkpoint resumes one run)."""
        return self.handover is not None and self.handover.taken


class HandOver:
    """Whether a run has taken a single_use Checkpoint's optimizer state (set by
    training.run_checkpoint once every check passed)."""

    __slots__ = ("taken",)

    def __init__(self) -> None:
        self.taken = False


def save_checkpoint(path: str | PathLike, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` atomically to ``path`` (serialization.write_npz, kind "checkpoint").

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> history = History(train_loss=[0.9, 0.7], train_acc=[0.5, 0.6], lr=[0.1, 0.1],
    ...                   epoch_time=[0.2, 0.2])  # the 2 epochs done
    >>> ckpt = Checkpoint(
    ...     epoch=2, params={"0.W": np.ones((2, 2), np.float32)}, optimizer={"lr": 0.1},
    ...     schedule=None, rng=np.random.default_rng(0).bit_generator.state, layer_rngs={},
    ...     history=history, stopper={}, val_idx=None)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(Path(folder) / "run.npz", ckpt)
    ...     back = load_checkpoint(Path(folder) / "run.npz")
    >>> back.epoch, back.history.epochs, back.params["0.W"].dtype, back.rng == ckpt.rng
    (2, 2, dtype('float32'), True)
    """
    from softgrad.serialization import write_npz

    problem = _params_problem(ckpt.params)
    if problem is not None:  # load_checkpoint refuses it too: the good file stays
        raise TypeError(f"save_checkpoint: {path!s} not written: {problem}")
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
        "history": split_state(ckpt.history.to_arrays(), "history", arrays),
        "stopper": split_state(ckpt.stopper, "stop", arrays),
        "val_idx": split_state(ckpt.val_idx, "split.val_idx", arrays),
        "data": ckpt.data,
    }
    if ckpt.order is not None:  # a stateful batch-order policy (batch_order.ReshuffleEachEpoch)
        meta["order"] = split_state(ckpt.order, "order", arrays)
    if ckpt.settings is not None:
        meta["settings"] = ckpt.settings
    if ckpt.rank_layer_rngs is not None:
        meta["rank_layer_rngs"] = split_state(ckpt.rank_layer_rngs, "rank_layer_rng", arrays)
    write_npz(path, arrays, meta, kind="checkpoint", where="save_checkpoint")


def load_checkpoint(path: str | PathLike, *, single_use: bool = False) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; ModelFileError if it is not one.

    With ``single_use=True`` the optimizer's state is read straight into buffers laid out as
    the run's parameters, and the run that resumes from the Checkpoint takes them as its own
    state instead of copying them (``fit(resume=path)`` reads its file so): a resumed run then
    peaks where the same run uninterrupted does, where the copy held one optimizer state more
    (SGD with momentum; two with Adam). Such a Checkpoint resumes one run only (its arrays
    change as that run trains); a second resume from it is refused.

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

    arrays, meta = _read_arrays(path) if single_use else read_npz(path, what="checkpoint")
    where, epoch, settings = _checked_header(meta, path)
    _check_finite(arrays, where)
    # each array read is given out itself, once
    parts: dict[str, Any] = {}
    taken: set[str] = set()
    for key in ("params", "optimizer", "schedule", "rng", "layer_rngs", "stopper", "val_idx"):
        with checkpoint_entry(where, key):
            parts[key] = join_state(meta[key], arrays, taken)
    with checkpoint_entry(where, "params"):
        problem = _params_problem(parts["params"])
        if problem is not None:
            raise TypeError(problem)
    with checkpoint_entry(where, "history"):
        history = History.from_dict(join_state(meta["history"], arrays, taken))
        if history.epochs != epoch:  # resumed, the run's history would outgrow its epochs
            raise ValueError(
                f"must hold as many epochs as entry 'epoch' ({epoch}); got {history.epochs}"
            )
    with checkpoint_entry(where, "data"):
        data = dict(meta["data"])
    with checkpoint_entry(where, "order"):
        order = join_state(meta.get("order"), arrays, taken)
    with checkpoint_entry(where, "rank_layer_rngs"):
        rank_layer_rngs = join_state(meta.get("rank_layer_rngs"), arrays, taken)
    return Checkpoint(
        epoch=epoch,
        history=history,
        data=data,
        order=order,
        rank_layer_rngs=rank_layer_rngs,
        settings=settings,
        source=str(path),
        handover=HandOver() if single_use else None,
        **parts,
    )


def _read_arrays(path: str | PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """read_npz's arrays and header of the checkpoint at ``path``, its optimizer state read
    into buffers laid out as its weights where it can be (training.checkpoint_state), in the
    file's order."""
    from pathlib import Path

    from softgrad.serialization import read_npz
    from softgrad.serialization.npz import read_npz_header
    from softgrad.training.checkpoint_state import read_flat_state

    header = read_npz_header(path, "checkpoint")
    flat = read_flat_state(path, header, f"checkpoint file {str(Path(path))!r}")
    if flat is not None:
        state, order = flat
        others = tuple(name for name in order if name not in state)
        arrays, meta = read_npz(path, what="checkpoint", keys=others)
        if meta == header:  # not another file written over it since
            return {name: state[name] if name in state else arrays[name] for name in order}, meta
    return read_npz(path, what="checkpoint")


def _params_problem(params: Any) -> str | None:
    """What makes ``params`` no checkpoint's weights (a dict of floating-point ndarrays by
    name), or None: a weight of another kind was written, read back and refused only at
    resume, as another model."""
    if not isinstance(params, Mapping):
        return f"params must be a dict of floating-point ndarrays; got {type(params).__name__}"
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            got = f"{value.dtype} ndarray" if isinstance(value, np.ndarray) else repr(value)
            return f"params[{name!r}] must be a floating-point ndarray; got {got}"
    return None


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint's JSON header says of its run, read without its arrays
    (:func:`read_checkpoint_header`)."""

    epoch: int
    # fit's checkpoint_settings; None in a checkpoint written without them
    settings: dict[str, Any] | None
    # the schedule's state as stored: its arrays (if any) named, not read
    schedule: dict[str, Any] | None


def read_checkpoint_header(path: str | PathLike) -> CheckpointHeader:
    """The epochs, settings and schedule of the checkpoint at ``path``, from its JSON header
    alone: for a caller that checks a run against its checkpoint before ``fit(resume=path)``
    reads the whole file (``softgrad train --resume``; reading the weights and optimizer
    state there too read the file twice). ModelFileError as :func:`load_checkpoint` for a
    header it cannot trust; the arrays are checked when ``load_checkpoint`` reads them.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> ckpt = Checkpoint(
    ...     epoch=2, params={"0.W": np.ones((2, 2), np.float32)}, optimizer={"lr": 0.1},
    ...     schedule=None, rng=np.random.default_rng(0).bit_generator.state, layer_rngs={},
    ...     history=History(), stopper={}, val_idx=None, settings={"lr": 0.1})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_checkpoint(Path(folder) / "run.npz", ckpt)
    ...     read_checkpoint_header(Path(folder) / "run.npz")
    CheckpointHeader(epoch=2, settings={'lr': 0.1}, schedule=None)
    """
    from softgrad.serialization.npz import read_npz_header

    meta = read_npz_header(path, "checkpoint")
    where, epoch, settings = _checked_header(meta, path)
    schedule = meta.get("schedule")
    if schedule is not None and not isinstance(schedule, dict):
        raise ModelFileError(f"{where}: entry 'schedule' must be a mapping; got {schedule!r}")
    return CheckpointHeader(epoch, settings, schedule)


def _checked_header(meta: dict[str, Any], path: str | PathLike) -> tuple[str, int, Any]:
    """The message prefix, the epochs done and the settings of a checkpoint's header, checked."""
    if meta.get("format") != "softgrad-checkpoint":
        raise ModelFileError(
            f"fit: resume must be a softgrad checkpoint file; got {str(path)!r}, which holds "
            f"{meta.get('format', 'no format marker')!r}"
        )
    where = f"fit: resume checkpoint {str(path)!r}"
    _check_version(meta.get("version"), where)
    with checkpoint_entry(where, "epoch"):
        epoch = meta["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"must be an int >= 0; got {epoch!r}")
    settings = meta.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise ModelFileError(f"{where}: entry 'settings' must be a mapping; got {settings!r}")
    return where, epoch, settings


def _check_version(version: Any, where: str) -> None:
    """Refuse a checkpoint format this softgrad does not read, from the future or damaged: its
    entries may mean something else, so resuming it would continue another run."""
    if not isinstance(version, bool) and version in READABLE_VERSIONS:
        return
    readable = ", ".join(str(v) for v in READABLE_VERSIONS)
    newer = isinstance(version, int) and not isinstance(version, bool)
    newer = newer and version > max(READABLE_VERSIONS)
    advice = (
        "it was written by a newer softgrad: upgrade softgrad, or start a new run"
        if newer
        else "the file is damaged or not written by softgrad: start a new run"
    )
    raise ModelFileError(
        f"{where}: checkpoint format version must be {readable} (the versions this softgrad "
        f"reads); got {version!r}: {advice}"
    )


def _check_finite(arrays: dict[str, np.ndarray], where: str) -> None:
    """Weights, optimizer state and early stopping's best weights hold finite numbers.

    Resumed, NaN weights were reported as a run that diverged under its learning rate, with
    the damaged checkpoint named as holding "the last good weights"; NaN best weights were
    restored into the model when the run ended.
    """
    for name, array in arrays.items():
        if name.startswith(("param.", "optim.", "stop.")) and array.dtype.kind in "fc":
            bad = ~np.isfinite(array.reshape(-1))
            if bad.any():
                first = array.reshape(-1)[bad][0].item()
                raise ModelFileError(
                    f"{where}: entry {name!r} must be finite; got {first!r} "
                    "(the file was written from a diverged run or damaged: resume an intact "
                    "checkpoint, or start a new run)"
                )


@contextlib.contextmanager
def checkpoint_entry(where: str, key: str) -> Iterator[None]:
    """Turn a malformed checkpoint entry into a ModelFileError naming the file and the entry."""
    try:
        yield
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        problem = f"lacks {exc}" if isinstance(exc, KeyError) else f"is malformed ({exc})"
        raise ModelFileError(
            f"{where}: entry {key!r} {problem}; the file is damaged or not written by this "
            "softgrad (start a new run, or resume an intact checkpoint)"
        ) from None
