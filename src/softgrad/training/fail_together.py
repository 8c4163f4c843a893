"""A failure on any rank ends every rank with the same error: the error agreement of
:class:`~softgrad.training.distributed.Communicator`.

An error a rank meets outside a collective is kept (:meth:`FailTogether.defer`) until the next
point where the ranks exchange a failure flag anyway, and raised there on every rank
(:meth:`FailTogether.raise_together`); a block run on every rank (:meth:`FailTogether.agree`,
:meth:`FailTogether.check_together`) ends in such an exchange.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from softgrad.errors import DistributedError

__all__ = ["FailTogether"]


class FailTogether:
    """The error agreement half of :class:`~softgrad.training.distributed.Communicator`.

    A mixin: it uses the Communicator's ``comm`` (its allgather), ``rank``, ``size`` and
    ``pending`` (the deferred error, None when there is none).
    """

    comm: Any
    rank: int
    size: int
    pending: BaseException | None

    def defer(self, error: BaseException) -> None:
        """Keep ``error`` (met by this rank alone, outside a collective) for the next
        :meth:`raise_together`, which raises it on every rank; the first one kept wins."""
        if self.pending is None:
            self.pending = error

    def agree(self, where: str, errors: tuple[type[BaseException], ...] = (Exception,)) -> Any:
        """Run the block on every rank; if it raised one of ``errors`` on any rank (or a
        deferred error is pending), raise the same DistributedError on every rank after it."""
        return self._together(where, errors, alike_as_is=False)

    def check_together(self, where: str) -> Any:
        """Run a block of argument checks on every rank (no collective inside it); if it raised
        an Exception on any rank, raise on every rank after it.

        Where every rank raised the same error (the same bad argument everywhere, the common
        case), each rank raises its own, type and message as in one process. Where they differ
        (a NaN in one rank's data, a file missing on one rank), it is :meth:`agree`'s
        DistributedError, naming the first failing rank and its error, on every rank.
        """
        return self._together(where, (Exception,), alike_as_is=True)

    @contextmanager
    def _together(
        self, where: str, errors: tuple[type[BaseException], ...], alike_as_is: bool
    ) -> Any:
        error = None
        try:
            yield
        except errors as exc:
            error = exc
        self._settle(error, where, alike_as_is)

    def raise_together(self, error: BaseException | None, where: str) -> None:
        """Raise the same DistributedError on every rank if any rank has an ``error`` (or a
        :meth:`defer`-red one).

        Every rank must call it at the same point; it returns when no rank has an error. The
        message names the first failing rank and its error; on that rank the DistributedError
        is chained to the original (``__cause__``), traceback included. When that error is a
        KeyboardInterrupt (Ctrl-C a callback raised: ``sharded._DeferErrors``), every rank's
        DistributedError is chained to one, so every rank knows that it was interrupted.
        """
        self._settle(error, where, alike_as_is=False)

    def _settle(self, error: BaseException | None, where: str, alike_as_is: bool) -> None:
        """One allgather of every rank's ``error`` (or deferred one), then the raise every rank
        agrees on: ``error`` itself when ``alike_as_is`` and every rank has the same one, else
        :meth:`_raise_first`'s DistributedError (nothing when no rank failed)."""
        error = self._take_error(error)
        messages = self.comm.allgather(_describe(error))
        if alike_as_is and error is not None and all(m == messages[0] for m in messages):
            raise error
        self._raise_first(error, messages, where)

    def _take_error(self, error: BaseException | None) -> BaseException | None:
        """``error``, else the deferred one (no longer pending after this)."""
        if error is None:
            error, self.pending = self.pending, None
        return error

    def _raise_first(self, error: BaseException | None, messages: list[Any], where: str) -> None:
        failed = [(r, m) for r, m in enumerate(messages) if m is not None]
        if not failed:
            return
        rank, message = failed[0]
        cause = error if rank == self.rank else None
        if cause is None and message.split(":", 1)[0] == "KeyboardInterrupt":
            cause = KeyboardInterrupt()  # Ctrl-C on one rank is Ctrl-C on every rank
        raise DistributedError(f"{where}: rank {rank} of {self.size} failed: {message}") from cause


def _describe(error: BaseException | None) -> str | None:
    """The line another rank shows for ``error``: its type and message (if it has one)."""
    if error is None:
        return None
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
