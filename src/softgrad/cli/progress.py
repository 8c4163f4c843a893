"""Progress for a person: a tqdm bar on a terminal, plain lines otherwise.

:class:`LoadProgress` is the ``progress`` callback of :func:`softgrad.datasets.load_data`: while a
big data file is read it draws a bar of bytes read (on a terminal, once the load has taken a
second), or prints one line when a load that took more than a second ends (otherwise).

:class:`EpochProgress` is a :func:`softgrad.training.fit` callback. When its stream (stderr by
default) is a terminal it draws one progress bar per epoch that fills batch by batch (with the
running batch loss) and is replaced, when the epoch ends, by the epoch's summary line; when the
output goes to a file or a pipe (CI logs, ``2> log.txt``) it prints only those summary lines, so
logs are not full of carriage returns.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from softgrad.checks.wording import fixed

LOAD_DELAY = 1.0  # seconds: a load quicker than this shows nothing


def _env_size(name: str) -> int:
    """``$COLUMNS`` or ``$LINES`` as shutil.get_terminal_size takes them: a positive integer,
    else 0 (unset or not a number)."""
    try:
        return max(0, int(os.environ.get(name, "")))
    except ValueError:
        return 0


def terminal_size(stream: Any) -> os.terminal_size:
    """The size of the terminal that ``stream`` draws on: ``$COLUMNS`` and ``$LINES`` first, as
    shutil.get_terminal_size takes them, then the stream's own terminal, and 100 x 24 where it
    reports none (a bare pty reports 0 x 0, which would hide the bar).

    Not shutil's: it asks stdout's terminal, and ``softgrad train > run.json`` (or ``| jq``)
    redirects stdout while the bar goes to stderr, so the bar was drawn 100 columns wide on a
    terminal of 60 and wrapped at every redraw, leaving a line behind each time.
    """
    columns, lines = _env_size("COLUMNS"), _env_size("LINES")
    if not (columns and lines):
        try:
            size = os.get_terminal_size(stream.fileno())
        except (AttributeError, ValueError, OSError):  # no file, closed, or not a terminal
            size = os.terminal_size((0, 0))
        columns, lines = columns or size.columns, lines or size.lines
    return os.terminal_size((columns or 100, lines or 24))


def _last(values: Any) -> float | None:
    return float(values[-1]) if values else None


def epoch_summary(history: Any) -> str:
    """The metrics of the last epoch of ``history`` as ``loss 0.1234  acc 0.9650 ...``.

    Example
    -------
    >>> from softgrad.training import History
    >>> h = History(train_loss=[0.5], train_acc=[0.8], lr=[0.001], epoch_time=[1.25])
    >>> epoch_summary(h)
    'loss 0.5000  acc 0.8000  lr 0.001  1.2s'
    """
    parts = []
    for label, key in (
        ("loss", "train_loss"),
        ("acc", "train_acc"),
        ("val loss", "val_loss"),
        ("val acc", "val_acc"),
    ):
        value = _last(getattr(history, key, None))
        if value is not None:
            parts.append(f"{label} {fixed(value)}")
    lr = _last(getattr(history, "lr", None))
    if lr is not None:
        parts.append(f"lr {lr:.3g}")
    seconds = _last(getattr(history, "epoch_time", None))
    if seconds is not None:
        parts.append(f"{seconds:.1f}s")
    return "  ".join(parts)


class EpochProgress:
    """A fit callback showing one bar (terminal) or one line (otherwise) per epoch.

    Parameters
    ----------
    epochs : int
        The planned number of epochs, shown as ``epoch 3/20``.
    stream : text stream, optional
        Where to draw; ``sys.stderr`` when None (stdout stays clean for results and ``--json``).
    bar : bool, optional
        Force the tqdm bar on or off; by default it is on exactly when ``stream`` is a terminal.
    quiet : bool
        Show nothing; only count (``--quiet``).

    Attributes
    ----------
    epochs_seen : int
        Epochs trained while this callback listened (a resumed run counts only its own).
    n_samples : int
        Training samples per epoch (after the validation split), as fit reported it.
    """

    def __init__(
        self,
        epochs: int,
        stream: TextIO | None = None,
        bar: bool | None = None,
        quiet: bool = False,
    ):
        self.epochs = epochs
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.bar = not quiet and (_isatty(self.stream) if bar is None else bar)
        self._tqdm: Any = None
        self.epochs_seen = 0
        self.n_samples = 0

    batch_hook_reads_only = True  # the bar reads the state's epoch and batch count
    batch_hook_reads_grads = False

    def on_batch_end(self, state: Any) -> None:
        if not self.bar:
            return None
        if self._tqdm is None:
            from tqdm import tqdm

            size = terminal_size(self.stream)
            self._tqdm = tqdm(
                total=state.n_batches,
                desc=f"epoch {state.epoch}/{self.epochs}",
                unit="batch",
                file=self.stream,
                leave=False,  # replaced by the epoch's summary line when the epoch ends
                ncols=size.columns,
                nrows=size.lines,
            )
        loss = state.logs.get("loss")
        if loss is not None:
            self._tqdm.set_postfix_str(f"loss {loss:.4f}", refresh=False)
        self._tqdm.update(state.batch - self._tqdm.n)
        return None

    def on_epoch_end(self, state: Any) -> None:
        self.epochs_seen += 1
        self.n_samples = int(state.n_samples)
        if self.quiet:
            return None
        self.close()
        width = len(str(self.epochs))
        summary = epoch_summary(state.history)
        print(
            f"epoch {state.epoch:>{width}}/{self.epochs}  {summary}", file=self.stream, flush=True
        )
        return None

    def on_train_end(self, state: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close an open bar (called at epoch end, and by the CLI when training stops early)."""
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def load_data_with_progress(
    spec: str,
    quiet: bool = False,
    hold_out: bool = True,
    csv_dtype: Any = None,
    train_dtype: Any = "float32",
) -> Any:
    """:func:`softgrad.datasets.load_data` with a :class:`LoadProgress` on stderr."""
    from softgrad.datasets import load_data, unknown_spec
    from softgrad.errors import DatasetNotFoundError

    problem = unknown_spec(spec)
    if problem is not None:  # named as the command line names it, not as load_data's spec
        raise DatasetNotFoundError(f"--data {problem}")
    progress = LoadProgress(Path(spec).name, quiet=quiet)
    finished = False
    try:
        data = load_data(
            spec, progress=progress, hold_out=hold_out, csv_dtype=csv_dtype, train_dtype=train_dtype
        )
        finished = True
    finally:
        progress.close(finished)
    return data


