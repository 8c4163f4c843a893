"""A run's state into a checkpoint and back: :func:`snapshot` after an epoch, :func:`resume_run`
to continue from one (the checkpoint file itself: :mod:`softgrad.training.checkpoint`).

Resuming refuses a checkpoint of other data, another model or another optimizer or schedule,
restores every generator (the layers' too) and the batch order, and takes back the original
run's validation split whatever generator the call was given.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from softgrad.checks.overrides import inherits
from softgrad.training.batch_order import InOrder, PermuteEachEpoch
from softgrad.training.checkpoint import Checkpoint, checkpoint_entry
from softgrad.training.data import dense_rows
from softgrad.training.early_stopping import rules_stop


def layer_generators(model: Any, prefix: str = "") -> dict[str, np.random.Generator]:
    """Generators owned by the model's layers (e.g. Dropout's), keyed ``"<layer>.<attribute>"``,
    the layer's index in each nested Sequential before it (``"0.2.rng"``: a Dropout in a
    Sequential inside the first layer, whose generator was left out of checkpoints)."""
    found = {}
    for i, layer in enumerate(getattr(model, "layers", ())):
        for attr, value in vars(layer).items():
            if isinstance(value, np.random.Generator):
                found[f"{prefix}{i}.{attr}"] = value
        found.update(layer_generators(layer, f"{prefix}{i}."))
    return found


def generator_owner(model: Any, key: str) -> tuple[Any, str]:
    """(the layer, the attribute name) of a :func:`layer_generators` key."""
    *path, attr = key.split(".")
    layer = model
    for index in path:
        layer = layer.layers[int(index)]
    return layer, attr


def snapshot(run: Any, epoch: int) -> Checkpoint:
    """The run's state after epoch ``epoch``, for ``save_checkpoint`` to write at once: its
    weights and the optimizer's state arrays are the live ones, not copies (Adam's copies of
    its moments were two copies of the weights' bytes at every checkpoint)."""
    return Checkpoint(
        epoch=epoch,
        params=run.model.named_params(),
        optimizer=run.optimizer.state_dict(copy=False),
        schedule=None if run.lr_schedule is None else run.lr_schedule.state_dict(),
        rng=run.generator.bit_generator.state,
        layer_rngs={k: g.bit_generator.state for k, g in layer_generators(run.model).items()},
        history=run.history,
        stopper=run.stopper.state_dict(),
        val_idx=run.val_idx,
        data=run.data_info,
        order=_order_state(run.order),
        rank_layer_rngs=run.rank_streams,
        settings=run.settings,
    )


def resume_run(run: Any, ckpt: Checkpoint, X, target, weight) -> int:
    """Load ``ckpt`` into the run (weights copied into the live arrays); the epochs done.

    ``ckpt`` is left as it was (the history and the batch order's state are copied: the run
    goes on changing its own), so a caller's Checkpoint can resume another run the same way;
    but a ``single_use`` one (``load_checkpoint(..., single_use=True)``) gives the optimizer
    its state's arrays, and then resumes no other run."""
    if ckpt.spent:
        raise ValueError(
            f"fit: resume checkpoint {ckpt.source or 'given'!r} was read with single_use=True "
            "and a run has resumed from it, taking its optimizer state as its own: read the "
            "file again (load_checkpoint) to resume another run"
        )
    params = run.model.named_params()
    _check_continues(run, ckpt, params)
    where = f"fit: resume checkpoint {ckpt.source or 'given'!r}"
    with checkpoint_entry(where, "stopper"):  # checked before anything is loaded, too
        _check_best_weights(ckpt.stopper, params)
    # every entry into copies first: one refused (a NaN in the last Adam moment, a schedule
    # whose rate overflows, a validation index past the data) had the weights, the optimizer
    # and the generators of the caller's objects replaced before it, and a later fit without
    # resume went on from them
    _load_states(run, ckpt, where, rehearsal=True)
    if ckpt.val_idx is not None:
        with checkpoint_entry(where, "val_idx"):
            _checked_val_idx(ckpt.val_idx, X.shape[0])
    if ckpt.handover is not None:
        # taken once every check passed, before the load gives its arrays away: a load cut
        # short (Ctrl-C) leaves the arrays with this run's optimizer, and no second run
        ckpt.handover.taken = True
    _load_states(run, ckpt, where)
    run.rank_streams = ckpt.rank_layer_rngs
    run.history = copy.deepcopy(ckpt.history)
    # early stopping (or restore_best) switched on at this resume: the checkpoint holds no
    # weights of the epochs before it
    monitored = run.history.monitored_loss
    last = monitored[-1] if ckpt.epoch > 0 and monitored else math.nan
    run.stopper.resume_at(ckpt.epoch, last, run.model.named_params(), ckpt.stopper.get("enabled"))
    run.history.best_epoch = run.stopper.best_epoch
    if run.history.stop_reason == "callback" or (
        run.history.stop_reason == "early_stopping" and not rules_stop(run.stopper, run.lr_schedule)
    ):
        # a callback's stop (a time budget, an interrupt) is what resume is for, and a run
        # that stopped early is taken on by a larger patience (or without early stopping), as
        # a run started with it goes on: carry on
        run.history.stopped_early, run.history.stop_reason = False, None
    if ckpt.val_idx is not None:
        _restore_split(run, ckpt.val_idx, X, target, weight, where)
    return ckpt.epoch


