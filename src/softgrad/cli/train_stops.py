"""What ``softgrad train`` says, and leaves on disk, when a run stops before its end: Ctrl-C
(deferred to the end of a batch), a diverged loss, a checkpoint it could not write. Each
message says what was kept and the command that resumes the run.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

from softgrad.cli.errors import interrupted
from softgrad.cli.progress import EpochProgress
from softgrad.errors import DistributedError
from softgrad.training.mpi_rank import launcher_ranks


def about_checkpoint(exc: OSError, checkpoint: Path | None) -> bool:
    """Whether ``exc``, raised while the run trained, is the checkpoint's write failing (the
    one file fit writes; under mpiexec see :func:`checkpoint_error`). A missing file or
    folder is only when the error names the checkpoint or its temp file: the rows an MPI run
    maps are written during the run too."""
    if checkpoint is None:
        return False
    if not isinstance(exc, FileNotFoundError):
        return True
    named = str(exc) if exc.filename is None else os.fsdecode(exc.filename)
    return checkpoint.name in named or _gone_folder(checkpoint) is not None


def checkpoint_error(exc: DistributedError, checkpoint: Path | None) -> OSError | None:
    """The OSError rank 0 met writing ``checkpoint``, when ``exc`` (raised on every rank of
    an MPI run, :func:`~softgrad.training.together.end_epoch_together`) is that write
    failing; None on the other ranks (theirs is chained to nothing) and for any other error.

    The plain run's ``except OSError`` never saw it: every rank raises a DistributedError,
    and rank 0 reported the raw OSError ("No space left on device: ck.npz") without the
    epoch, what was kept or how to resume."""
    from softgrad.training.together import CHECKPOINT_WRITE

    cause = exc.__cause__
    if not str(exc).startswith(CHECKPOINT_WRITE) or not isinstance(cause, OSError):
        return None
    return cause if about_checkpoint(cause, checkpoint) else None


def _gone_folder(checkpoint: Path) -> str | None:
    """The checkpoint's folder as a message names it, when it was removed during the run
    ("the working folder" when that one was: its name cannot be known any more, and
    ``Path('.').is_dir()`` still holds there); None while it is there."""
    folder = checkpoint.parent
    try:
        there = os.path.isdir(os.path.abspath(folder))
    except FileNotFoundError:  # os.getcwd() of a working folder that was removed
        return "the working folder"
    return None if there else repr(str(folder))


def checkpoint_failed(args, paths, exc: OSError, epochs_done: int) -> str:
    ckpt = str(paths["--checkpoint"])
    reason = exc.strerror or exc
    gone = _gone_folder(Path(ckpt))
    if gone is not None:  # removed during the run: nothing of the run is left to resume
        reason, previous = "its folder was removed", f"{gone} is gone"
    elif epochs_done > 1:
        previous = (
            "its checkpoint of the epoch before is intact: make room, then resume with: "
            f"{resume_command(args, ckpt)}"
        )
    elif Path(ckpt).exists():
        previous = f"{ckpt!r} is as it was before this run"
    else:
        previous = "no checkpoint was written"

    return (
        f"train: could not write --checkpoint {ckpt!r} after epoch {epochs_done} "
        f"({reason}); {previous}; nothing else was written"
    )


@contextlib.contextmanager
def on_interrupt(args, paths, progress: EpochProgress) -> Iterator[None]:
    """Ctrl-C (or an error raised while a writer cleaned up after it): :func:`_interrupted_run`."""
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and exc.args:  # it says what was written
            raise
        if interrupted(exc):
            raise _interrupted_run(args, paths, progress.epochs_seen) from None
        raise


def _interrupted_run(args, paths, epochs_done: int) -> KeyboardInterrupt:
    """Ctrl-C, saying how to resume when a checkpoint exists (nothing else was written)."""
    ckpt = paths["--checkpoint"]
    if ckpt is not None and epochs_done > 0 and ckpt.is_file():
        source = str(ckpt)
    elif args.resume is not None:
        source = args.resume  # nothing newer: the checkpoint this run resumed is unchanged
    else:
        return KeyboardInterrupt()
    return KeyboardInterrupt(
        f"nothing else was written; resume with: {resume_command(args, source)}"
    )


def resume_command(args, checkpoint: str) -> str:
    """The command that resumes this run from ``checkpoint``.

    The settings --resume refuses come from the checkpoint: only the honoured ones and the
    files are repeated. Under a launcher of several ranks it starts with ``mpiexec -n N``: on
    one process a run with dropout would be another run (its masks are drawn per rank).
    """
    argv = ["softgrad", "train", "--data", args.data, "--resume", checkpoint]
    options = ["epochs", "patience", "out", "plot", "misclassified", "checkpoint"]
    if checkpoint == args.resume:  # it may predate the settings record: repeat what it needs
        options += ["activation", "batch_size", "label_smoothing", "dropout"]
    for option in options:
        value = getattr(args, option)
        if value is not None:
            argv += [f"--{option.replace('_', '-')}", str(value)]
    argv += [flag for flag in ("--json", "--quiet") if getattr(args, flag[2:])]
    n_ranks = launcher_ranks()  # a data-parallel run resumes under as many ranks
    if n_ranks is not None and n_ranks > 1:
        argv = ["mpiexec", "-n", str(n_ranks), *argv]
    return shlex.join(argv)


def diverged_outputs(args, paths, epochs_done: int) -> str:
    """What a diverged run left on disk: no output, and where the last good weights are."""
    out = paths["--out"]
    kept = f"{str(out)!r} is as it was" if out.exists() else f"{str(out)!r} was not created"
    if paths["--checkpoint"] is not None and epochs_done > 0:
        where = (
            f"the last good weights are in the checkpoint {str(paths['--checkpoint'])!r} "
            "(after the last completed epoch); --resume keeps its --lr, so start a new run "
            "with a lower --lr"
        )
    elif args.resume is not None:
        where = f"the last good weights are those of {args.resume!r}, which was not changed"
    elif paths["--checkpoint"] is not None:  # it diverged in its first epoch
        where = (
            f"no epoch completed, so the checkpoint {str(paths['--checkpoint'])!r} was not "
            "written; start again with a lower --lr"
        )
    else:
        where = "the last good weights were not saved (--checkpoint keeps them)"
    return f"Nothing was written: {kept}; {where}."
