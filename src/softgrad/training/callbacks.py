"""How the training loop reports progress without printing: callbacks and the state they see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from softgrad.training.history import History

_HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")


@dataclass
class TrainState:
    """What a callback sees: one object, updated in place as training runs.

    Attributes
    ----------
    epoch : int
        1-based epoch in progress (0 before the first epoch).
    batch : int
        1-based batch within the epoch (0 before its first batch).
    n_batches : int
        Mini-batches per epoch.
    epochs : int
        Epochs requested.
    n_samples : int
        Training samples per epoch (after any validation split).
    history : History
        The run so far (the current epoch is appended before ``on_epoch_end``).
    model, optimizer : object
        The network being trained and its optimizer (read them; do not replace them).
    logs : dict
        After a batch: ``loss`` (that batch's loss) and ``batch_size``. After an epoch:
        ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (None without validation),
        ``lr`` and ``epoch_time``.

    Examples
    --------
    >>> state = TrainState(epochs=3, n_batches=10, n_samples=1280)
    >>> state.epoch, state.batch, state.history.epochs
    (0, 0, 0)
    """

    epoch: int = 0
    batch: int = 0
    n_batches: int = 0
    epochs: int = 0
    n_samples: int = 0
    history: History = field(default_factory=History)
    model: Any = None
    optimizer: Any = None
    logs: dict[str, Any] = field(default_factory=dict)


class Callback:
    """Base class for training callbacks; every hook is optional and does nothing here.

    Subclassing is not required: :func:`fit` accepts any object with some of the methods
    ``on_train_begin``, ``on_epoch_begin``, ``on_batch_end``, ``on_epoch_end`` and
    ``on_train_end``, each taking the :class:`TrainState`. ``on_batch_end`` or ``on_epoch_end``
    returning True stops training (after a batch, the partial epoch is still validated and
    recorded, but not checkpointed: resuming trains that epoch whole).

    Examples
    --------
    >>> class StopAfter(Callback):
    ...     def __init__(self, n):
    ...         self.n = n
    ...     def on_epoch_end(self, state):
    ...         return state.epoch >= self.n
    >>> StopAfter(2).on_epoch_end(TrainState(epoch=2))
    True

    A callback whose ``on_batch_end`` only reads (the state, its logs) and changes nothing
    that training uses (the network, its parameters, the loss, the optimizer and its settings,
    the kernels, the data) may say so with ``batch_hook_reads_only = True``: fit then keeps
    its checks-free step between batches (:mod:`softgrad.training.trusted_step`), which any
    other ``on_batch_end`` turns off, since it may change any of them.
    The declaration is the hook's word, not checked: one that changes something anyway may
    find the change ignored until the epoch ends (a replaced array, the loss's settings, a new
    store by ``astype``, whose remaining steps that epoch are lost) or taken at once (the
    learning rate, weights edited in place). Changes made in ``on_epoch_end`` are always
    honoured.

    Such a step may also fold SGD's gradients straight into its update
    (:mod:`softgrad.training.folded_step`), leaving ``model.named_grads()`` unwritten until the
    epoch's last full batch. So a read-only hook is taken to read the gradients too, and keeps
    every gradient written, unless it also says ``batch_hook_reads_grads = False``.
    """

    # whether on_batch_end only reads (see above); any object may set it
    batch_hook_reads_only = False
    # whether a read-only on_batch_end may read the gradients (see above)
    batch_hook_reads_grads = True

    def on_train_begin(self, state: TrainState) -> None:
        """Called once before the first epoch (after a resume, before the next epoch).

        Parameters
        ----------
        state : TrainState
            The run's state (``epoch`` 0, or the epochs a resumed run has done).
        """

    def on_epoch_begin(self, state: TrainState) -> None:
        """Called before each epoch's first batch.

        Parameters
        ----------
        state : TrainState
            ``epoch`` is the epoch about to run (1-based), ``batch`` 0.
        """

    def on_batch_end(self, state: TrainState) -> bool | None:
        """Called after each update step; return True to stop training.

        Parameters
        ----------
        state : TrainState
            ``batch`` is the step just taken; ``logs`` holds its ``loss`` and ``batch_size``.

        Returns
        -------
        stop : bool or None
            True stops training after this batch (the partial epoch is still recorded).
        """
        return None

    def on_epoch_end(self, state: TrainState) -> bool | None:
        """Called after each epoch is recorded in ``state.history``; return True to stop.

        Parameters
        ----------
        state : TrainState
            ``logs`` holds the epoch's figures (``train_loss``, ``val_loss``, ``lr`` ...).

        Returns
        -------
        stop : bool or None
            True stops training after this epoch.
        """
        return None

    def on_train_end(self, state: TrainState) -> None:
        """Called once when training ends (normally, early or by a callback).

        Parameters
        ----------
        state : TrainState
            The final state; ``history.stop_reason`` says what ended an early stop.
        """


class CallbackList:
    """The hooks of several callbacks, looked up once so the batch loop pays only for real ones."""

    def __init__(self, callbacks: Any) -> None:
        if callbacks is None:
            callbacks = ()
        if (
            isinstance(callbacks, (str, bytes))
            or not isinstance(callbacks, Iterable)
            or any(callable(getattr(callbacks, hook, None)) for hook in _HOOKS)
        ):
            raise TypeError(
                f"fit: callbacks must be a sequence of callbacks ([cb]); got {callbacks!r}"
            )
        callbacks = list(callbacks)
        for cb in callbacks:
            if not any(callable(getattr(cb, hook, None)) for hook in _HOOKS):
                raise TypeError(
                    f"fit: callbacks must have at least one of the methods {_HOOKS}; got {cb!r}"
                )
        self.callbacks = callbacks
        self.hooks = {
            hook: [getattr(cb, hook) for cb in callbacks if callable(getattr(cb, hook, None))]
            for hook in _HOOKS
        }
        # a Callback subclass that does not override on_batch_end costs nothing per batch
        self.hooks["on_batch_end"] = [
            fn
            for fn in self.hooks["on_batch_end"]
            if getattr(fn, "__func__", None) is not Callback.on_batch_end
        ]

    @property
    def has_batch_hooks(self) -> bool:
        """True when some callback wants to hear about every batch."""
        return bool(self.hooks["on_batch_end"])

    @property
    def batch_hooks_read_only(self) -> bool:
        """True when every ``on_batch_end`` belongs to a callback that says it only reads
        (``batch_hook_reads_only``; a bare function never does)."""
        return self._every_batch_hook_says("batch_hook_reads_only", True, default=False)

    @property
    def batch_hooks_read_grads(self) -> bool:
        """True unless every ``on_batch_end`` belongs to a callback that says it does not
        read the gradients (``batch_hook_reads_grads = False``; a bare function may)."""
        return not self._every_batch_hook_says("batch_hook_reads_grads", False, default=True)

    def _every_batch_hook_says(self, name: str, value: bool, default: bool) -> bool:
        """Whether the callback of every ``on_batch_end`` has ``name`` set to ``value`` (a
        bare function, or a callback without it, has ``default``); True when there are none."""
        return all(
            getattr(getattr(fn, "__self__", None), name, default) is value
            for fn in self.hooks["on_batch_end"]
        )

    def call(self, hook: str, state: TrainState) -> bool:
        """Run every callback's ``hook``; True when any of them asked to stop."""
        stop = False
        for fn in self.hooks[hook]:
            if fn(state) is True:
                stop = True
        return stop


class BatchSizeMeanLoss(Callback):
    """Writes ``state.logs["batch_size_mean_loss"]``: the epoch's batch losses averaged with
    their batch sizes as weights, scikit-learn's ``loss_``.

    Without sample weights it equals ``train_loss``; with them fit's ``train_loss`` weighs
    each sample by its weight, scikit-learn by its count.

    Examples
    --------
    The hooks as :func:`fit` calls them, over an epoch of 10 samples in batches of 4:

    >>> cb, state = BatchSizeMeanLoss(), TrainState()
    >>> cb.on_epoch_begin(state)
    >>> for loss, n in ((1.0, 4), (0.5, 4), (2.0, 2)):
    ...     state.logs.update(loss=loss, batch_size=n)
    ...     cb.on_batch_end(state)
    >>> cb.on_epoch_end(state)
    >>> state.logs["batch_size_mean_loss"]  # (1.0 * 4 + 0.5 * 4 + 2.0 * 2) / 10
    1.0
    """

    batch_hook_reads_only = True  # it sums the logs' loss and batch size
    batch_hook_reads_grads = False

    def __init__(self) -> None:
        self._sum = 0.0
        self._count = 0

    def on_epoch_begin(self, state: TrainState) -> None:
        self._sum, self._count = 0.0, 0

    def on_batch_end(self, state: TrainState) -> None:
        self._sum += state.logs["loss"] * state.logs["batch_size"]
        self._count += state.logs["batch_size"]

    def on_epoch_end(self, state: TrainState) -> None:
        state.logs["batch_size_mean_loss"] = self._sum / self._count