def _load_states(run: Any, ckpt: Checkpoint, where: str, rehearsal: bool = False) -> None:
    """The checkpoint's weights, optimizer, schedule, generators, stopper and batch order into
    the run's objects, or with ``rehearsal`` into copies of them (the same loads, so a state
    that either refuses is refused before any object of the run is changed)."""
    with checkpoint_entry(where, "params"):
        for name, value in run.model.named_params().items():
            np.copyto(np.empty_like(value) if rehearsal else value, ckpt.params[name])
    parts = [("optimizer", run.optimizer, ckpt.optimizer)]
    if run.lr_schedule is not None and ckpt.schedule is not None:
        parts.append(("schedule", run.lr_schedule, ckpt.schedule))
    parts.append(("stopper", run.stopper, ckpt.stopper))
    if ckpt.order is not None:
        parts.append(("order", run.order, copy.deepcopy(ckpt.order)))
    for entry, owner, state in parts:
        target = _rehearsal_copy(owner) if rehearsal else owner
        if target is not None:
            # the optimizer's choices of how to compute its update are the resumed run's own
            choices = getattr(type(target), "_CHOICE_NAMES", ()) if entry == "optimizer" else ()
            kept = {name: getattr(target, name) for name in choices}
            with checkpoint_entry(where, entry):
                if entry == "optimizer" and ckpt.single_use and _takes_arrays(target):
                    target._load_state(state, copy=False)
                else:
                    target.load_state_dict(state)
            for name, value in kept.items():
                setattr(target, name, value)
    generators = [("rng", run.generator, ckpt.rng)]
    for key, generator in layer_generators(run.model).items():
        # a layer sharing fit's generator got its state above (a data-parallel run's rank 0
        # saved its own stream for that layer: training.together gives it back per rank)
        if key in ckpt.layer_rngs and generator is not run.generator:
            generators.append(("layer_rngs", generator, ckpt.layer_rngs[key]))
    for entry, generator, state in generators:
        with checkpoint_entry(where, entry):
            (copy.deepcopy(generator) if rehearsal else generator).bit_generator.state = state


def _takes_arrays(optimizer: Any) -> bool:
    """Whether ``optimizer`` loads a state through Optimizer's own ``load_state_dict``, which
    can take the state's arrays without copying them (a subclass or an object of the user's
    that loads its own way is given its state as any caller gives it)."""
    from softgrad.optim import Optimizer

    return inherits(optimizer, Optimizer, "load_state_dict")


def _rehearsal_copy(owner: Any) -> Any:
    """A deep copy of ``owner`` to rehearse a load on, or None where it cannot be copied (a
    user's batch-order policy holding a lock): its state then loads unrehearsed, as before."""
    try:
        return copy.deepcopy(owner)
    except Exception:
        return None


