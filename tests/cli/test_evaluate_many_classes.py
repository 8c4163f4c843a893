"""evaluate: the full matrix up to 20 classes, a summary beyond, and --confusion FILE.csv."""

import csv

import numpy as np
import pytest

from softgrad.cli.confusion import MAX_SHOWN_CLASSES, confused_pairs, per_class_report


@pytest.fixture(scope="module")
def many_class_model(tmp_path_factory):
    """A model of 25 classes (more than MAX_SHOWN_CLASSES) trained briefly on a CSV file."""
    from softgrad.cli import main

    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(3)
    n_classes, per_class = 25, 8
    labels = np.repeat([f"c{k:02d}" for k in range(n_classes)], per_class)
    centers = rng.standard_normal((n_classes, 6)) * 3
    X = centers[np.repeat(np.arange(n_classes), per_class)] + rng.standard_normal((200, 6))
    lines = ["a,b,c,d,e,f,label"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{name}" for row, name in zip(X, labels, strict=True)
    ]
    data = folder / "many.csv"
    data.write_text("\n".join(lines) + "\n")
    model = folder / "model.npz"
    args = ["train", "--data", data, "--epochs", "2", "--out", model, "--quiet", "--seed", "0"]
    assert main([str(a) for a in args]) == 0
    return model


def test_many_classes_print_a_summary_not_the_matrix(cli, many_class_model):
    result = cli("evaluate", "--model", many_class_model)
    assert result.code == 0, result.err
    out = result.out
    assert f"25 classes: more than {MAX_SHOWN_CLASSES}, so a summary" in out
    assert "--confusion FILE.csv or --json" in out
    assert "most-confused pairs" in out and "lowest recall" in out
    assert "confusion matrix (rows" not in out
    report = cli("evaluate", "--model", many_class_model, "--json").json()
    cm = np.array(report["confusion_matrix"])
    names = report["class_names"]
    assert f"accuracy {report['accuracy']:.4f}" in out
    # the listed pairs are the largest off-diagonal cells, named by class
    for t, p, count in confused_pairs(cm):
        assert any(
            line.split()[:3] == [names[t], names[p], str(count)] for line in out.splitlines()
        )
    worst = int(np.argmin(np.array(report["recall"])))
    assert f"{names[worst]}  " in out.split("lowest recall")[1]


