"""Early stopping: watch a loss per epoch, keep the best weights, stop after ``patience`` misses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from softgrad.checks import (
    check_bool,
    check_int,
    check_number,
    check_positive_int,
    check_saved_state,
)


class EarlyStopping:
    """Track the best epoch of a monitored loss and decide when to stop.

    Parameters
    ----------
    patience : int, default 10
        Stop after this many consecutive epochs without improvement (Keras' rule;
        scikit-learn's ``n_iter_no_change=k`` stops one epoch later, like ``patience=k + 1``).
    min_delta : float, default 0.0
        An epoch improves only if its loss is below ``best - min_delta``; finite, >= 0.
    restore_best : bool, default True
        Keep a copy of the weights of the best epoch, for :meth:`restore`.
    enabled : bool, default True
        fit's ``early_stopping``. When False, the best epoch is still tracked but
        :meth:`update` never asks to stop and no weights are copied.

    Attributes
    ----------
    best : float
        Lowest loss seen so far (inf before the first epoch).
    best_epoch : int or None
        1-based epoch of ``best``.
    wait : int
        Epochs since the last improvement.

    Examples
    --------
    >>> params = {"W": np.array([1.0])}
    >>> stopper = EarlyStopping(patience=2)
    >>> for epoch, loss in enumerate([0.5, 0.4, 0.45, 0.41], start=1):
    ...     params["W"][...] = epoch
    ...     stop = stopper.update(epoch, loss, params)
    >>> stop, stopper.best_epoch, stopper.restore(params), params["W"]
    (True, 2, None, array([2.]))
    """

    def __init__(
        self,
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
        enabled: bool = True,
    ) -> None:
        self._settings(patience, min_delta, restore_best, enabled, "EarlyStopping", "enabled")

    @classmethod
    def from_fit(
        cls, patience: Any, min_delta: Any, restore_best: Any, early_stopping: Any
    ) -> EarlyStopping:
        """The rule :func:`~softgrad.training.fit` builds from its own arguments, whose
        messages name them as fit does (``fit: early_stopping must be a bool``).

        Parameters
        ----------
        patience, min_delta, restore_best, early_stopping
            fit's arguments of those names (``early_stopping`` is ``enabled``).

        Returns
        -------
        EarlyStopping

        Examples
        --------
        >>> EarlyStopping.from_fit(3, 0.0, True, False)
        EarlyStopping(patience=3, min_delta=0.0, restore_best=True, enabled=False)
        >>> EarlyStopping.from_fit(3, 0.0, True, 1)
        Traceback (most recent call last):
        TypeError: fit: early_stopping must be a bool; got 1
        """
        stopper = cls.__new__(cls)
        stopper._settings(
            patience, min_delta, restore_best, early_stopping, "fit", "early_stopping"
        )
        return stopper

    def _settings(
        self, patience: Any, min_delta: Any, restore_best: Any, enabled: Any, where: str, on: str
    ) -> None:
        self.patience = check_positive_int(patience, where, "patience")
        # finite: best - inf is never beaten, so no epoch would count as the best
        self.min_delta = check_number(min_delta, where, "min_delta", 0.0)
        self.restore_best = check_bool(restore_best, where, "restore_best")
        self.enabled = check_bool(enabled, where, on)
        self.best = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_params: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(patience={self.patience!r}, min_delta={self.min_delta!r}, "
            f"restore_best={self.restore_best!r}, enabled={self.enabled!r})"
        )

    @property
    def keeps_weights(self) -> bool:
        """Whether the best epoch's weights are copied (early stopping on, restore_best on)."""
        return self.enabled and self.restore_best

    def update(self, epoch: int, loss: float, params: dict[str, np.ndarray]) -> bool:
        """Record epoch ``epoch``'s monitored ``loss``; True when training should stop.

        Parameters
        ----------
        epoch : int
            1-based.
        loss : float
            The monitored loss (NaN never improves).
        params : dict of str to ndarray
            The live weights, copied when the epoch is the best and weights are kept.

        Returns
        -------
        stop : bool
            :attr:`stops`: patience run out (always False when not enabled).

        Examples
        --------
        >>> stopper = EarlyStopping(patience=1, min_delta=0.1)
        >>> stopper.update(1, 1.0, {}), stopper.update(2, 0.95, {}), stopper.best_epoch
        (False, True, 1)
        """
        if loss < self.best - self.min_delta:
            self.best = float(loss)
            self.best_epoch = int(epoch)
            self.wait = 0
            if not self.keeps_weights:
                # an earlier epoch's weights, kept before early stopping or restore_best was
                # turned off at a resume, are not this one's: a later resume that turns it on
                # again would end on them
                self.best_params = {}
            else:
                kept = self.best_params
                if kept.keys() != params.keys():  # the network's layers changed (a callback)
                    kept = self.best_params = {}
                for name, value in params.items():
                    copy = kept.get(name)
                    if copy is None or copy.shape != value.shape or copy.dtype != value.dtype:
                        kept[name] = np.empty_like(value)
                    np.copyto(kept[name], value)
        else:
            self.wait += 1
        return self.stops

    @property
    def stops(self) -> bool:
        """Whether the rule stops the run after the epoch last recorded (patience run out)."""
        return self.enabled and self.wait >= self.patience

    def resume_at(
        self, epoch: int, loss: float, params: dict[str, np.ndarray], was_enabled: bool | None
    ) -> None:
        """Take up a run resumed after epoch ``epoch``, whose monitored ``loss`` and weights
        ``params`` its checkpoint held, and whose run had early stopping on or off
        (``was_enabled``; None for a checkpoint of an earlier softgrad, which did not record
        it: taken as on where it is on now).

        Early stopping switched on at the resume, or its best weights kept where the checkpoint
        holds none (``restore_best`` switched on): the epochs before the resume have no weights
        to end on, so the resumed epoch becomes the first one judged (the best, no wait; its
        weights kept where they are), and patience counts from it. Where the resumed epoch was
        the best, that is the state the run had anyway. Otherwise (on throughout, or off now) the
        state is left as loaded, and the run stops where an uninterrupted one stops.

        Parameters
        ----------
        epoch : int
            The last epoch the checkpoint holds (1-based).
        loss : float
            Its monitored loss.
        params : dict of str to ndarray
            Its weights (the live arrays the run resumes with).
        was_enabled : bool or None
            Whether the run that wrote the checkpoint had early stopping on.

        Examples
        --------
        >>> stopper = EarlyStopping(patience=2, enabled=False)
        >>> for epoch, loss in enumerate([0.3, 0.5], start=1):
        ...     _ = stopper.update(epoch, loss, {"W": np.array([float(epoch)])})
        >>> resumed = EarlyStopping(patience=2)
        >>> resumed.load_state_dict(stopper.state_dict())
        >>> resumed.resume_at(2, 0.5, {"W": np.array([2.0])}, was_enabled=False)
        >>> resumed.best_epoch, resumed.wait, resumed.best_params["W"]
        (2, 0, array([2.]))
        """
        if not self.enabled:
            return
        if was_enabled is None:
            # a checkpoint of an earlier softgrad: whether early stopping was on is unknown (a
            # run with restore_best off keeps no weights either): taken as unchanged, so such a
            # run goes on as it did, re-based only where weights are kept now and it has none
            was_enabled = self.enabled
        restorable = self.best_params or not self.keeps_weights or self.best_epoch is None
        if was_enabled and restorable:
            return
        if not math.isfinite(loss):  # no epoch to end on yet: judged as a fresh run's
            self.best, self.best_epoch, self.wait, self.best_params = math.inf, None, 0, {}
            return
        self.best, self.best_epoch, self.wait = float(loss), int(epoch), 0
        kept = self.keeps_weights
        self.best_params = {name: np.array(value) for name, value in params.items()} if kept else {}

    def restore(self, params: dict[str, np.ndarray]) -> None:
        """Copy the best weights into the live arrays ``params`` (no-op if none were kept),
        cast to their dtype.

        Parameters
        ----------
        params : dict of str to ndarray
            The live weights, written in place.

        Raises
        ------
        ValueError
            The network changed since the best epoch (a callback replaced layers by others of
            other names or shapes): its weights cannot be put back. ``params`` is unchanged.

        Examples
        --------
        >>> stopper, W = EarlyStopping(), np.array([1.0])
        >>> _ = stopper.update(1, 0.5, {"W": W})
        >>> W[0] = 7.0
        >>> stopper.restore({"W": W}), W
        (None, array([1.]))
        """
        kept = self.best_params
        if not (self.keeps_weights and kept):
            return
        changed = sorted(
            name
            for name in kept.keys() | params.keys()
            if name not in kept or name not in params or kept[name].shape != params[name].shape
        )
        if changed:
            raise ValueError(
                f"EarlyStopping.restore: params must have the names and shapes of epoch "
                f"{self.best_epoch}'s weights (restore_best); the network changed since in "
                f"{changed[:4]!r}"
                + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
                + ": it keeps its last weights"
            )
        for name, value in params.items():
            np.copyto(value, kept[name])

    def state_dict(self) -> dict[str, Any]:
        """State for a checkpoint: JSON-safe scalars and the best weights (``"best.<name>"``).

        Returns
        -------
        state : dict
            ``enabled``, ``best`` (None for inf), ``best_epoch``, ``wait`` and a
            ``best.<name>`` entry per kept weight (the kept array itself, not a copy).

        Examples
        --------
        >>> stopper = EarlyStopping()
        >>> _ = stopper.update(1, 0.5, {"W": np.array([2.0])})
        >>> stopper.state_dict()
        {'enabled': True, 'best': 0.5, 'best_epoch': 1, 'wait': 0, 'best.W': array([2.])}
        """
        state: dict[str, Any] = {
            "enabled": self.enabled,  # what a resume that turns it on or off goes on from
            "best": None if math.isinf(self.best) else self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
        }
        state.update({f"best.{name}": value for name, value in self.best_params.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; checked whole first, so a refused state
        loads nothing (a bad ``wait`` left ``best`` and ``best_epoch`` loaded, with a bare
        ``int()`` error or a KeyError).

        Parameters
        ----------
        state : dict
            :meth:`state_dict`'s output (``enabled`` may be absent: an earlier softgrad's).

        Raises
        ------
        TypeError, ValueError
            A missing key or a value of the wrong kind, named in the message.

        Examples
        --------
        >>> stopper = EarlyStopping()
        >>> stopper.load_state_dict({"best": None, "best_epoch": None, "wait": 0})
        >>> stopper.best, stopper.best_epoch
        (inf, None)
        """
        where = "EarlyStopping.load_state_dict"
        check_saved_state(state, where, ("best", "best_epoch", "wait"))
        entries = [key for key in state if isinstance(key, str) and key.startswith("best.")]
        best = state["best"]
        best = math.inf if best is None else check_number(best, where, "state['best']", -math.inf)
        best_epoch = state["best_epoch"]
        if best_epoch is not None:
            best_epoch = check_int(best_epoch, where, "state['best_epoch']", 0)
        wait = check_int(state["wait"], where, "state['wait']", 0)
        if state.get("enabled") is not None:  # absent from the states of an earlier softgrad
            check_bool(state["enabled"], where, "state['enabled']")
        kept = {}
        for key in entries:
            value = np.asarray(state[key])
            if value.dtype.kind != "f":
                raise TypeError(
                    f"{where}: state[{key!r}] must be an array of floats (the best weights); "
                    f"got dtype {value.dtype}"
                )
            kept[key[len("best.") :]] = np.array(value)
        self.best, self.best_epoch, self.wait, self.best_params = best, best_epoch, wait, kept


def rules_stop(stopper: EarlyStopping, schedule: Any) -> bool:
    """Whether a run's own rules stop it after the epoch last recorded: early stopping's
    patience run out, or a schedule that asks to stop (AdaptiveLR: where scikit-learn stops,
    its rate at the floor and stalled again). A resumed run that stopped early is judged by
    the same rule with the settings it is resumed with."""
    return stopper.stops or getattr(schedule, "should_stop", False) is True


class NoImprovementStopping:
    """scikit-learn's MLP stopping rule, as a :func:`~softgrad.training.fit` callback.

    After each epoch the monitored figure is compared with the best so far: a training loss
    (``mode="min"``) that is not below ``best - tol``, or a validation score (``mode="max"``)
    that is not above ``best + tol``, counts as no improvement; an improvement resets the
    count. When the count exceeds ``n_iter_no_change`` training stops, or with
    ``adaptive_lr`` the optimizer's learning rate is divided by 5 and the count resets (until
    the rate is at most 1e-6: then it stops). In mode "max" the weights of the best epoch are
    kept and copied back at the end of training.

    Parameters
    ----------
    tol : real >= 0
        ``np.inf`` counts every epoch as no improvement (scikit-learn accepts it).
    n_iter_no_change : real >= 1
        ``np.inf`` never stops (scikit-learn accepts any real >= 1).
    monitor : str, default "train_loss"
        The key of ``state.logs`` to watch (``"val_acc"``, or a key a callback placed before
        this one writes, e.g. :class:`~softgrad.training.callbacks.BatchSizeMeanLoss`'s).
    mode : {"min", "max"}, default "min"
    adaptive_lr : bool, default False
    best : float or None
        The best value of earlier training (warm start); None starts afresh.
    no_improvement_count : int, default 0
        Carried over from earlier training, as scikit-learn does.
    best_params : dict of ndarray, optional
        Copies of the best weights of earlier training (mode "max").

    Attributes
    ----------
    best, no_improvement_count, best_params
    message : str or None
        scikit-learn's verbose line about the plateau of the last epoch (None without one).

    Examples
    --------
    >>> from softgrad.training import TrainState
    >>> rule = NoImprovementStopping(tol=0.1, n_iter_no_change=1)
    >>> state = TrainState()
    >>> stops = []
    >>> for loss in [1.0, 0.95, 0.93]:
    ...     state.logs = {"train_loss": loss}
    ...     stops.append(rule.on_epoch_end(state))
    >>> stops, rule.no_improvement_count, rule.best
    ([False, False, True], 2, 0.93)
    >>> rule.message
    'Training loss did not improve more than tol=0.100000 for 1 consecutive epochs. Stopping.'
    """

    def __init__(
        self,
        tol: float,
        n_iter_no_change: float,
        monitor: str = "train_loss",
        mode: str = "min",
        adaptive_lr: bool = False,
        best: float | None = None,
        no_improvement_count: int = 0,
        best_params: dict[str, np.ndarray] | None = None,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"NoImprovementStopping: mode must be 'min' or 'max'; got {mode!r}")
        if isinstance(n_iter_no_change, (bool, np.bool_)) or not (
            isinstance(n_iter_no_change, (int, float, np.number)) and n_iter_no_change >= 1
        ):
            raise ValueError(
                "NoImprovementStopping: n_iter_no_change must be a real >= 1; "
                f"got {n_iter_no_change!r}"
            )
        # NaN: no epoch would ever count as stalled, so training never stopped (scikit-learn
        # accepts any real >= 0, inf included: every epoch then counts as stalled)
        if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.number)):
            raise TypeError(f"NoImprovementStopping: tol must be a real number; got {tol!r}")
        if not tol >= 0:
            raise ValueError(f"NoImprovementStopping: tol must be a real >= 0; got {tol!r}")
        self.tol = float(tol)
        self.n_iter_no_change = n_iter_no_change
        self.monitor = monitor
        self.mode = mode
        self.adaptive_lr = bool(adaptive_lr)
        default = math.inf if mode == "min" else -math.inf
        self.best = default if best is None else float(best)
        self.no_improvement_count = int(no_improvement_count)
        self.best_params = best_params
        self.message: str | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tol={self.tol!r}, n_iter_no_change={self.n_iter_no_change!r}, "
            f"monitor={self.monitor!r}, mode={self.mode!r}, adaptive_lr={self.adaptive_lr!r})"
        )

    def _update(self, value: float, params: Any) -> None:
        if self.mode == "min":
            stalled, better = value > self.best - self.tol, value < self.best
        else:
            stalled, better = value < self.best + self.tol, value > self.best
        self.no_improvement_count = self.no_improvement_count + 1 if stalled else 0
        if better:
            self.best = float(value)
            if self.mode == "max" and params is not None:
                self.best_params = {name: value.copy() for name, value in params.items()}

    def on_epoch_end(self, state: Any) -> bool:
        """Update the count with this epoch's figure; True when training must stop."""
        model = state.model
        self._update(state.logs[self.monitor], None if model is None else model.named_params())
        self.message = None
        if self.no_improvement_count <= self.n_iter_no_change:
            return False
        what = "Validation score" if self.mode == "max" else "Training loss"
        self.message = (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{int(self.n_iter_no_change)} consecutive epochs."
        )
        if not self.adaptive_lr:
            self.message += " Stopping."
            return True
        if state.optimizer.lr <= 1e-6:
            self.message += " Learning rate too small. Stopping."
            return True
        state.optimizer.lr = state.optimizer.lr / 5.0
        self.message += f" Setting learning rate to {state.optimizer.lr:f}"
        self.no_improvement_count = 0
        return False

    def on_train_end(self, state: Any) -> None:
        """In mode "max", copy the best epoch's weights back into the model."""
        if self.mode == "max" and self.best_params and state.model is not None:
            for name, value in state.model.named_params().items():
                np.copyto(value, self.best_params[name])
