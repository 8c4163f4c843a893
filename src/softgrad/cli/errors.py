"""How the CLI turns a failure into one line on stderr and an exit status.

Every anticipated failure (a bad option, a missing or corrupted file, data that does not fit the
model, a diverged run, Ctrl-C) becomes exactly one line ``softgrad: error: ...`` on stderr and exit
status 2 (130 for Ctrl-C), never a traceback. A closed stdout pipe (``| head``) ends quietly
with 141, as a shell reports SIGPIPE. Anything else is a bug in softgrad and keeps its
traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TextIO

from softgrad.atomic import STOP_SIGNALS
from softgrad.errors import SoftgradError

EXIT_OK = 0
EXIT_FAILED_CHECK = 1  # the command ran but its check failed (gradcheck)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE

# the failures a user can cause; anything else is a bug and keeps its traceback
EXPECTED_ERRORS = (SoftgradError, ValueError, TypeError, OSError, FloatingPointError, MemoryError)


# a quoted name as repr() writes it ('a  b', "it's"): a quote no letter or digit touches from
# outside (an apostrophe, as in "checkpoint's", does), up to its unescaped closing quote
_QUOTED = re.compile(r"""(?<!\w)('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")(?!\w)""")


def fold(text: str) -> str:
    """``text`` on one line: each run of white space one space, but quoted names kept as they
    are (folding made a class named '  ' read ' ').

    Example
    -------
    >>> fold("classes must be distinct;\\n  got '  ' twice")
    "classes must be distinct; got '  ' twice"
    """
    parts = _QUOTED.split(text)  # the quoted names at the odd positions
    return "".join(
        part if index % 2 else re.sub(r"\s+", " ", part) for index, part in enumerate(parts)
    ).strip()


class UsageError(Exception):
    """A bad command line: unknown option, bad option value, missing argument."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on a single line (:func:`fold`), with OSErrors spelled as
    ``reason: file``.

    Example
    -------
    >>> one_line(FileNotFoundError(2, "No such file or directory", "data.npz"))
    'No such file or directory: data.npz'
    >>> one_line(ValueError("two\\nlines"))
    'two lines'
    """
    if isinstance(exc, OSError) and not isinstance(exc, SoftgradError) and exc.strerror:
        filename = f": {_file_name(exc.filename)}" if exc.filename else ""
        text = f"{exc.strerror}{filename}"
    elif isinstance(exc, MemoryError):
        # NumPy's "Unable to allocate 47.7 GiB for an array with shape (64, 100000000) ..."
        # names the size but not the way out
        detail = f" ({exc})" if str(exc) else ""
        text = (
            f"out of memory{detail}; smaller inputs fit in less (for train: a smaller network "
            "--hidden, batch --batch-size or data set)"
        )
    else:
        text = str(exc) or type(exc).__name__
    return fold(text)


def _file_name(name: object) -> str:
    """A file name as the error line shows it: as it is, or quoted where folding would change
    it ('a  b.npz' read 'a b.npz', another file's name)."""
    name = str(name)
    return name if fold(name) == name else repr(name)


def interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is Ctrl-C, or an error raised while cleaning up after one.

    Ctrl-C inside a library's cleanup (``np.savez`` closing its zip file) can surface as that
    library's own error, with the KeyboardInterrupt only in ``__context__``.

    Example
    -------
    >>> try:
    ...     try:
    ...         raise KeyboardInterrupt
    ...     finally:
    ...         raise ValueError("seek of closed file")
    ... except ValueError as err:
    ...     interrupted(err)
    True
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def report(message: str, stream: TextIO | None = None) -> None:
    """Print ``softgrad: error: <message>`` as one line on stderr.

    Under mpiexec only rank 0 prints: every rank meets the same error (softgrad.cli.ranks).
    """
    # imported here: the training package is not loaded by a command that never trains
    from softgrad.training.distributed import launcher_rank

    if launcher_rank() not in (None, 0):
        return
    print(f"softgrad: error: {fold(message)}", file=stream or sys.stderr, flush=True)


def _silence(stream: object) -> None:
    """Point the descriptor under ``stream`` at /dev/null: what it still buffers then goes
    nowhere, instead of failing again at the interpreter's final flush."""
    try:
        _devnull_onto(stream.fileno())  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured in tests): nothing will flush to a pipe


