"""``softgrad train``: train a softmax network on a data set, save it, draw its curves."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_finite_rows, counted, first_few
from softgrad.cli import checks, ranks, train_config, train_report, train_resume, train_stops
from softgrad.cli.argtypes import (
    data_spec,
    fraction,
    hidden_sizes,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from softgrad.cli.progress import EpochProgress
from softgrad.cli.threads import add_threads_option
from softgrad.cli.train_network import build_network
from softgrad.errors import DistributedError, DivergenceError
from softgrad.staging import remove_leftovers
from softgrad.training.callbacks import Callback
from softgrad.training.divergence import LIMIT_FACTOR, MIN_SAMPLES


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "train",
        help="train a network and save it",
        description="Train an MLP with a softmax output. Options left out take the defaults of "
        f"the chosen data set: {train_config.describe_defaults()}. A run diverges when its "
        "training loss becomes NaN/inf or the mean loss of an epoch so far passes "
        f"{LIMIT_FACTOR:g} x max(first batch loss, log(classes)) (over at least "
        f"{MIN_SAMPLES} samples or the whole epoch): it stops with exit status 2 and writes no "
        "model or picture. The model and pictures are published together only when all were "
        "written; --out, --plot, --misclassified and --checkpoint write through a symbolic link.",
    )
    p.add_argument(
        "--data",
        default="digits",
        type=data_spec,
        help="digits (default, built in), fashion-mnist, mnist, a .npz/.csv file, a folder of "
        "IDX files, or a folder of PNG images with one sub-folder per class",
    )
    p.add_argument("--hidden", type=hidden_sizes, help="hidden layer widths, e.g. 256 or 256,128")
    p.add_argument("--activation", choices=train_config.ACTIVATIONS)
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float, help="learning rate")
    p.add_argument("--optimizer", choices=train_config.OPTIMIZERS)
    p.add_argument("--momentum", type=fraction, help="SGD momentum (Nesterov when > 0); sgd only")
    p.add_argument(
        "--lr-schedule",
        choices=train_config.SCHEDULES,
        help="cosine (to 0 over the epochs), step (x0.1 after each third of them: every "
        "ceil(epochs / 3) epochs), plateau (x0.5 "
        f"after {train_config.PLATEAU_PATIENCE + 1} epochs without improvement of the "
        "validation loss, the training loss without validation) or constant",
    )
    p.add_argument("--weight-decay", type=nonnegative_float)
    p.add_argument("--dropout", type=fraction, help="dropout probability after each hidden layer")
    p.add_argument("--label-smoothing", type=fraction)
    p.add_argument("--seed", type=nonnegative_int)
    p.add_argument(
        "--dtype",
        choices=train_config.DTYPES,
        help="precision of the weights and of training (default float32)",
    )
    p.add_argument(
        "--val-fraction",
        type=fraction,
        help="share of the training set held out for validation (0 for none)",
    )
    p.add_argument(
        "--patience",
        type=positive_int,
        help="stop after this many epochs without a better validation loss and keep "
        "the best weights (default: no early stopping)",
    )
    p.add_argument("--out", default="model.npz", help="model file to write (default model.npz)")
    p.add_argument("--plot", help=f"learning curves picture ({', '.join(checks.PLOT_SUFFIXES)})")
    p.add_argument("--misclassified", help="picture of misclassified test images (image data only)")
    p.add_argument("--checkpoint", help="write a resumable checkpoint (.npz) after every epoch")
    p.add_argument(
        "--resume",
        help="continue the run saved in this checkpoint, on the same data and with the "
        "settings it stores: --epochs (the total, at least the epochs done; left out, the "
        "checkpoint run's total) and --patience (left out, the checkpoint's) may change; "
        "any other setting given must "
        "equal the checkpoint's (left out, it is the checkpoint's). With the cosine and "
        "step schedules the run ends at the epochs it was started with: --epochs defaults to "
        "them and any other value is refused, since the schedule is laid out over exactly "
        "those epochs (cosine spans them; step decays at each third of them). A checkpoint "
        "written before settings were recorded is checked against what its state proves; "
        "--activation, --batch-size, --label-smoothing (and --dropout if it has dropout) must "
        "then be given, and a note names what was used unchecked",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    return p


def _check_paths(args: argparse.Namespace) -> dict[str, Path | None]:
    paths = {
        "--out": checks.output_path(args.out, "--out", (".npz",)),
        "--plot": checks.output_path(args.plot, "--plot", checks.PLOT_SUFFIXES),
        "--misclassified": checks.output_path(
            args.misclassified, "--misclassified", checks.PLOT_SUFFIXES
        ),
        "--checkpoint": checks.output_path(args.checkpoint, "--checkpoint", (".npz",)),
    }
    resume = None if args.resume is None else checks.input_file(args.resume, "--resume")
    checks.separate(
        paths,
        {"--resume": resume, "--data": checks.data_path(args.data)},
        may_share=[("--checkpoint", "--resume")],  # a resumed run rewrites its checkpoint
    )
    if args.plot or args.misclassified:
        from softgrad.plots import require_matplotlib

        require_matplotlib()
    return paths


def _load(args: argparse.Namespace, settings: dict[str, Any], quiet: bool) -> Any:
    from softgrad.cli.progress import load_data_with_progress

    if settings["patience"] is not None and not settings["val_fraction"]:
        raise ValueError(
            "train: --patience monitors the validation loss, so --val-fraction must be above 0; "
            f"got --val-fraction {settings['val_fraction']} (drop --patience, or hold out data)"
        )
    train_config.check_pairs(args, settings)
    data = load_data_with_progress(args.data, quiet, train_dtype=settings["dtype"])
    if len(data.y_train) < 2 or len(data.y_test) == 0:
        raise ValueError(
            f"train: data must have at least 2 training and 1 test samples; got {data!r}"
        )
    if data.n_classes < 2:
        # one class: every answer is right, and 'test accuracy 1.0000' would mean nothing
        raise ValueError(
            f"train: data must hold at least 2 classes; {data.name} has only "
            f"{data.class_names[0]!r}"
        )
    check_finite_rows(data.X_train, f"train: {data.name} training set", "features")
    check_finite_rows(data.X_test, f"train: {data.name} test set", "features")
    if args.misclassified and data.image_shape is None:
        raise ValueError(f"train: --misclassified needs image data; {data.name} has no image shape")
    return data


def _validation(
    args: argparse.Namespace, settings: dict[str, Any], data: Any
) -> tuple[dict[str, Any], str | None]:
    """``settings`` with a validation share that gives every class a sample, and a note if not.

    The default share (10%) of a small training set can leave a class without a validation
    sample (60 samples of 10 classes: 10% of the 48 training samples is 4.8). Then the run trains
    without validation and the note says so and why. A share the user chose is never changed:
    one that is too small is refused, and so is the default when ``--patience`` needs validation.
    The split is checked class by class, as it shares the samples (by class size): a count of
    samples against classes let a class of 1 in 10,000 go unvalidated, and a large share hold
    classes out whole. A class of a single training sample cannot be on both sides: the note
    says that validation holds none of it.
    """
    from softgrad.datasets.split import fraction_fix, held_out_size, validation_problem

    fraction, n_train = settings["val_fraction"], len(data.y_train)
    held = held_out_size(fraction, n_train) if fraction else 0
    if args.val_fraction is not None and held >= n_train:  # fit's error named its argument
        raise ValueError(
            f"train: --val-fraction must leave at least one training sample; got "
            f"{fraction:g} of {n_train} training samples, which holds out {held}: pass a "
            "smaller --val-fraction"
        )
    if not fraction:
        return settings, None
    why = validation_problem(data.y_train, fraction, "training samples")
    if why is None:
        counts = np.bincount(data.y_train, minlength=data.n_classes)
        return settings, _single_samples_unvalidated(counts, data.class_names)
    fix = fraction_fix(data.y_train, "--val-fraction")
    if args.val_fraction is not None or settings["patience"] is not None:
        asked = "--val-fraction" if args.val_fraction is not None else "--patience"
        raise ValueError(
            f"train: {asked} needs a validation set with at least one sample per class; "
            f"got {why}: {fix}"
        )
    return {**settings, "val_fraction": 0.0}, f"validation skipped: {why}; {fix}"


def _single_samples_unvalidated(counts: np.ndarray, names: list[str]) -> str | None:
    """The note for classes of a single training sample, which validation cannot hold."""
    single = np.flatnonzero(counts == 1)
    if not single.size:
        return None
    return (
        f"validation holds no sample of {counted(int(single.size), 'class')} with a single "
        f"training sample {first_few([names[i] for i in single], 5)}: validation's loss and "
        "accuracy leave them out"
    )


class _NotesOnceFitTakesTheRun(Callback):
    """A fit callback printing ``notes`` on stderr when training begins: after fit's checks of
    the run (a resume's data among them), so that a refused command prints one line, its error."""

    def __init__(self, notes: list[str], speaks: bool) -> None:
        self.notes = notes if speaks else []

    def on_train_begin(self, state: Any) -> None:
        for note in self.notes:
            print(f"softgrad: note: {note}", file=sys.stderr, flush=True)


def _fit(args, settings, data, scaler, paths, comm) -> tuple[Any, Any, float, EpochProgress]:
    from softgrad.nn import CrossEntropyLoss
    from softgrad.training import fit
    from softgrad.training.checkpoint import load_checkpoint
    from softgrad.training.interrupts import InterruptAtBatchEnd

    rng = np.random.default_rng(settings["seed"])
    with ranks.together(comm, "train"):  # a file one rank cannot read ends every rank
        # read once, here: the network is built holding its weights, and fit takes the rest
        # single use: fit takes its optimizer state as the run's own, not a copy of it
        resumed = [None if args.resume is None else load_checkpoint(args.resume, single_use=True)]
        if resumed[0] is not None:
            train_resume.check_unchanged(args, resumed[0])
        network = build_network(settings, data.n_features, data.n_classes, rng, resumed[0])
    # a checkpoint of an earlier softgrad holds no checksum of its data: only its shape is checked
    unchecked_data = resumed[0] is not None and resumed[0].data.get("checksums") is None
    notes = [train_resume.unchecked_data_note(args)] if unchecked_data else []
    optimizer = train_config.make_optimizer(settings)
    schedule = train_config.make_schedule(settings, optimizer)
    loss = CrossEntropyLoss(label_smoothing=settings["label_smoothing"])
    progress = EpochProgress(settings["epochs"], quiet=args.quiet or not ranks.speaks(comm))
    start = time.perf_counter()
    try:
        with (
            train_stops.on_interrupt(args, paths, progress),
            # fit raises a Ctrl-C that comes after the last batch, on every rank together; one
            # as fit returns would be raised by each rank on its own, so several let it go
            InterruptAtBatchEnd(raise_at_exit=comm is None or comm.size == 1) as stopper,
        ):
            history = fit(
                network,
                loss,
                optimizer,
                ranks.training_rows(
                    comm, scaler, data.X_train, settings["dtype"], paths["--out"].parent
                ),
                data.y_train,
                epochs=settings["epochs"],
                batch_size=settings["batch_size"],
                rng=rng,
                validation_fraction=settings["val_fraction"],
                early_stopping=settings["patience"] is not None,
                patience=settings["patience"] or 10,
                lr_schedule=schedule,
                callbacks=(_NotesOnceFitTakesTheRun(notes, ranks.speaks(comm)), progress, stopper),
                checkpoint=None if paths["--checkpoint"] is None else str(paths["--checkpoint"]),
                # handed over, not kept in this frame: fit lets go of it once its state is
                # copied in, so its arrays (the optimizer's state) do not last the whole run
                resume=resumed.pop(),
                comm=comm,
                checkpoint_settings=settings,
            )
    except ValueError as exc:
        same = "fit: resume must continue a run on the same data; "
        if args.resume is None or not str(exc).startswith(same):
            raise
        # fit's words name its arguments: say which options, and what to pass
        # an earlier softgrad may have split this very data set otherwise: no --data then fits
        earlier = (
            "; if it was this one, the checkpoint is of an earlier softgrad that split it "
            "otherwise, and its run cannot go on: start a new one"
            if unchecked_data
            else ""
        )
        raise ValueError(
            f"train: --data must be the data set --resume {args.resume!r} was trained on; "
            f"{str(exc)[len(same) :]} (pass that run's --data{earlier})"
        ) from None
    except DivergenceError as err:
        raise DivergenceError(
            f"{err} {train_stops.diverged_outputs(args, paths, progress.epochs_seen)}",
            err.epoch,
            err.batch,
        ) from None
    except OSError as exc:
        if not train_stops.about_checkpoint(exc, paths["--checkpoint"]):
            raise
        # the one file fit writes: name it (not its temp file) and what survived
        raise OSError(
            exc.errno, train_stops.checkpoint_failed(args, paths, exc, progress.epochs_seen)
        ) from None
    except DistributedError as exc:
        # under mpiexec the same write failed on rank 0 and is raised on every rank; rank 0
        # reports the DistributedError's cause (cli/ranks.py): the plain run's line
        own = train_stops.checkpoint_error(exc, paths["--checkpoint"])
        if own is None:
            raise
        said = train_stops.checkpoint_failed(args, paths, own, progress.epochs_seen)
        raise DistributedError(str(exc)) from OSError(own.errno, said)
    finally:
        progress.close()
    return network, history, time.perf_counter() - start, progress


def run(args: argparse.Namespace) -> int:
    comm = ranks.start()  # None for a plain run: MPI is never loaded
    return ranks.run_ranks(comm, lambda: _run(args, comm))


def _run(args: argparse.Namespace, comm: Any) -> int:
    from softgrad.kernels import get_ops, registry

    with ranks.together(comm, "train"):  # before anything one rank alone could raise on
        ranks.check_same_options(comm, vars(args))
    with ranks.together(comm, "train"):
        settings = train_config.resolve(args)
        paths = _check_paths(args)
        settings = train_config.acting(train_resume.match_checkpoint(args, settings))
        train_config.check_dtype_range(settings)
        note = train_resume.resume_note(args, settings)
        if note is not None and ranks.speaks(comm):
            print(f"softgrad: note: {note}", file=sys.stderr)
    with ranks.together(comm, "train"):  # rank 0 alone reads the data (cli/ranks.py)
        quiet = args.quiet or not ranks.speaks(comm)
        data = ranks.load_once(comm, lambda: _load(args, settings, quiet))
        settings, validation_note = _validation(args, settings, data)
        n_rows = max(len(data.y_train), len(data.y_test))
        train_config.check_network_memory(settings, data.n_features, data.n_classes, n_rows)
    # once every check has passed: a refused command removes nothing
    if ranks.speaks(comm):  # one rank removes them: the others would race it
        for name in remove_leftovers(list(paths.values())):
            print(f"softgrad: note: removed {name!r}, left by an interrupted run", file=sys.stderr)
    ranks.announce(comm, settings["batch_size"])
    get_ops()  # the kernel lane is chosen here; a fallback from the default is never silent
    if ranks.speaks(comm) and registry.fallback() is not None:
        print(f"softgrad: note: {registry.fallback()}", file=sys.stderr)
    scaler = data.fit_scaler()
    # from the raw rows: training may standardise float rows in place
    pictures = train_report.picture_record(data) if ranks.speaks(comm) else {}
    trained = _fit(args, settings, data, scaler, paths, comm)
    if not ranks.speaks(comm):
        return 0
    with train_stops.on_interrupt(args, paths, trained[3]):
        train_report.report(args, settings, data, scaler, trained, paths, validation_note, pictures)
    return 0