def _check_best_weights(state: dict[str, Any], params: dict[str, np.ndarray]) -> None:
    """Early stopping's best weights (``best.<name>``), if any, are the model's parameters in
    their shapes: restored at the end of the run, others failed there with NumPy's broadcast
    error or a KeyError, after the resumed epochs had trained."""
    best = {key[len("best.") :]: value for key, value in state.items() if key.startswith("best.")}
    if not best:
        return
    shapes = {name: np.shape(value) for name, value in best.items()}
    expected = {name: value.shape for name, value in params.items()}
    if shapes != expected:
        raise ValueError(
            f"best weights must be the model's parameters {expected!r}; got {shapes!r}"
        )


def _check_continues(run: Any, ckpt: Checkpoint, params: dict[str, np.ndarray]) -> None:
    """The checkpoint continues this run: the same data, model and kinds of optimizer and
    schedule (checked before anything is loaded)."""
    data = ckpt.data if isinstance(ckpt.data, dict) else {"data": ckpt.data}  # (hand-built)
    shape = {key: value for key, value in run.data_info.items() if key != "checksums"}
    saved = {key: value for key, value in data.items() if key != "checksums"}
    if saved != shape:
        raise ValueError(
            f"fit: resume must continue a run on the same data; the checkpoint was written for "
            f"{saved!r}; got {shape!r}"
        )
    shapes = {name: value.shape for name, value in params.items()}
    saved = {name: value.shape for name, value in ckpt.params.items()}
    if shapes != saved:
        raise ValueError(
            f"fit: resume must continue the same model; the checkpoint has parameters {saved!r}; "
            f"got {shapes!r}"
        )
    # copied into a model of another dtype, float64 weights were rounded (or float32 ones
    # continued in float64) silently: another run than the one checkpointed
    dtypes = sorted({value.dtype.name for value in params.values()})
    saved_dtypes = sorted({value.dtype.name for value in ckpt.params.values()})
    if dtypes != saved_dtypes:
        raise ValueError(
            f"fit: resume must continue the same model; the checkpoint has {saved_dtypes} "
            f"parameters; got {dtypes} (build the model in the checkpoint's dtype)"
        )
    # the values last: X as fit converted it is in the model's dtype, refused above by name
    checksums = data.get("checksums")  # None: written before the values were recorded
    now = run.data_info.get("checksums")
    if checksums is not None and (not isinstance(checksums, dict) or checksums != now):
        raise ValueError(
            "fit: resume must continue a run on the same data; got other values of X or y than "
            f"the checkpoint was written for (checksums {now} against {checksums!r}), in data "
            "of the same shape"
        )
    _check_same_kinds(run, ckpt)
    _check_same_settings(run, ckpt)


def _restore_split(run: Any, val_idx: Any, X, target, weight, where: str) -> None:
    """The split of the original run, whatever generator this call was given."""
    with checkpoint_entry(where, "val_idx"):
        val_idx = _checked_val_idx(val_idx, X.shape[0])
    keep = np.ones(X.shape[0], dtype=bool)
    keep[val_idx] = False
    run.train_idx, run.val_idx = np.flatnonzero(keep), val_idx
    run.validation = (
        dense_rows(X, val_idx),
        target[val_idx],
        None if weight is None else weight[val_idx],
    )


