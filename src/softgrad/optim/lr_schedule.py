"""The base of every learning-rate schedule: the wrapped optimizer, the epoch counter, and
saving and restoring both (``state_dict()`` / ``load_state_dict()``, validated before anything
changes). The schedules themselves are in :mod:`softgrad.optim.schedules` (closed form) and
:mod:`softgrad.optim.plateau` (driven by a metric).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from softgrad.checks import check_int, check_number, check_saved_state
from softgrad.optim.optimizer import Optimizer

__all__ = ["LRSchedule"]


class LRSchedule:
    """Base class: holds the optimizer, the epoch counter and the save/restore logic.

    Subclasses list their constructor arguments in ``_CONFIG`` (validated by
    :meth:`_validate`) and their extra scalar counters in ``_COUNTERS``.

    Attributes
    ----------
    optimizer : Optimizer
    base_lr : float
        The optimizer's ``lr`` when the schedule was built.
    last_epoch : int
        Number of ``step`` calls so far.

    Examples
    --------
    >>> from softgrad.optim import SGD, StepLR
    >>> schedule = StepLR(SGD(lr=0.1), step_size=1, gamma=0.5)
    >>> schedule.step()
    >>> schedule.state_dict()
    {'type': 'StepLR', 'step_size': 1, 'gamma': 0.5, 'base_lr': 0.1, 'last_epoch': 1}
    """

    _CONFIG: tuple[str, ...] = ()
    _COUNTERS: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, **config: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: optimizer must be a softgrad.optim.Optimizer; "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr: float = optimizer.lr
        self.last_epoch = 0
        for name, value in self._validate(config).items():
            setattr(self, name, value)

    @classmethod
    def _validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def step(self, metric: float | None = None) -> None:
        """End of an epoch: advance the counter and set the optimizer's ``lr``.

        Parameters
        ----------
        metric : float, optional
            The epoch's monitored loss, for the schedules that watch one
            (:class:`~softgrad.optim.ReduceLROnPlateau`, ``AdaptiveLR``); the others ignore it.

        Examples
        --------
        >>> from softgrad.optim import SGD, StepLR
        >>> opt = SGD(lr=0.5)
        >>> schedule = StepLR(opt, step_size=2, gamma=0.5)
        >>> for epoch in range(4):
        ...     schedule.step()
        ...     print(schedule.last_epoch, opt.lr)
        1 0.5
        2 0.25
        3 0.25
        4 0.125
        """
        raise NotImplementedError

    @property
    def last_lr(self) -> float:
        """The optimizer's current learning rate."""
        return self.optimizer.lr

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments other than the optimizer (JSON-safe).

        Returns
        -------
        config : dict

        Examples
        --------
        >>> from softgrad.optim import SGD, StepLR
        >>> StepLR(SGD(lr=0.1), step_size=3, gamma=0.5).get_config()
        {'step_size': 3, 'gamma': 0.5}
        """
        return {name: getattr(self, name) for name in self._CONFIG}

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def state_dict(self) -> dict[str, Any]:
        """Configuration and counters: flat keys, JSON-safe scalars (no arrays).

        The optimizer's own state (which holds the current ``lr``) is saved separately.

        Returns
        -------
        state : dict
            ``type``, the config, ``base_lr``, ``last_epoch`` and the subclass's counters.

        Examples
        --------
        >>> from softgrad.optim import SGD, StepLR
        >>> StepLR(SGD(lr=0.5), step_size=1).state_dict()
        {'type': 'StepLR', 'step_size': 1, 'gamma': 0.1, 'base_lr': 0.5, 'last_epoch': 0}
        """
        counters = {name: getattr(self, name) for name in self._COUNTERS}
        return {
            "type": type(self).__name__,
            **self.get_config(),
            "base_lr": self.base_lr,
            "last_epoch": self.last_epoch,
            **counters,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; validated first, untouched on error.

        Parameters
        ----------
        state : mapping
            :meth:`state_dict`'s output, of a schedule of this class.

        Raises
        ------
        TypeError, ValueError
            Another schedule's state, or a missing, extra or bad entry, named in the message.

        Examples
        --------
        >>> from softgrad.optim import SGD, StepLR
        >>> schedule = StepLR(SGD(lr=0.5), step_size=1, gamma=0.5)
        >>> schedule.step()
        >>> resumed = StepLR(SGD(lr=0.5), step_size=4)
        >>> resumed.load_state_dict(schedule.state_dict())
        >>> resumed, resumed.last_epoch
        (StepLR(step_size=1, gamma=0.5), 1)
        """
        where = f"{type(self).__name__}.load_state_dict"
        names = (*self._CONFIG, "base_lr", "last_epoch", *self._COUNTERS)
        check_saved_state(state, where, names, kind=type(self).__name__)
        unexpected = sorted(str(name) for name in state if name not in ("type", *names))
        if unexpected:  # a typo, or another schedule's state: as the optimizers refuse it
            raise ValueError(
                f"{where}: state must hold only 'type' and {list(names)!r}; got {unexpected!r}"
            )
        config = self._validate({name: state[name] for name in self._CONFIG})
        values = {
            "base_lr": check_number(state["base_lr"], where, "base_lr", 0.0),
            "last_epoch": check_int(state["last_epoch"], where, "last_epoch", 0),
            **self._validate_counters(where, {name: state[name] for name in self._COUNTERS}),
        }
        for name, value in {**config, **values}.items():
            setattr(self, name, value)

    def _resume_mismatch(self, state: Any) -> str | None:
        """What keeps this schedule from continuing the run that saved ``state``, beyond what
        :meth:`load_state_dict` checks of the state itself; None where nothing does. fit asks
        it before a resume loads anything (:class:`~softgrad.optim.LambdaLR`'s function is
        not saved)."""
        return None

    def _validate_counters(self, where: str, counters: Mapping[str, Any]) -> dict[str, Any]:
        return {name: check_int(value, where, name, 0) for name, value in counters.items()}
