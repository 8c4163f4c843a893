"""Ctrl-C during training, deferred to the end of the batch.

Python raises KeyboardInterrupt at whatever line runs when the signal comes. Inside a step that
was between two parts of one update: the weights moved and the optimizer's step count did not
(Adam's next bias correction was then another run's), one layer had taken the step and the
next had not (SGD's folded steps), early stopping had put back some of the best weights and not
the others, or the estimator had recorded an epoch in ``loss_curve_`` and not in ``n_iter_``.
Deferred, the interrupt is raised between two batches (or when fit ends), where every object
holds a state of the run; a second Ctrl-C interrupts at once, for a step that hangs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from softgrad.training.callbacks import Callback


class InterruptAtBatchEnd(Callback):
    """Defer Ctrl-C during training to the end of the batch (this callback raises it there).

    A KeyboardInterrupt raised inside ``np.savez`` while a checkpoint is written surfaces as
    zipfile's own errors ("Can't close the ZIP file ...") and unraisable warnings; deferred,
    the checkpoint being written is finished and the run stops after the next batch. A second
    Ctrl-C interrupts at once. Outside the main thread signals cannot be caught: no deferral.
    ``pending`` says whether a Ctrl-C is waiting to be raised.

    Parameters
    ----------
    raise_at_exit : bool, default True
        Raise a Ctrl-C still pending when the block ends instead of dropping it. fit raises
        one that came after the last batch (the last validation, the best weights put back)
        itself, where the ranks of a data-parallel run still agree on it
        (:func:`take_pending`); one that comes after that, as fit returns, each rank would
        raise on its own, so several ranks let it go.
    """

    batch_hook_reads_only = True  # it raises a deferred Ctrl-C, and changes nothing
    batch_hook_reads_grads = False

    def __init__(self, raise_at_exit: bool = True) -> None:
        self.pending = False
        self.raise_at_exit = raise_at_exit
        self._previous: Any = None

    def __enter__(self) -> InterruptAtBatchEnd:
        self.pending = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, kind: Any, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if kind is None and self.pending and self.raise_at_exit:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def on_batch_end(self, state: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt


def take_pending(callbacks: Iterable[Any]) -> bool:
    """Whether an :class:`InterruptAtBatchEnd` among ``callbacks`` holds a Ctrl-C (one that
    came after the last batch), which the caller raises; it is no longer pending after this."""
    for callback in callbacks:
        if isinstance(callback, InterruptAtBatchEnd) and callback.pending:
            callback.pending = False
            return True
    return False


@contextmanager
def ctrl_c_at_batch_end() -> Iterator[InterruptAtBatchEnd | None]:
    """fit's deferral (:class:`InterruptAtBatchEnd`, for fit to add to its callbacks; a Ctrl-C
    after the last batch is raised as fit ends), where Ctrl-C would otherwise raise at any
    line: Python's own handler in force, in the main thread. A handler of the caller's own
    (``softgrad train``'s, a notebook's) is left to do what it does; then this yields None."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield None
        return
    with InterruptAtBatchEnd() as deferral:
        yield deferral