def _check_same_settings(run: Any, ckpt: Checkpoint) -> None:
    """The optimizer's settings (but its lr, which a schedule moves), the presence of a
    schedule, and the rate a LambdaLR's function gives, as the checkpoint's run had them: the
    checkpoint's replaced the optimizer's given (SGD(momentum=0.9, nesterov=True) resumed as
    SGD(momentum=0)), and a schedule left out or added, or another function, changed the
    rates, all without a word."""
    if (run.lr_schedule is None) != (ckpt.schedule is None):
        had = "none" if ckpt.schedule is None else ckpt.schedule.get("type", "a schedule")
        got = "none" if run.lr_schedule is None else type(run.lr_schedule).__name__
        raise ValueError(
            f"fit: resume must continue with the run's lr_schedule; the checkpoint's run had "
            f"{had}; got {got}"
        )
    # a schedule of a function (LambdaLR): the function is not in the file; a schedule of the
    # user's own class has no such hook
    mismatch = getattr(run.lr_schedule, "_resume_mismatch", None)
    problem = None if mismatch is None else mismatch(ckpt.schedule)
    if problem is not None:
        raise ValueError(
            f"fit: resume must continue with the run's lr_schedule; "
            f"{type(run.lr_schedule).__name__}'s {problem}"
        )
    # a state lists an option only where it is not the default: both sides with the defaults
    # filled in (SGD(lr_in_velocity=True) resumed a run of torch's rule without a word)
    defaults = getattr(type(run.optimizer), "_HYPER_DEFAULTS", {})
    saved = {**defaults, **(ckpt.optimizer if isinstance(ckpt.optimizer, dict) else {})}
    given = {**defaults, **run.optimizer.state_dict(copy=False)}
    choices = getattr(type(run.optimizer), "_CHOICE_NAMES", ())
    for key, value in saved.items():
        # per-parameter entries ("step.0.W", "m.0.W") are the run's state, not its settings;
        # a choice of how to compute the update (fold_gradients) is the resumed run's own
        if key in ("type", "lr", "state_version", *choices) or "." in key:
            continue
        if not isinstance(value, (bool, int, float)):
            continue
        if key in given and given[key] != value:
            raise ValueError(
                f"fit: resume must continue with the run's optimizer settings; the checkpoint's "
                f"{saved.get('type', 'optimizer')} has {key}={value!r}; got {given[key]!r}"
            )


def _check_same_kinds(run: Any, ckpt: Checkpoint) -> None:
    """The optimizer (and the schedule, when both have one) of the kind the checkpoint saved:
    another kind's state was reported as a damaged file."""
    parts = [("optimizer", run.optimizer, ckpt.optimizer)]
    if run.lr_schedule is not None and ckpt.schedule is not None:
        parts.append(("lr_schedule", run.lr_schedule, ckpt.schedule))
    for what, given, state in parts:
        saved = state.get("type") if isinstance(state, dict) else None
        if saved is not None and saved != type(given).__name__:
            raise ValueError(
                f"fit: resume must continue with the same {what}; the checkpoint holds the state "
                f"of {saved}; got {type(given).__name__}"
            )


def _order_state(order: Any) -> dict[str, Any] | None:
    """The batch-order policy's state, None for the stateless built-in ones."""
    if isinstance(order, (PermuteEachEpoch, InOrder)):
        return None
    state_dict = getattr(order, "state_dict", None)
    if state_dict is None:
        raise TypeError(
            "fit: shuffle must be a batch-order policy with state_dict/load_state_dict to be "
            f"checkpointed; got {order!r}"
        )
    return state_dict()


def _checked_val_idx(val_idx: Any, n_samples: int) -> np.ndarray:
    """The validation split's indices: distinct integers in 0..n_samples-1, at least one, and
    leaving one to train.

    Out of range, an index failed deep in resume with an IndexError; negative, duplicate or
    float ones were taken silently (wrapped, counted twice, truncated).
    """
    val_idx = np.asarray(val_idx)
    if val_idx.ndim != 1 or val_idx.dtype.kind not in "iu":
        raise ValueError(f"must be a 1-D array of integers; got {val_idx.dtype} {val_idx.shape}")
    bad = np.flatnonzero((val_idx < 0) | (val_idx >= n_samples))
    if bad.size:
        raise ValueError(
            f"must hold sample indices in 0..{n_samples - 1}; got {val_idx[bad[0]]} at "
            f"position {bad[0]}"
        )
    if np.unique(val_idx).size != val_idx.size:
        raise ValueError("must hold distinct sample indices; some repeat")
    if val_idx.size >= n_samples:
        raise ValueError(f"must leave training samples; it holds all {n_samples}")
    if val_idx.size == 0:  # the run held a share out: evaluating on none said "X must have..."
        raise ValueError("must hold the validation samples of the run; it holds none")
    return val_idx.astype(np.intp)