class LoadProgress:
    """A ``progress(bytes_read, total_bytes)`` callback for reading a data file.

    On a terminal, a tqdm bar of bytes read appears once the load has taken ``LOAD_DELAY``
    seconds and disappears when it ends; otherwise, when a load that took longer ends, one line
    ``loaded NAME: 85.4 MB in 1.7s``. A quick load shows nothing either way.

    Parameters
    ----------
    name : str
        What is loaded, as shown (the file's name).
    stream : text stream, optional
        Where to draw; ``sys.stderr`` when None.
    bar : bool, optional
        Force the bar on or off; by default it is on exactly when ``stream`` is a terminal.
    quiet : bool
        Show nothing.
    clock : callable
        Seconds as a float (``time.monotonic``); tests pass their own.

    Example
    -------
    >>> import io
    >>> ticks = iter([0.0, 2.5])
    >>> stream = io.StringIO()
    >>> progress = LoadProgress("big.csv", stream=stream, clock=lambda: next(ticks))
    >>> progress(85_400_000, 85_400_000)
    >>> progress.close()
    >>> stream.getvalue()
    'loaded big.csv: 85.4 MB in 2.5s\\n'
    """

    def __init__(
        self,
        name: str,
        stream: TextIO | None = None,
        bar: bool | None = None,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.bar = not quiet and (_isatty(self.stream) if bar is None else bar)
        self.clock = clock
        self._start = clock()
        self._tqdm: Any = None
        self.bytes_read = 0
        self.calls = 0

    def __call__(self, bytes_read: int, total_bytes: int) -> None:
        self.calls += 1
        self.bytes_read = bytes_read
        if not self.bar:
            return
        if self._tqdm is None:
            from tqdm import tqdm

            size = terminal_size(self.stream)
            self._tqdm = tqdm(
                total=total_bytes,
                desc=f"loading {self.name}",
                unit="B",
                unit_scale=True,
                file=self.stream,
                leave=False,
                delay=max(0.0, LOAD_DELAY - (self.clock() - self._start)),
                ncols=size.columns,
            )
        if self._tqdm.total != total_bytes:  # a CSV read again as float64: twice the bytes
            self._tqdm.total = total_bytes
        self._tqdm.update(bytes_read - self._tqdm.n)

    def close(self, finished: bool = True) -> None:
        """End the bar; without a bar, print the one line of a slow load that ``finished``."""
        seconds = self.clock() - self._start
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif finished and not self.bar and not self.quiet and self.calls and seconds > LOAD_DELAY:
            print(
                f"loaded {self.name}: {self.bytes_read / 1e6:.1f} MB in {seconds:.1f}s",
                file=self.stream,
                flush=True,
            )
