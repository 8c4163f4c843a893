"""``softgrad evaluate``: accuracy, loss, per-class results (a summary for many classes)."""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_feature_count, check_finite_rows
from softgrad.checks.wording import fixed
from softgrad.cli import checks, scored_split
from softgrad.cli.argtypes import data_spec
from softgrad.cli.confusion import MAX_SHOWN_CLASSES, per_class_report, write_confusion_csv
from softgrad.cli.csv_columns import model_feature_names, reorder
from softgrad.cli.names import as_file_name
from softgrad.cli.output import (
    class_names,
    describe_network,
    print_json,
    report_after_writing,
    shown,
)
from softgrad.cli.threads import add_threads_option

SPLITS = ("auto", "test", "all")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "evaluate",
        help="score a saved model on a data set",
        description="Score a model on a data set (the one it was trained on unless --data says "
        "otherwise). The data's classes are matched to the model's by name, so a file holding "
        "only some of the classes (or naming them in another order) is scored correctly; a "
        "class the model does not know is an error.",
    )
    p.add_argument("--model", required=True, help="model file written by 'softgrad train'")
    p.add_argument(
        "--data",
        type=data_spec,
        help="digits, fashion-mnist, mnist, a .npz/.csv file, an IDX folder or a folder of PNG "
        "images with one sub-folder per class",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="auto",
        help="which samples to score: 'test' (the data's test set: its own, or the fixed 20%% "
        "split softgrad train held out of a file without one), 'all' (every sample), or "
        "'auto' (default): 'test' for a named data set, an IDX folder, a file with its own "
        "X_test/y_test and the model's own training data; 'all' for any other file",
    )
    p.add_argument(
        "--confusion",
        metavar="FILE",
        help="write the whole confusion matrix: as CSV (FILE.csv; rows: true class, columns: "
        f"predicted class) or drawn as a picture ({', '.join(checks.PLOT_SUFFIXES)}). Beyond "
        f"{MAX_SHOWN_CLASSES} classes the report shows a summary instead of the matrix",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_threads_option(p)
    return p


def load_model(path: str) -> Any:
    """Load a model file after checking it exists (errors name the file)."""
    from softgrad.model import load

    checks.input_file(path, "--model")
    return load(path)


def _data_spec(args: argparse.Namespace, model: Any) -> str:
    spec = args.data or _recorded_spec(model)
    if not spec:
        raise checks.UsageError(
            "evaluate: --data is required: the model does not record its data set"
        )
    looks_like_file = Path(str(spec)).suffix.lower() in (".npz", ".csv") or "/" in str(spec)
    if not args.data and looks_like_file and not Path(str(spec)).exists():
        raise checks.UsageError(
            f"evaluate: the data set the model records, {str(spec)!r}, must exist to evaluate "
            "on it; it does not (moved or deleted?): pass --data"
        )
    return str(spec)


def _has_own_test_set(spec: str) -> bool:
    """Whether ``spec`` names a data set with a test set of its own (not a 20% split of a file)."""
    path = Path(spec)
    if not path.exists() or path.is_dir():
        return True  # a named set or an IDX folder
    if path.suffix.lower() != ".npz":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return "X_test.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # load_data has already read it: this cannot happen in practice


def _recorded_spec(model: Any) -> str | None:
    """The data set the model records, as this process names it: a file's name recorded as
    text opens under any locale (:func:`~softgrad.cli.names.as_file_name`)."""
    spec = (model.metadata or {}).get("data_spec")
    return as_file_name(spec) if isinstance(spec, str) and spec else spec


def _is_recorded(spec: str, model: Any) -> bool:
    """Whether ``spec`` is the data set the model records (by name, or the same file)."""
    recorded = _recorded_spec(model)
    return spec == recorded or _same_file(spec, recorded)


def _same_file(spec: str, trained_on: str | None) -> bool:
    return trained_on is not None and Path(spec).resolve() == Path(trained_on).resolve()


def _resolve_split(choice: str, spec: str, model: Any) -> str:
    """``--split`` as 'test' or 'all': 'auto' is the test set of the model's own data file or
    of a set with one of its own, every sample of any other file."""
    if choice != "auto":
        return choice
    own_data = _same_file(spec, _recorded_spec(model))
    return "test" if own_data or _has_own_test_set(spec) else "all"


def _split(data: Any, choice: str) -> tuple[list[np.ndarray], np.ndarray, str]:
    """The rows to score, as the data set's own arrays (the training and the test rows for
    'all': joined they were a copy of the whole set), their labels, and the split's name."""
    if choice == "test":
        return [data.X_test], data.y_test, "test set"
    parts = [X for X in (data.X_train, data.X_test) if len(X)]
    return parts or [data.X_test], np.concatenate([data.y_train, data.y_test]), "all samples"


def _model_codes(data: Any, model: Any, where: str) -> np.ndarray:
    """``code_map[k]``: the model's output index for the data's class ``k``, matched by name;
    by position when the data's classes are unnamed, ``"0"`` .. ``"C-1"`` as an IDX folder's
    or integer labels' are, and the model names its own (a Fashion-MNIST model evaluated on
    the folder of its four IDX files), with a note on stderr. A model whose classes are integer
    labels too (1, 2, 3) is matched by name: read by position, a set labelled 0..2 scored each
    sample as the class after its own."""
    known = {name: k for k, name in enumerate(class_names(model))}
    unknown = [name for name in data.class_names if name not in known]
    unnamed = data.class_names == [str(k) for k in range(len(data.class_names))]
    named = not all(_integer_name(name) for name in known)
    if unknown and unnamed and named and len(data.class_names) <= len(known):
        first = ", ".join(shown(n) for n in list(known)[:3]) + (", ..." if len(known) > 3 else "")
        print(
            f"softgrad: note: the data's classes are unnamed (0..{len(data.class_names) - 1}): "
            f"class k is read as the model's k-th class ({first})",
            file=sys.stderr,
        )
        return np.arange(len(data.class_names), dtype=np.int64)
    if unknown:
        got = ", ".join(repr(n) for n in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(
            f"{where}: classes must be ones the model knows "
            f"({', '.join(shown(n) for n in known)}); got {got}"
        )
    return np.array([known[name] for name in data.class_names], dtype=np.int64)


def _integer_name(name: str) -> bool:
    """Whether a class name is an integer label's (``"3"``, ``"-1"``)."""
    return re.fullmatch(r"-?[0-9]+", name) is not None


def _score(
    model: Any, parts: list[np.ndarray], y: np.ndarray, where: str, row_name: Any
) -> dict[str, Any]:
    from softgrad import metrics
    from softgrad.cli.inputs import parts_by_rows
    from softgrad.functional import cross_entropy

    def scored(logits: np.ndarray, first: int) -> np.ndarray:
        """Each row's predicted class and loss: the N * C logits are never held (2.5 GB for
        300,000 rows of 1,000 classes, to print a C x C matrix)."""
        rows = np.empty(len(logits), dtype=[("pred", np.intp), ("loss", np.float64)])
        rows["pred"] = logits.argmax(axis=1)
        target = y[first : first + len(logits)]
        # in float64: a float32 row loss differs by a unit in its last place with the row's
        # place in its batch (the kernels' vector and scalar paths), and the parts' score
        # then differed from their rows' joined
        rows["loss"] = cross_entropy(logits.astype(np.float64), target, reduction="none")
        return rows

    # one pass over the data: loss and predictions both come from each batch's logits (rows
    # that overflow in the model's dtype are refused by row, as predict does); each part's
    # rows are numbered after the previous parts'. NaN and inf: refused batch by batch as the
    # model reads them, after the classes are matched (the loaders refuse them in files)
    rows = parts_by_rows(
        model,
        parts,
        row_name,
        lambda X, start: check_finite_rows(X, where, "features", first_row=start),
        scored,
    )
    pred = rows["pred"]
    loss = np.sum(rows["loss"]) / len(y)
    cm = metrics.confusion_matrix(y, pred, model.n_classes)
    precision, recall = metrics.precision_recall(cm)
    return {
        "loss": float(loss),
        "accuracy": float(np.mean(pred == y)),
        "confusion_matrix": cm,
        "precision": precision,
        "recall": recall,
        "support": cm.sum(axis=1),
    }


def run(args: argparse.Namespace) -> int:
    confusion = checks.output_path(args.confusion, "--confusion", (".csv", *checks.PLOT_SUFFIXES))
    as_csv = confusion is not None and confusion.suffix.lower() == ".csv"
    if confusion is not None and not as_csv:
        from softgrad.plots import require_matplotlib

        require_matplotlib()
    model = load_model(args.model)
    from softgrad.cli.inputs import csv_dtype
    from softgrad.cli.progress import load_data_with_progress

    spec = _data_spec(args, model)
    data_option = "--data" if args.data else "the model's data set"
    checks.separate(
        {"--confusion": confusion},
        {"--model": Path(args.model), data_option: checks.data_path(spec, data_option)},
    )
    choice = _resolve_split(args.split, spec, model)
    # 'all' scores every sample: nothing to hold out (a file in which no class has 2 samples
    # cannot be split, and scoring it all was refused for that)
    # NaN and inf refused here; a value beyond the model's dtype by the model, after its
    # scaler (as predict reads rows): a float64 model's data may hold what float32 cannot
    data = load_data_with_progress(
        spec, hold_out=choice == "test", csv_dtype=csv_dtype(model), train_dtype="float64"
    )
    parts, y, split = _split(data, choice)
    note = None
    if choice == "test" and _is_recorded(spec, model):  # printed with the report
        note = scored_split.changed_note(model.metadata, data.y_test, data.name)
    where = f"evaluate: {data.name!r}"  # quoted, as every message names a file
    for X in parts:
        check_feature_count(X, model.n_features, where, "samples")
    features = model_feature_names(model, "evaluate")  # a CSV's columns, by name
    parts = [reorder(X, features, data.feature_names, where) for X in parts]
    if len(y) == 0:
        raise ValueError(f"{where}: the {split} must hold at least one sample; got none")
    codes = _model_codes(data, model, where)[y]
    scores = _score(model, parts, codes, where, lambda row: f"{where} ({split}, row {row})")
    names = class_names(model)
    if confusion is not None and as_csv:
        write_confusion_csv(confusion, scores["confusion_matrix"], names)
    elif confusion is not None:
        from softgrad.plots import plot_confusion_matrix

        plot_confusion_matrix(scores["confusion_matrix"], names, confusion)
    head = {
        "model": args.model,
        "architecture": describe_network(model.network),
        "data": data.name,
        "split": split,
        "n_samples": len(y),
        "class_names": names,
    }

    def report() -> None:
        if args.json:
            print_json({**head, **scores, "confusion": args.confusion})
        else:
            _print_report(head, scores, args.confusion)
        if note is not None:  # once the report is out: a report that fails prints its error alone
            print(f"softgrad: note: {note}", file=sys.stderr)

    report_after_writing(report, [] if confusion is None else [str(confusion)])
    return 0


def _print_report(head: dict[str, Any], s: dict[str, Any], confusion: str | None) -> None:
    # a name that would not read as itself (blank, a newline, a tab ...) is shown quoted
    print(
        f"evaluated {shown(head['model'])} ({head['architecture']}) on {shown(head['data'])} "
        f"{head['split']} ({head['n_samples']} samples)"
    )
    print(f"accuracy {fixed(s['accuracy'])}  loss {fixed(s['loss'])}")
    print()
    print(
        per_class_report(
            [shown(name) for name in head["class_names"]],
            s["confusion_matrix"],
            s["precision"],
            s["recall"],
            s["support"],
            confusion,
        )
    )
    if confusion:
        what = "written to" if confusion.lower().endswith(".csv") else "drawn in"
        print(f"confusion matrix {what} {shown(confusion)}")
