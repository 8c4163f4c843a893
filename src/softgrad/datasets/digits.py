"""The 8x8 handwritten digits bundled with scikit-learn: softgrad's embedded default data set."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from softgrad.datasets.dataset import Dataset
from softgrad.datasets.split import stratified_split

__all__ = ["DIGITS_SEED", "DIGITS_TEST_FRACTION", "load_digits"]

# fixed split: the same 1437 training and 360 test images on every machine and every run
DIGITS_TEST_FRACTION = 0.2
DIGITS_SEED = 0


def load_digits() -> Dataset:
    """The 1797 8x8 digit images from scikit-learn, split 80/20 per class, deterministically.

    Returns
    -------
    Dataset
        X uint8 of shape (1437, 64) and (360, 64) with pixel values 0..16, y int64 in 0..9,
        ``image_shape`` (8, 8), ``scale`` 16, class names ``"0"`` .. ``"9"``.

    Notes
    -----
    The split is :func:`stratified_split` with ``fraction=DIGITS_TEST_FRACTION`` (0.2) and
    ``rng=DIGITS_SEED`` (0): ``ceil(0.2 * 1797) = 360`` images are held out for testing, 35 to 37
    of each digit (largest remainder of its 20% share). No download: the images ship inside
    scikit-learn, whose file is read without importing scikit-learn (:func:`_digits_arrays`).

    The pixels are stored as uint8 like every image data set here (scikit-learn ships them as
    float64 counts 0..16; the conversion is exact), an eighth of the bytes: ``Scaler.inputs``
    reads them scaled one batch at a time. Arithmetic on them in uint8 wraps around (``16 -
    X`` is fine, ``X * 16`` is not): convert first (``X.astype(np.float32)``).

    Examples
    --------
    >>> ds = load_digits()
    >>> ds.X_train.shape, ds.X_test.shape, ds.X_train.dtype.name, ds.scale
    ((1437, 64), (360, 64), 'uint8', 16.0)
    """
    X, y = _digits_arrays()
    train_idx, test_idx = stratified_split(y, DIGITS_TEST_FRACTION, rng=DIGITS_SEED)
    return Dataset(
        X[train_idx],
        y[train_idx],
        X[test_idx],
        y[test_idx],
        [str(k) for k in range(10)],
        image_shape=(8, 8),
        name="digits",
        scale=16.0,
    )


# where scikit-learn keeps the images: 1797 rows of 64 pixel counts and the digit, comma-separated
_DIGITS_FILE = ("datasets", "data", "digits.csv.gz")


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(X uint8 (1797, 64), y int64 (1797,)): scikit-learn's ``load_digits()`` data and target.

    Read from the file inside the installed scikit-learn without importing it: importing
    ``sklearn.datasets`` (scipy.stats, pandas, pyarrow) took 0.9 s of a 2.4 s ``softgrad train``
    on the digits; the file reads in 10 ms. Where that file is not found (another layout in a
    future release), scikit-learn's own loader reads it.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    path = None if spec is None or spec.origin is None else Path(spec.origin).parent
    path = None if path is None else path.joinpath(*_DIGITS_FILE)
    if path is not None and path.is_file():
        with gzip.open(path, "rt") as rows:
            data = np.loadtxt(rows, delimiter=",", ndmin=2)
        if data.shape == (1797, 65):
            # counts 0..16 and digits 0..9, exact in float64 as scikit-learn parses them too
            return data[:, :64].astype(np.uint8), data[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    # float64 counts 0..16 as scikit-learn ships them: the conversion is exact
    return bunch.data.astype(np.uint8), bunch.target.astype(np.int64)