def _devnull_onto(fd: int) -> None:
    """Open /dev/null as the descriptor ``fd`` (closing what ``fd`` was)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    if devnull != fd:  # fd was closed and the lowest free number: it is /dev/null already
        os.dup2(devnull, fd)
        os.close(devnull)


def flush_stdout() -> None:
    """Write what stdout still buffers, so a closed pipe or a full disk is met inside
    :func:`run_guarded` (141 quietly; one error line) rather than by the interpreter at exit,
    which printed two lines and exited 120. On failure stdout is first pointed at /dev/null:
    the unwritten text stays buffered, and the final flush would fail again."""
    try:
        sys.stdout.flush()
    except OSError:  # a StdoutError within escaped_stdout: it names stdout
        _silence(sys.stdout)
        raise


@contextlib.contextmanager
def standard_streams() -> Iterator[None]:
    """stdout and stderr for a run, whatever state the shell left them in.

    - stderr carries diagnostics only (progress, notes, the error line), so it never stops a
      command: a closed stderr (``2>&-``) or one whose reader went away (``train 2>&1 |
      head -1``) drops what is written to it from then on. The first progress line after
      ``head`` left raised BrokenPipeError, and the run was dropped without a model (exit
      141, which the shell did not show); with stderr closed, the error line went to stdout.
    - A closed stdout (``>&-``) fails the first write as a full disk does (one error line,
      exit 2; :func:`softgrad.cli.output.escaped_stdout` names stdout): Python leaves
      ``sys.stdout`` None, and every command ended in a traceback, exit 1.
    - A closed descriptor 1 or 2 is given /dev/null, so that no file opened later (a model
      being written) takes its number.

    The streams are put back afterwards."""
    saved = sys.stdout, sys.stderr
    for fd in (1, 2):
        _occupy(fd)
    sys.stderr = _Diagnostics(sys.stderr)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _occupy(fd: int) -> None:
    """Open /dev/null on the descriptor ``fd`` if it is closed."""
    try:
        os.fstat(fd)
    except OSError:
        _devnull_onto(fd)


class _Diagnostics:
    """stderr (or None, a closed one), whose failed writes and flushes are dropped with
    everything after them (:func:`standard_streams`)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._lost = stream is None

    def write(self, text: str) -> int:
        self._call("write", text)
        return len(text)

    def flush(self) -> None:
        self._call("flush")

    def isatty(self) -> bool:
        return not self._lost and bool(self._call("isatty"))

    def _call(self, name: str, *args: object) -> object:
        if self._lost:
            return None
        try:
            return getattr(self._stream, name)(*args)
        except (OSError, ValueError):  # a closed pipe, a closed file
            self._lost = True
            _silence(self._stream)  # the interpreter's final flush must not fail again
            return None

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


class _ClosedStdout:
    """``sys.stdout`` when descriptor 1 was closed (``>&-``): writing fails as writing to a
    closed descriptor does."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        pass  # nothing was written

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, a scheduler's time limit) handled as Ctrl-C is: by the
    SIGINT handler in force when it arrives, so training's deferral to the batch end and the
    ranks' agreement apply to it too, and the run ends with one line, exit 130, no temp file
    left. Python's default for SIGTERM ends the process at once: a checkpoint being written
    stayed behind as a hidden temp file. SIGHUP (the terminal closed, an ssh session dropped)
    is handled alike: it too ended the process at once, with no word and a temp file left.
    A handler set by the caller (``main`` called from a program of its own, ``nohup``'s
    ignored SIGHUP) is left alone, and so is everything outside the main thread, where no
    handler can be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def as_ctrl_c(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIGINT ignored (a background job): SIGTERM still stops
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)

    ours = [s for s in STOP_SIGNALS if signal.getsignal(s) is signal.SIG_DFL]
    previous = {s: signal.signal(s, as_ctrl_c) for s in ours}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def handlers_again() -> None:
    """Install again the Python handlers of Ctrl-C and the stop signals, as they are: MPICH's
    start puts its own handler under SIGHUP's (``signal.getsignal`` still names Python's), so
    a SIGHUP to a rank was swallowed and the run went on. Called once MPI has started."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, *STOP_SIGNALS):
        handler = signal.getsignal(signum)
        if callable(handler):
            signal.signal(signum, handler)


class EarlyCtrlC:
    """Ctrl-C (and SIGTERM, which :func:`sigterm_as_ctrl_c` passes to SIGINT's handler) on one
    of several MPI ranks, from the process's start until the ranks have met: noted, not
    raised. A rank that stopped on it before it joined MPI left the others waiting in MPI's
    start for ever (mpiexec's own time limit did not end them), and each such rank printed
    its own "interrupted". :func:`softgrad.cli.ranks.run_ranks` takes the note once the ranks
    have met and stops them together at their next agreement, reported once by rank 0.
    mpiexec ends the ranks itself at a repeated Ctrl-C."""

    noted = False

    @classmethod
    def keep(cls) -> None:
        """Note SIGINT from now on (main thread only: elsewhere no handler can be set)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, cls._note)

    @classmethod
    def _note(cls, signum: int, frame: object) -> None:
        cls.noted = True

    @classmethod
    def take(cls) -> bool:
        """Whether a signal was noted (forgotten once taken)."""
        noted, cls.noted = cls.noted, False
        return noted


def run_guarded(command: Callable[[], int]) -> int:
    """Run ``command`` and map every expected failure to one error line and an exit status."""
    try:
        return command()
    except SystemExit as exc:  # --help and --version end through argparse's exit(0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except BrokenPipeError:
        # the reader of stdout went away (``softgrad predict ... | head``): stop quietly, and
        # point stdout at /dev/null so the interpreter's final flush does not fail again
        _silence(sys.stdout)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt as exc:
        # a command may say what the interruption left and how to go on (train: how to resume)
        report("; ".join(["interrupted", *(str(arg) for arg in exc.args)]))
        return EXIT_INTERRUPTED
    except UsageError as exc:
        report(str(exc))
        return EXIT_USAGE
    except EXPECTED_ERRORS as exc:
        if interrupted(exc):
            report("interrupted")
            return EXIT_INTERRUPTED
        report(one_line(exc))
        return EXIT_USAGE
