"""softgrad.plots: the pictures exist, have the documented pixel size, and fail cleanly."""

from __future__ import annotations

import builtins
import math
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from softgrad import plots  # noqa: E402
from softgrad.errors import MissingDependencyError  # noqa: E402
from softgrad.training import History  # noqa: E402

NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _size(path):
    assert path.stat().st_size > 0
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def _history(n=12, validation=True):
    t = np.arange(1, n + 1)
    return History(
        train_loss=list(1 / t),
        train_acc=list(1 - 0.5 / t),
        lr=[1e-3] * n,
        epoch_time=[0.1] * n,
        val_loss=list(1.2 / t + 0.01 * t) if validation else [],
        val_acc=list(0.9 - 0.4 / t) if validation else [],
        best_epoch=9 if validation else None,
    )


def test_learning_curves_size_and_no_temp_files(tmp_path):
    path = plots.plot_learning_curves(_history(), tmp_path / "curves.png")
    assert path == tmp_path / "curves.png"
    assert _size(path) == (1100, 420)
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_learning_curves_from_a_dict_without_validation(tmp_path):
    path = plots.plot_learning_curves(
        _history(validation=False).to_dict(), tmp_path / "c.png", dpi=50
    )
    assert _size(path) == (550, 210)


@pytest.mark.parametrize("n_epochs", [1, 3, 40])
def test_learning_curves_tick_whole_epochs(tmp_path, monkeypatch, n_epochs):
    # matplotlib's default ticks read 1.00, 1.25, ... 3.00 (0.96 ... 1.04 for one epoch)
    drawn = {}

    def keep(fig, path, *args):
        drawn["fig"] = fig
        return path

    monkeypatch.setattr(plots.curves, "save_atomic", keep)
    plots.plot_learning_curves(_history(n_epochs, validation=False), tmp_path / "c.png")
    for ax in drawn["fig"].axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_learning_curves_need_an_epoch(tmp_path):
    with pytest.raises(ValueError, match="at least one epoch"):
        plots.plot_learning_curves(History(), tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_classes", [3, 10, 15])
def test_confusion_matrix_size(tmp_path, rng, n_classes):
    cm = rng.integers(0, 20, (n_classes, n_classes)) + 500 * np.eye(n_classes, dtype=int)
    names = (NAMES * 2)[:n_classes]
    path = plots.plot_confusion_matrix(cm, names, tmp_path / "cm.png")
    side = round(100 * plots.confusion_figsize(n_classes)[0])
    assert _size(path) == (side, side)
    assert side == (1000 if n_classes == 10 else side)


def test_confusion_matrix_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.zeros((2, 3)), ["a", "b"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match="class_names must have 2 entries"):
        plots.plot_confusion_matrix(np.eye(2), ["a"], tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("n", "size"), [(20, (1020, 860)), (4, (680, 260)), (0, (400, 150))])
def test_misclassified_grid_size(tmp_path, rng, n, size):
    images = rng.integers(0, 256, (n, 28 * 28))
    y_true = rng.integers(0, 10, n)
    path = plots.plot_misclassified(
        images, y_true, (y_true + 1) % 10, NAMES, (28, 28), tmp_path / "wrong.png"
    )
    assert _size(path) == size


@pytest.mark.parametrize("dpi", [50, 96, 100, 200])
@pytest.mark.parametrize("n", [3, 20])
def test_misclassified_grid_is_the_whole_pixels_its_size_names(tmp_path, rng, n, dpi):
    # 1.7 inches a column: 6 columns at 100 dpi are 1019.9999999999999 pixels, which
    # matplotlib before 3.11 truncated to 1019 (3 columns: 509, 50 dpi: 509 and 254)
    images = rng.integers(0, 256, (n, 28 * 28))
    y_true = rng.integers(0, 10, n)
    path = plots.plot_misclassified(
        images, y_true, (y_true + 1) % 10, NAMES, (28, 28), tmp_path / "wrong.png", dpi=dpi
    )
    # the documented decimal sizes (10.2 x 8.6 inches) times dpi, in exact arithmetic, and the
    # fractional pixel dropped as matplotlib drops it (8.6 inches at 96 dpi: 825 pixels)
    expected = tuple(
        math.floor(Fraction(repr(inches)) * dpi) for inches in plots.misclassified_figsize(n)
    )
    assert _size(path) == expected, f"{n} images at {dpi} dpi: expected {expected}"


@pytest.mark.parametrize(
    ("fmt", "mark"), [("svg", b'width="734.4pt"'), ("pdf", b"/MediaBox [ 0 0 734.4 187.2 ]")]
)
def test_a_vector_picture_keeps_its_size_and_the_figure_its_own(tmp_path, fmt, mark):
    # the whole-pixel nudge is for raster pictures: an SVG of 10.2 inches was written
    # 734.400001pt wide, and the figure was left 10.20000001 inches wide after saving
    from matplotlib.figure import Figure

    from softgrad.plots._figure import save_atomic

    for suffix, wanted in ((fmt, mark), ("png", None)):
        fig = Figure(figsize=(10.2, 2.6))
        path = save_atomic(fig, tmp_path / f"p.{suffix}", 100, "test", tight=False)
        assert list(fig.get_size_inches()) == [10.2, 2.6], suffix
        if wanted is not None:
            assert wanted in path.read_bytes()
        else:
            assert _size(path) == (1020, 260)


def test_misclassified_rejects_wrong_image_shape(tmp_path):
    with pytest.raises(ValueError, match="image_shape"):
        plots.plot_misclassified(
            np.zeros((2, 64)), [0, 1], [1, 0], ["a", "b"], (7, 9), tmp_path / "w.png"
        )


def test_other_formats_follow_the_suffix(tmp_path):
    path = plots.plot_learning_curves(_history(3), tmp_path / "curves.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    (tmp_path / "c.png").write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        plots.plot_learning_curves(_history(3), tmp_path / "c.png")
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]
    assert (tmp_path / "c.png").read_bytes() == b"old"  # the old picture survives


@pytest.mark.parametrize(
    ("installed", "message"),
    [
        (False, r"^plots need matplotlib: pip install 'softgrad\[plots\]'$"),
        # installed but built for another NumPy: the install command is "already satisfied"
        (True, r"^plots need matplotlib, which is installed but failed to import \(broken\)"),
    ],
    ids=["absent", "broken"],
)
def test_missing_matplotlib_gives_the_install_hint(monkeypatch, tmp_path, installed, message):
    import importlib.util

    real_import, real_find_spec = builtins.__import__, importlib.util.find_spec

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("broken" if installed else f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    def find_spec(name, *args, **kwargs):
        if name == "matplotlib" and not installed:
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingDependencyError, match=message):
        plots.plot_learning_curves(_history(3), tmp_path / "c.png")
    with pytest.raises(MissingDependencyError, match=message):
        plots.require_matplotlib()
    assert list(tmp_path.iterdir()) == []
