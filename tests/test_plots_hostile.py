"""softgrad.plots under hostile input: any class name draws, silently; bad numbers are refused
by name before anything is written; the picture's size is bounded."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from softgrad import plots  # noqa: E402

# a font without CJK glyphs, math markup that does not parse, and a name far too long
HOSTILE_NAMES = ["貓 cat", "$\\frac{$", "x" * 300, "$x^2$"]


def _silent(capfd):
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_hostile_class_names_draw_without_a_word(tmp_path, capfd):
    # filterwarnings=error: a glyph or tight-layout warning would fail here; a $ pair would
    # be parsed as math (a ValueError for \frac{)
    cm = np.arange(16).reshape(4, 4)
    plots.plot_confusion_matrix(cm, HOSTILE_NAMES, tmp_path / "cm.png")
    images = np.arange(4 * 9, dtype=float).reshape(4, 9)
    plots.plot_misclassified(
        images, [0, 1, 2, 3], [1, 2, 3, 0], HOSTILE_NAMES, (3, 3), tmp_path / "w.png"
    )
    _silent(capfd)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "w.png"]


def test_display_name_makes_dollars_literal_and_cuts_long_names():
    from softgrad.plots._figure import MAX_NAME_CHARS, display_name

    assert display_name("$x^2$") == r"\$x^2\$"
    assert display_name("x" * 300) == "x" * (MAX_NAME_CHARS - 1) + "…"
    assert display_name(7) == "7"


@pytest.mark.parametrize(
    "history",
    [
        {"train_loss": [1.0]},  # one epoch, no accuracy: the accuracy panel has no legend
        {"train_loss": np.array([1.0, 0.5]), "train_acc": np.array([0.1, 0.2])},
        {"train_loss": [1.0, np.nan, np.inf], "train_acc": [np.nan] * 3, "val_loss": [np.nan]},
        # History.to_dict() writes NaN as None; a best epoch the lists do not hold is not marked
        {"train_loss": [1.0, None], "train_acc": [0.5, None], "best_epoch": 7},
    ],
)
def test_learning_curves_of_odd_histories_draw_without_a_word(tmp_path, capfd, history):
    plots.plot_learning_curves(history, tmp_path / "c.png")
    _silent(capfd)
    with Image.open(tmp_path / "c.png") as img:
        assert img.size == (1100, 420)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ({"train_loss": ["a", "b"]}, r"history\['train_loss'\] must be a list of numbers"),
        ({"train_loss": [[1.0, 0.5]]}, r"history\['train_loss'\] must be a list of numbers"),
        ({"train_loss": [1.0], "val_acc": "high"}, r"history\['val_acc'\] must be a list"),
        (
            {"train_loss": [1.0, 0.5], "best_epoch": 1.5},
            r"best_epoch must be None or an int; got 1\.5",
        ),
        (
            {"train_loss": [1.0, 0.5], "best_epoch": "2"},
            r"best_epoch must be None or an int; got '2'",
        ),
    ],
)
def test_learning_curves_refuse_a_bad_history_by_name(tmp_path, history, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_learning_curves(history, tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("cm", "message"),
    [
        (np.array([[np.nan, 1.0], [2.0, 3.0]]), r"finite counts >= 0; got cm\[0, 0\] = nan"),
        (np.array([[1, 2], [-3, 4]]), r"finite counts >= 0; got cm\[1, 0\] = -3"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), r"got cm\[0, 1\] = inf"),
        (np.array([["a", "b"], ["c", "d"]]), r"finite counts >= 0; got dtype str"),
    ],
)
def test_confusion_matrix_refuses_what_is_not_counts(tmp_path, cm, message):
    with pytest.raises(ValueError, match=message):
        plots.plot_confusion_matrix(cm, ["a", "b"], tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []


def test_misclassified_refuses_labels_outside_the_classes(tmp_path):
    for y_true in ([2], [-1]):  # -1 used to be drawn silently as the last class's name
        with pytest.raises(ValueError, match=r"y_true must be class indices in 0\.\.1"):
            plots.plot_misclassified(
                np.ones((1, 4)), y_true, [1], ["a", "b"], (2, 2), tmp_path / "w.png"
            )
    with pytest.raises(ValueError, match=r"y_pred must be class indices in 0\.\.1"):
        plots.plot_misclassified(
            np.ones((1, 4)), [0], [0.5], ["a", "b"], (2, 2), tmp_path / "w.png"
        )
    assert list(tmp_path.iterdir()) == []


def test_a_confusion_matrix_of_many_classes_stays_a_bounded_picture(tmp_path, rng):
    # 0.75 inch a class made 1000 classes a 75250-pixel square (22 GB) with a million numbers
    assert plots.confusion_figsize(1000) == (40.0, 40.0)
    n = 120  # beyond the named and the annotated limits
    cm = rng.integers(0, 5, (n, n))
    path = plots.plot_confusion_matrix(cm, [f"c{k}" for k in range(n)], tmp_path / "cm.png")
    with Image.open(path) as img:
        assert img.size == (4000, 4000)


@pytest.mark.parametrize(
    ("dpi", "message"),
    [
        (0, "dpi must be a positive number; got 0"),
        (-5, "dpi must be a positive number; got -5"),
        (float("nan"), "dpi must be a positive number; got nan"),
        (True, "dpi must be a positive number; got True"),
        (1500, r"dpi must keep the 11 x 4.2 inch picture within 100000000 pixels"),
    ],
)
def test_a_bad_dpi_is_refused_before_drawing(tmp_path, dpi, message):
    with pytest.raises(ValueError, match=f"plot_learning_curves: {message}"):
        plots.plot_learning_curves({"train_loss": [1.0]}, tmp_path / "c.png", dpi=dpi)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_suffix_is_refused_by_name(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"plot_learning_curves: path must end in one of .*"
        r"\.png.*; got '.*c\.txt'",
    ):
        plots.plot_learning_curves({"train_loss": [1.0]}, tmp_path / "c.txt")
    assert list(tmp_path.iterdir()) == []
