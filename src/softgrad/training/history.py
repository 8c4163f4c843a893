"""The record of a training run: one entry per epoch, JSON-safe for model files and checkpoints."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_LISTS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time")
_STOP_REASONS = (None, "early_stopping", "callback")


@dataclass
class History:
    """Per-epoch losses, accuracies, learning rates and times of one :func:`fit` run.

    Attributes
    ----------
    train_loss, train_acc : list of float, one per epoch
        Running averages over the epoch's mini-batches, each batch's loss taken before its
        update step (the weighted mean when ``sample_weight`` is given). The accuracy counts
        only the targets the loss does not ignore (its ``ignore_index``): NaN for an epoch
        whose targets it ignores all.
    val_loss, val_acc : list of float
        Loss and accuracy on the validation set after each epoch (the accuracy as the
        training one); empty without validation.
    lr : list of float
        The learning rate used during each epoch (before the schedule stepped).
    epoch_time : list of float
        Wall-clock seconds per epoch, training and validation included.
    best_epoch : int or None
        1-based epoch with the lowest monitored loss (validation loss, else training loss).
    stopped_early : bool
        True when early stopping or a callback ended training before ``epochs``.
    stop_reason : {None, "early_stopping", "callback"}
        What ended training early.

    Examples
    --------
    >>> h = History(train_loss=[0.9, 0.5], train_acc=[0.6, 0.8], lr=[0.1, 0.1],
    ...             epoch_time=[0.2, 0.2], best_epoch=2)
    >>> h.epochs, h.monitored_loss
    (2, [0.9, 0.5])
    >>> History.from_dict(h.to_dict()) == h
    True
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    stop_reason: str | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def monitored_loss(self) -> list[float]:
        """The loss early stopping watches: validation loss when there is one, else train loss."""
        return self.val_loss if self.val_loss else self.train_loss

    def append(
        self,
        *,
        train_loss: float,
        train_acc: float,
        lr: float,
        epoch_time: float,
        val_loss: float | None = None,
        val_acc: float | None = None,
    ) -> None:
        """Record one epoch (validation values only when a validation set exists).

        Parameters
        ----------
        train_loss, train_acc, lr, epoch_time : float
            The epoch's figures, stored as Python floats.
        val_loss, val_acc : float, optional
            Both or neither.

        Raises
        ------
        TypeError
            ``val_loss`` without ``val_acc``.

        Examples
        --------
        >>> h = History()
        >>> h.append(train_loss=0.5, train_acc=0.75, lr=0.1, epoch_time=1.0, val_loss=0.25,
        ...          val_acc=1.0)
        >>> h.epochs, h.monitored_loss
        (1, [0.25])
        """
        self.train_loss.append(float(train_loss))
        self.train_acc.append(float(train_acc))
        self.lr.append(float(lr))
        self.epoch_time.append(float(epoch_time))
        if val_loss is not None:
            if val_acc is None:
                raise TypeError("History.append: val_acc must be a number with val_loss; got None")
            self.val_loss.append(float(val_loss))
            self.val_acc.append(float(val_acc))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plain lists of floats; non-finite values become None).

        Returns
        -------
        dict
            One list per attribute, and ``best_epoch``, ``stopped_early``, ``stop_reason``.

        Examples
        --------
        >>> h = History(train_loss=[float("nan")], train_acc=[0.5], lr=[0.1], epoch_time=[1.0])
        >>> h.to_dict()["train_loss"], History.from_dict(h.to_dict()).train_loss
        ([None], [nan])
        """
        return self._with_lists(lambda values: [_json_float(v) for v in values])

    def to_arrays(self) -> dict[str, Any]:
        """:meth:`to_dict` with each list as a float64 array (non-finite values kept): what a
        checkpoint stores, beside its JSON header; :meth:`from_dict` reads it back.

        Returns
        -------
        dict
            As :meth:`to_dict`, each list a float64 ndarray of shape (epochs,).

        Examples
        --------
        >>> h = History(train_loss=[0.5, 0.25], train_acc=[0.5, 1.0], lr=[0.1, 0.1],
        ...             epoch_time=[1.0, 1.0])
        >>> h.to_arrays()["train_loss"], History.from_dict(h.to_arrays()) == h
        (array([0.5 , 0.25]), True)
        """
        return self._with_lists(lambda values: np.asarray(values, dtype=np.float64))

    def _with_lists(self, convert: Callable[[list[float]], Any]) -> dict[str, Any]:
        """Every list through ``convert``, and the run's end as it is."""
        out: dict[str, Any] = {name: convert(getattr(self, name)) for name in _LISTS}
        out["best_epoch"] = self.best_epoch
        out["stopped_early"] = self.stopped_early
        out["stop_reason"] = self.stop_reason
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Rebuild a History from :meth:`to_dict` output (None entries come back as NaN).

        Parameters
        ----------
        d : dict
            :meth:`to_dict`'s or :meth:`to_arrays`'s output.

        Returns
        -------
        History

        Raises
        ------
        TypeError, ValueError
            ``d`` is not such a dict (a key missing, lists of different lengths, an unknown
            ``stop_reason``), named in the message.

        Examples
        --------
        >>> History.from_dict({"train_loss": [1.0], "train_acc": [0.5], "lr": [0.1],
        ...                    "epoch_time": [2.0], "val_loss": [], "val_acc": []}).epochs
        1
        """
        if not isinstance(d, dict):
            raise TypeError(f"History.from_dict: d must be a dict; got {type(d).__name__!r}")
        missing = [name for name in _LISTS if name not in d]
        if missing:
            raise ValueError(
                f"History.from_dict: d must have the keys {list(_LISTS)}; got {sorted(d)!r}"
            )
        lists = {name: _floats(d[name], name) for name in _LISTS}
        _check_lengths(lists)
        best_epoch = d.get("best_epoch")
        stop_reason = d.get("stop_reason")
        if stop_reason not in _STOP_REASONS:
            raise ValueError(
                f"History.from_dict: stop_reason must be one of {_STOP_REASONS}; "
                f"got {stop_reason!r}"
            )
        return cls(
            **lists,
            best_epoch=None if best_epoch is None else int(best_epoch),
            stopped_early=bool(d.get("stopped_early", False)),
            stop_reason=stop_reason,
        )


def _check_lengths(lists: dict[str, list[float]]) -> None:
    """ValueError unless every list holds one value an epoch (the validation lists none, for a
    run without validation): a checkpoint with one list cut short resumed, and its plot and
    model file showed the validation curve an epoch off."""
    epochs = len(lists["train_loss"])
    lengths = {name: len(values) for name, values in lists.items()}
    allowed = {name: (0, epochs) if name.startswith("val_") else (epochs,) for name in lists}
    if any(lengths[name] not in allowed[name] for name in lists) or (
        lengths["val_loss"] != lengths["val_acc"]
    ):
        shown = ", ".join(f"{name} {length}" for name, length in lengths.items())
        raise ValueError(
            f"History.from_dict: every list must hold one value an epoch (the validation "
            f"lists may be empty); got {shown}"
        )


def _floats(values: Any, name: str) -> list[float]:
    """A list of :meth:`History.to_dict` (None for NaN) or :meth:`History.to_arrays` (a 1-D
    float array) as floats."""
    where = f"History.from_dict: d[{name!r}]"
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.dtype.kind != "f":
            raise ValueError(
                f"{where} must be a 1-D float array; got {values.dtype.name} of shape "
                f"{values.shape}"
            )
        return values.tolist()
    try:
        return [math.nan if v is None else float(v) for v in values]
    except (TypeError, ValueError):  # Python's "could not convert string to float: 'a'"
        shown = repr(values)
        raise ValueError(
            f"{where} must be a list of numbers (None for NaN); got "
            f"{shown if len(shown) <= 80 else shown[:77] + '...'}"
        ) from None


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
