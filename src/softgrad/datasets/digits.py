"""The 8x8 handwritten digits bundled with scikit-learn: softgrad's embedded default data set."""

from __future__ import annotations

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
    scikit-learn.

    The pixels are stored as uint8 like every image data set here (scikit-learn ships them as
    float64 counts 0..16; the conversion is exact), an eighth of the bytes: ``Scaler.inputs``
    reads them scaled one batch at a time. Arithmetic on them in uint8 wraps around (``16 -
    X`` is fine, ``X * 16`` is not): convert first (``X.astype(np.float32)``).

    Example
    -------
    >>> ds = load_digits()
    >>> ds.X_train.shape, ds.X_test.shape, ds.X_train.dtype.name, ds.scale
    ((1437, 64), (360, 64), 'uint8', 16.0)
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    X = bunch.data.astype(np.uint8)  # float64 counts 0..16 as scikit-learn ships them: exact
    y = bunch.target.astype(np.int64)
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
