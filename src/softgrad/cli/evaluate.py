"""``softgrad evaluate``: accuracy, loss, per-class precision/recall and the confusion matrix."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from softgrad.cli import checks
from softgrad.cli.output import describe_network, matrix, print_json, table


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "evaluate",
        help="score a saved model on a data set",
        description="Score a model on the test split of a data set (the one it was trained on "
        "unless --data says otherwise; a user file without a test split is scored whole).",
    )
    p.add_argument("--model", required=True, help="model file written by 'softgrad train'")
    p.add_argument("--data", help="digits, fashion-mnist, mnist, or a .npz/.csv file or IDX folder")
    p.add_argument("--confusion", help="draw the confusion matrix into this picture (.png ...)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def load_model(path: str) -> Any:
    """Load a model file after checking it exists (errors name the file)."""
    from softgrad.serialization import load

    checks.input_file(path, "--model")
    return load(path)


def _data_spec(args: argparse.Namespace, model: Any) -> str:
    spec = args.data or (model.metadata or {}).get("data_spec")
    if not spec:
        raise checks.UsageError(
            "evaluate: --data is required: the model does not record its data set"
        )
    return str(spec)


def _split(data: Any) -> tuple[np.ndarray, np.ndarray, str]:
    if len(data.y_test):
        return data.X_test, data.y_test, "test set"
    return data.X_train, data.y_train, "whole file"


def _score(model: Any, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from softgrad import metrics
    from softgrad.nn import CrossEntropyLoss
    from softgrad.training import evaluate, predict_proba

    X_scaled = model.scaler.transform(X)
    loss, accuracy = evaluate(model.network, X_scaled, y, loss=CrossEntropyLoss())
    pred = predict_proba(model.network, X_scaled).argmax(axis=1)
    cm = metrics.confusion_matrix(y, pred, model.n_classes)
    precision, recall = metrics.precision_recall(cm)
    return {
        "loss": float(loss),
        "accuracy": float(accuracy),
        "confusion_matrix": cm,
        "precision": precision,
        "recall": recall,
        "support": cm.sum(axis=1),
    }


def run(args: argparse.Namespace) -> int:
    confusion = checks.output_path(args.confusion, "--confusion", checks.PLOT_SUFFIXES)
    if confusion is not None:
        from softgrad.plots import require_matplotlib

        require_matplotlib()
    model = load_model(args.model)
    from softgrad.datasets import load_data

    data = load_data(_data_spec(args, model))
    X, y, split = _split(data)
    where = f"evaluate: {data.name}"
    checks.feature_count(X, model.n_features, where)
    checks.finite_features(X, where)
    if y.size and int(y.max()) >= model.n_classes:
        raise ValueError(
            f"{where}: labels must be in 0..{model.n_classes - 1} for this model; "
            f"got {int(y.max())}"
        )
    scores = _score(model, X, y)
    names = [str(c) for c in model.classes]
    if confusion is not None:
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
    if args.json:
        print_json({**head, **scores, "confusion": args.confusion})
    else:
        _print_report(head, scores, args.confusion)
    return 0


def _print_report(head: dict[str, Any], s: dict[str, Any], confusion: str | None) -> None:
    print(
        f"evaluated {head['model']} ({head['architecture']}) on {head['data']} "
        f"{head['split']} ({head['n_samples']} samples)"
    )
    print(f"accuracy {s['accuracy']:.4f}  loss {s['loss']:.4f}")
    print()
    rows = [
        [name, float(p), float(r), int(n)]
        for name, p, r, n in zip(
            head["class_names"], s["precision"], s["recall"], s["support"], strict=True
        )
    ]
    print(table(["class", "precision", "recall", "support"], rows, right=[False, True, True, True]))
    print()
    print("confusion matrix (rows: true class; columns: predicted class, numbered as the rows)")
    labels = [str(k) for k in range(len(head["class_names"]))]
    print(matrix(s["confusion_matrix"], "{:d}", row_labels=head["class_names"], col_labels=labels))
    if confusion:
        print(f"confusion matrix drawn in {confusion}")
