"""A score or a loss is printed to 4 decimals, with more where those would show a bound it does
not reach: 29,999 right of 30,000 printed "accuracy 1.0000" (evaluate, train's report, the
epoch lines and the per-class table; the confusion plot's title to 3). The plot draws counts
as whole numbers (1,234,567 was drawn 1.23457e+06)."""

import numpy as np
import pytest

from softgrad.checks.wording import fixed


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (0.87654, 4, "0.8765"),
        (29_999 / 30_000, 4, "0.99997"),
        (0.99995, 4, "0.99995"),
        (1 - 1e-12, 4, "0.999999999999"),
        (1 - 2**-53, 4, "0.9999999999999999"),  # past 15 decimals: the shortest exact text
        (1 + 2**-52, 3, "1.0000000000000002"),
        (1.0, 4, "1.0000"),
        (4e-5, 4, "0.00004"),
        (0.0, 4, "0.0000"),
        (1e-30, 4, "1e-30"),
        (2.5, 4, "2.5000"),
        (0.9996, 3, "0.9996"),
        (np.float32(0.99999), 4, "0.99999"),
        (float("nan"), 4, "nan"),
    ],
)
def test_a_figure_never_reads_as_a_bound_it_does_not_reach(value, places, text):
    assert fixed(value, places) == text


def _drawn(monkeypatch, cm):
    """The cell texts and the title plot_confusion_matrix draws for ``cm``."""
    from softgrad.plots import confusion

    seen = {}

    def keep(fig, path, dpi, where):
        ax = fig.axes[0]
        seen["cells"] = [text.get_text() for text in ax.texts]
        seen["title"] = ax.get_title()
        return path

    monkeypatch.setattr(confusion, "save_atomic", keep)
    confusion.plot_confusion_matrix(np.asarray(cm), ["a", "b"], "cm.png")
    return seen


def test_the_confusion_plot_draws_counts_whole_and_no_false_accuracy(monkeypatch):
    seen = _drawn(monkeypatch, [[1_234_567, 1], [0, 2_000_001]])
    assert seen["cells"] == ["1234567", "1", "0", "2000001"]
    assert seen["title"] == "Confusion matrix (3,234,569 samples, accuracy 0.9999997)"
    seen = _drawn(monkeypatch, np.array([[3.0, 1.0], [0.0, 4.0]]))  # counts held as floats
    assert seen["cells"] == ["3", "1", "0", "4"]
    assert seen["title"] == "Confusion matrix (8 samples, accuracy 0.875)"


def test_the_confusion_plot_of_shares_claims_no_samples(monkeypatch):
    seen = _drawn(monkeypatch, [[0.9, 0.1], [1.0, 0.0]])  # rows normalised
    assert seen["cells"] == ["0.9", "0.1", "1", "0"]
    assert seen["title"] == "Confusion matrix (the diagonal holds 0.450 of the total)"
