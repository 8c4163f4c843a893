"""Class names (and input names) that would not read as themselves in predict's and evaluate's
text: a blank name printed as nothing, a newline or tab broke the table's lines and columns, a
right-to-left override turned the rest of the line around. They are shown quoted, with Python's
escapes; JSON gives every name exactly as the model holds it.

A blank class name stays a valid label of a model: scikit-learn takes "" as a label of y, and
``MLPClassifier.to_model()`` passes the estimator's classes on (data sets refuse blank names,
:func:`softgrad.datasets.dataset.check_class_names`, so a blank name comes only from there or
from the Python API).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

import softgrad
from softgrad.model import Model
from softgrad.nn import build_mlp

# name -> how the tables show it
ODD = {
    "": "''",
    "  ": "'  '",
    "two\nlines": "'two\\nlines'",
    "tab\there": "'tab\\there'",
    "\u202eevil": "'\\u202eevil'",  # RIGHT-TO-LEFT OVERRIDE
    " lead": "' lead'",
    "'quoted'": "\"'quoted'\"",
    "7": "7",  # a name that looks like a number is shown as it is: the tables hold only names
    "שלום": "שלום",  # right-to-left letters are printable: shown as they are
    "x" * 200: "x" * 200,
}


@pytest.fixture
def odd_model(tmp_path):
    path = tmp_path / "odd.npz"
    Model(build_mlp(4, [5], len(ODD), rng=0), np.array(list(ODD))).save(path)
    return path


def test_predict_shows_odd_class_names_quoted_one_line_per_sample(cli, odd_model, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    result = cli("predict", "--model", odd_model, tmp_path / "x.npy", "--top", len(ODD))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) == 2
    for row, line in enumerate(lines):
        name, ranked = line.split("  ", 1)
        assert name == str(tmp_path / f"x.npy[{row}]")
        shown = sorted(entry.rsplit(" (", 1)[0] for entry in ranked.split(", "))
        assert shown == sorted(ODD.values()), line


def test_predict_json_gives_the_names_as_the_model_holds_them(cli, odd_model, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 4)))
    result = cli("predict", "--model", odd_model, tmp_path / "x.npy", "--top", 99, "--json")
    assert result.code == 0, result.err
    (prediction,) = result.json()["predictions"]
    assert sorted(t["class"] for t in prediction["top"]) == sorted(ODD)


def test_predict_shows_an_input_named_with_a_newline_quoted(cli, odd_model, tmp_path):
    path = tmp_path / "two\nlines.npy"
    np.save(path, np.zeros((1, 4)))
    result = cli("predict", "--model", odd_model, path)
    assert result.code == 0, result.err
    (line,) = result.out.splitlines()
    assert line.startswith(repr(f"{path}[0]") + "  ")


def test_evaluate_shows_odd_class_names_quoted(cli, odd_model, tmp_path):
    # integer labels 0..C-1: the data's classes are unnamed and read as the model's by position
    n = len(ODD)
    X = np.random.default_rng(0).normal(size=(4 * n, 4))
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(4 * n) % n)
    result = cli("evaluate", "--model", odd_model, "--data", tmp_path / "d.npz", "--split", "all")
    assert result.code == 0, result.err
    table = result.out.split("\n\n")[1].splitlines()
    assert len(table) == 1 + n
    for line, expected in zip(table[1:], ODD.values(), strict=True):
        assert line.startswith(expected + " "), (line, expected)
    rows = result.out.split("columns: predicted class, by the rows' [index])\n")[1].splitlines()
    assert len(rows) == 1 + n
    for k, (line, expected) in enumerate(zip(rows[1:], ODD.values(), strict=True)):
        assert line.startswith(f"[{k}] {expected} "), (line, expected)
    (note,) = result.err.splitlines()
    assert note.endswith("class k is read as the model's k-th class ('', '  ', 'two\\nlines', ...)")
    as_json = cli("evaluate", "--model", odd_model, "--data", tmp_path / "d.npz", "--json")
    assert as_json.json()["class_names"] == list(ODD)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 5 epochs
def test_a_blank_label_of_the_estimator_makes_a_model_and_comes_back_from_its_file(tmp_path):
    pytest.importorskip("sklearn")
    from softgrad.sklearn import MLPClassifier

    X = np.random.default_rng(1).normal(size=(30, 3))
    y = np.array(["", "yes", "no"])[np.arange(30) % 3]
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    softgrad.save(est.to_model(), tmp_path / "m.npz")
    model = softgrad.load(tmp_path / "m.npz")
    assert model.classes.tolist() == ["", "no", "yes"]
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_evaluate_names_the_models_classes_quoted_when_the_data_has_others(
    usage_error, odd_model, tmp_path
):
    X = np.random.default_rng(0).normal(size=(8, 4))
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["p", "q"] * 4))
    line = usage_error("evaluate", "--model", odd_model, "--data", tmp_path / "d.npz")
    # every name as written, '  ' too: the one line folds white space outside quoted names only
    known = ", ".join(ODD.values())
    expected = f"classes must be ones the model knows ({known}); got 'p', 'q'"
    assert line.endswith(expected), line


def _columns(line):
    """Terminal columns of ``line``: 2 for a wide (CJK) character, 0 for a combining one."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in line
    )


def test_evaluate_aligns_wide_and_combining_class_names_by_terminal_columns(cli, tmp_path):
    # len() padded 猫 as one column: every number after a Chinese name stood 1 column right
    names = ["猫", "犬犬犬", "cafe\u0301", "dog"]
    path = tmp_path / "m.npz"
    Model(build_mlp(4, [5], len(names), rng=0), np.array(names)).save(path)
    X = np.random.default_rng(0).normal(size=(40, 4))
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % len(names))
    result = cli("evaluate", "--model", path, "--data", tmp_path / "d.npz", "--split", "all")
    assert result.code == 0, result.err
    table, matrix = result.out.split("\n\n")[1:3]
    for block in (table.splitlines(), matrix.splitlines()[1:]):
        assert len({_columns(line) for line in block}) == 1, block


def test_predict_aligns_input_names_by_terminal_columns(cli, odd_model, tmp_path):
    for name in ("猫.npy", "dogs.npy"):
        np.save(tmp_path / name, np.zeros((1, 4)))
    result = cli("predict", "--model", odd_model, tmp_path / "猫.npy", tmp_path / "dogs.npy")
    assert result.code == 0, result.err
    first, second = result.out.splitlines()
    # the class column starts at one terminal column on both lines
    assert _columns(first.rsplit("  ", 1)[0]) == _columns(second.rsplit("  ", 1)[0])