def test_confusion_csv_holds_the_whole_matrix(cli, many_class_model, tmp_path):
    target = tmp_path / "cm.csv"
    result = cli("evaluate", "--model", many_class_model, "--confusion", target)
    assert result.code == 0, result.err
    assert f"the full matrix is in {target}" in result.out
    assert f"confusion matrix written to {target}" in result.out
    report = cli("evaluate", "--model", many_class_model, "--json").json()
    with open(target, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *report["class_names"]]
    assert [row[0] for row in rows[1:]] == report["class_names"]
    np.testing.assert_array_equal(
        np.array([row[1:] for row in rows[1:]], dtype=np.int64), report["confusion_matrix"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.csv"]  # no temp file left


def test_few_classes_keep_the_full_matrix_and_csv(cli, digits_model, tmp_path):
    result = cli("evaluate", "--model", digits_model, "--confusion", tmp_path / "cm.csv")
    assert result.code == 0, result.err
    assert "confusion matrix (rows: true class" in result.out
    assert "summary" not in result.out
    with open(tmp_path / "cm.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 11 and len(rows[0]) == 11


def test_confusion_file_suffix_is_checked_before_anything_runs(usage_error, digits_model, tmp_path):
    line = usage_error("evaluate", "--model", digits_model, "--confusion", tmp_path / "cm.txt")
    assert "--confusion must end in one of .csv, .png" in line
    assert list(tmp_path.iterdir()) == []


def test_summary_lists_pairs_and_worst_recall_by_name():
    n = MAX_SHOWN_CLASSES + 1
    cm = np.eye(n, dtype=np.int64) * 10
    cm[3, 7] = 6  # the most-confused pair: class 3 taken for class 7
    cm[5, 1] = 2
    support = cm.sum(axis=1)
    recall = np.diag(cm) / support
    names = [f"k{k}" for k in range(n)]
    text = per_class_report(names, cm, recall, recall, support, None)
    pairs = text.split("most-confused pairs")[1].split("lowest recall")[0].splitlines()
    assert pairs[2].split() == ["k3", "k7", "6", "0.3750"]
    assert pairs[3].split() == ["k5", "k1", "2", "0.1667"]
    worst = text.split("lowest recall")[1].splitlines()
    assert worst[2].split() == ["k3", "0.6250", "16"]
    assert worst[3].split() == ["k5", "0.8333", "12"]


def test_unnamed_classes_are_matched_to_a_models_named_ones_by_position(cli, tmp_path, rng):
    # a --data fashion-mnist model (classes T-shirt/top ...) evaluated on the folder of its
    # IDX files (classes 0..9) was refused: "classes must be ones the model knows"
    y = np.arange(90) % 3
    X = rng.normal(size=(90, 4)) + y[:, None]
    names = np.array(["ant", "bee", "cat"])
    np.savez(tmp_path / "named.npz", X=X, y=names[y], X_test=X[:30], y_test=names[y[:30]])
    np.savez(tmp_path / "unnamed.npz", X=X, y=y, X_test=X[:30], y_test=y[:30])
    model = tmp_path / "m.npz"
    assert cli("train", "--data", tmp_path / "named.npz", "--out", model, "--quiet").code == 0
    named = cli("evaluate", "--model", model, "--data", tmp_path / "named.npz", "--json")
    unnamed = cli("evaluate", "--model", model, "--data", tmp_path / "unnamed.npz", "--json")
    assert named.code == 0 and unnamed.code == 0, unnamed.err
    assert unnamed.json()["confusion_matrix"] == named.json()["confusion_matrix"]
    assert "classes are unnamed (0..2): class k is read as the model's k-th class" in unnamed.err
    # more unnamed classes than the model has: refused as before
    np.savez(tmp_path / "four.npz", X=X, y=np.arange(90) % 4)
    wider = cli("evaluate", "--model", model, "--data", tmp_path / "four.npz")
    assert wider.code == 2 and "classes must be ones the model knows" in wider.err


def test_integer_classes_are_matched_by_name_even_where_the_data_counts_from_0(
    cli, usage_error, tmp_path, rng
):
    # a model of labels 1, 2, 3 on a set labelled 0, 1, 2 read class k as the model's k-th:
    # every 1 scored as a 2 (accuracy 0.0025 where by name it is 0.9975), and 0 not refused
    y = np.arange(90) % 3 + 1
    X = rng.normal(size=(90, 4)) + y[:, None]
    np.savez(tmp_path / "train.npz", X=X, y=y, X_test=X[:30], y_test=y[:30])
    model = tmp_path / "m.npz"
    assert cli("train", "--data", tmp_path / "train.npz", "--out", model, "--quiet").code == 0
    np.savez(tmp_path / "other.npz", X=X[:31], y=np.r_[y[:30] - 1, 0][:31])
    line = usage_error("evaluate", "--model", model, "--data", tmp_path / "other.npz")
    assert line.endswith("classes must be ones the model knows (1, 2, 3); got '0'"), line
    # the same set without its unknown class is scored by name, with no note
    np.savez(tmp_path / "known.npz", X=X[:30], y=y[:30])
    by_name = cli("evaluate", "--model", model, "--data", tmp_path / "known.npz", "--json")
    own = cli("evaluate", "--model", model, "--data", tmp_path / "train.npz", "--json")
    assert by_name.code == 0 and "unnamed" not in by_name.err
    assert by_name.json()["confusion_matrix"] == own.json()["confusion_matrix"]
