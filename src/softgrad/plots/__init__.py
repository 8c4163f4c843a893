"""Pictures of a training run: learning curves, a confusion matrix, misclassified images.

matplotlib is an optional dependency (``pip install 'softgrad[plots]'``); without it every function
here raises :class:`~softgrad.errors.MissingDependencyError` with that hint. Figures are drawn on
matplotlib's Agg canvas directly (``matplotlib.figure.Figure``), so calling these functions never
switches the pyplot backend of the caller's process. Every file is written atomically: the picture
goes to a temporary file in the destination folder, then replaces ``path`` in one rename, so a crash
never leaves half a PNG behind.

Pixel sizes (at the default ``dpi=100``):

* learning curves: 1100 x 420;
* confusion matrix of C classes: side ``100 * min(40, max(6, 0.75 * C + 2.5))`` (1000 x 1000 for
  C = 10; 4000 x 4000 from C = 50 on), counts in the cells up to 30 classes, names on the axes
  up to 100;
* misclassified grid of n images in ``cols = min(n, 6)`` columns and ``rows = ceil(n / cols)``:
  ``100 * 1.7 * cols`` wide by ``100 * (2.0 * rows + 0.6)`` tall (400 x 150 when n = 0).

The pictures live in :mod:`~softgrad.plots.curves`, :mod:`~softgrad.plots.confusion` and
:mod:`~softgrad.plots.misclassified`; the matplotlib import and the atomic save they share in
:mod:`~softgrad.plots._figure`. Everything public is re-exported here.
"""

from softgrad.plots._figure import INSTALL_HINT, require_matplotlib
from softgrad.plots.confusion import confusion_figsize, plot_confusion_matrix
from softgrad.plots.curves import CURVES_FIGSIZE as CURVES_FIGSIZE
from softgrad.plots.curves import plot_learning_curves
from softgrad.plots.misclassified import misclassified_figsize, plot_misclassified

__all__ = [
    "INSTALL_HINT",
    "confusion_figsize",
    "misclassified_figsize",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_misclassified",
    "require_matplotlib",
]
