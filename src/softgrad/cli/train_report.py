"""The end of a ``softgrad train`` run: test the network, write the model file and the
pictures (all staged, published together), and print the summary or its JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks.wording import fixed
from softgrad.cli import scored_split
from softgrad.cli.names import as_text
from softgrad.cli.output import describe_network, print_json, report_after_writing, shown
from softgrad.staging import Staged

MISCLASSIFIED_SHOWN = 36


def _data_spec(data: str) -> str:
    """What ``evaluate`` should load by default: a named set, or the file's absolute path, as
    the text its bytes spell (:func:`~softgrad.cli.names.as_text`), whatever the locale."""
    return as_text(str(Path(data).resolve())) if Path(data).exists() else data


def _write_pictures(args, settings, data, history, network, X_test_scaled, staged) -> None:
    from softgrad import plots
    from softgrad.training import predict_proba

    if args.plot:
        curves = history.to_dict()
        if settings["patience"] is None:
            # without early stopping the saved model holds the last epoch's weights, not the
            # best epoch's: marking "best" would point at weights nobody kept
            curves["best_epoch"] = None
        staged.render("--plot", args.plot, lambda tmp: plots.plot_learning_curves(curves, tmp))
    if args.misclassified:
        pred = predict_proba(network, X_test_scaled).argmax(axis=1)
        all_wrong = np.flatnonzero(pred != data.y_test)
        wrong = all_wrong[:MISCLASSIFIED_SHOWN]
        staged.render(
            "--misclassified",
            args.misclassified,
            lambda tmp: plots.plot_misclassified(
                data.X_test[wrong],
                data.y_test[wrong],
                pred[wrong],
                data.class_names,
                data.image_shape,
                tmp,
                n_total=len(all_wrong),
            ),
        )


def _summary(args, settings, data, network, history, seconds, progress, test) -> dict[str, Any]:
    """Everything the run reports (printed, or JSON with ``--json``)."""
    test_loss, test_acc = test
    return {
        "data": data.name,
        "model": str(args.out),
        "architecture": describe_network(network),
        "test_accuracy": float(test_acc),
        "test_loss": float(test_loss),
        "n_train": progress.n_samples,
        "n_test": len(data.y_test),
        "epochs_run": history.epochs,
        "epochs_this_run": progress.epochs_seen,
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
        "time_s": seconds,
        "samples_per_s": progress.n_samples * progress.epochs_seen / max(seconds, 1e-9),
        "settings": settings,
        "plot": args.plot,
        "misclassified": args.misclassified,
    }


def report(args, settings, data, scaler, trained, paths, validation_note, pictures) -> None:
    """Test the trained network, write the model and pictures, and print the summary.

    ``pictures`` is :func:`picture_record` of the data, taken before training (which may
    standardise the training rows in place)."""
    from softgrad.datasets.files import is_csv
    from softgrad.model import Model
    from softgrad.nn import CrossEntropyLoss
    from softgrad.training import evaluate

    network, history, seconds, progress = trained
    # uint8 test images are scaled per batch too; float ones into the network's dtype, as
    # the saved Model scales what it predicts
    X_test = scaler.inputs(data.X_test, settings["dtype"])
    test = evaluate(network, X_test, data.y_test, loss=CrossEntropyLoss())
    summary = _summary(args, settings, data, network, history, seconds, progress, test)
    summary["validation_note"] = validation_note
    metadata = {
        **{k: summary[k] for k in ("data", "test_accuracy", "test_loss", "settings")},
        "data_spec": _data_spec(args.data),
        scored_split.KEY: scored_split.record(data.y_test),  # evaluate tells another test set
        "history": history.to_dict(),
        **pictures,
    }
    if data.feature_names is not None:  # a CSV's columns: predict then reads them by name
        metadata["feature_names"] = data.feature_names
    if is_csv(args.data):  # evaluate and predict read the model's CSV inputs alike
        metadata["csv_dtype"] = data.X_train.dtype.name
    model = Model(network, np.asarray(data.class_names), scaler, data.image_shape, metadata)
    # every output is rendered to a hidden temp file first and published only when all are:
    # a failed plot leaves the old model (or none), never a new model without its picture
    checkpoint = paths.get("--checkpoint")
    written = None if checkpoint is None else f"--checkpoint {str(checkpoint)!r}"
    with Staged(written) as staged:
        staged.render("--out", paths["--out"], model.save)
        _write_pictures(args, settings, data, history, network, X_test, staged)
        staged.publish()
    named = [args.out, args.plot, args.misclassified, args.checkpoint]
    outputs = [str(name) for name in named if name is not None]
    try:
        if args.json:
            document = {**summary, "history": history.to_dict()}
            report_after_writing(lambda: print_json(document), outputs)
        else:
            report_after_writing(lambda: _print_summary(summary), outputs)
    except KeyboardInterrupt:  # the outputs are published: not "nothing else was written"
        raise KeyboardInterrupt(f"{', '.join(map(repr, outputs))} written") from None


def _print_summary(s: dict[str, Any]) -> None:
    early = f", stopped early (best epoch {s['best_epoch']})" if s["stopped_early"] else ""
    print(
        f"trained {s['architecture']} on {s['data']}: {s['epochs_this_run']} "
        f"epoch{'' if s['epochs_this_run'] == 1 else 's'} in "
        f"{s['time_s']:.1f} s ({s['samples_per_s']:,.0f} samples/s){early}"
    )
    print(
        f"test accuracy {fixed(s['test_accuracy'])}  test loss {fixed(s['test_loss'])}  "
        f"({s['n_test']} samples)"
    )
    if s["validation_note"]:
        print(s["validation_note"])
    # names as predict and export show them: a newline or tab in one broke the line
    print(f"model saved to {shown(str(s['model']))}")
    if s["plot"]:
        print(f"learning curves saved to {shown(str(s['plot']))}")
    if s["misclassified"]:
        print(f"misclassified test images saved to {shown(str(s['misclassified']))}")


def _is_picture_set(data: Any) -> bool:
    return data.image_shape is not None and len(data.image_shape) == 2


def _pixel_range(data: Any) -> dict[str, float | None]:
    """``input_max`` (and ``input_min`` when not 0): the raw pixel range predict maps a picture
    file's 0..255 onto. For 8-bit images 0..scale; for float or 16-bit images, which are
    standardised (no ``scale``), the training images' own lowest and highest values (0..1,
    -1..1, 0..4095) rather than the 0..255 predict assumed, which gave it garbage pixels."""
    if data.scale is not None:
        return {"input_max": float(data.scale)}
    if not _is_picture_set(data) or len(data.X_train) == 0:
        return {"input_max": None}
    low, high = float(np.min(data.X_train)), float(np.max(data.X_train))
    if not high > max(low, 0.0):
        return {"input_max": None}  # no range a picture could be mapped onto
    return {"input_max": high, **({"input_min": low} if low != 0.0 else {})}


def picture_record(data: Any) -> dict[str, Any]:
    """What predict needs to read a picture file for this data set's model: the pixel range
    (:func:`_pixel_range`) and the training images' background, "dark" or "light", which its
    ``--invert auto`` matches (None for rows that are not images). Taken from the raw
    training rows, so before training."""
    from softgrad.cli.images import training_background

    span = _pixel_range(data)
    background = None
    input_max, input_min = span["input_max"], span.get("input_min")
    if _is_picture_set(data) and input_max is not None:
        background = training_background(
            data.X_train, data.image_shape, input_max, 0.0 if input_min is None else input_min
        )
    return {**span, "image_background": background}
