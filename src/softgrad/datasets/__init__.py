"""Data sets: the embedded 8x8 digits, (Fashion-)MNIST from IDX files, folders of PNG images
(one sub-folder per class) and user files.

:func:`load_data` takes the spec the CLI's ``--data`` takes: ``"digits"``, ``"fashion-mnist"``,
``"mnist"`` or a path (.npz, .csv, a folder of IDX files or of class folders of PNGs). Every
loader returns a :class:`Dataset` with raw features (uint8 pixels stay uint8; scaling is the
model's job).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from softgrad.checks import check_path
from softgrad.datasets.dataset import Dataset
from softgrad.datasets.digits import load_digits
from softgrad.datasets.files import load_file
from softgrad.datasets.idx import load_idx, save_idx
from softgrad.datasets.images import load_image_folder
from softgrad.datasets.mnist import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    load_fashion_mnist,
    load_idx_folder,
    load_mnist,
)
from softgrad.datasets.split import stratified_split
from softgrad.errors import DatasetNotFoundError

__all__ = [
    "DATASET_NAMES",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "Dataset",
    "load_data",
    "load_digits",
    "load_fashion_mnist",
    "load_file",
    "load_idx",
    "load_idx_folder",
    "load_image_folder",
    "load_mnist",
    "save_idx",
    "stratified_split",
    "unknown_spec",
]

DATASET_NAMES = ("digits", "fashion-mnist", "mnist")


def load_data(
    spec: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    hold_out: bool = True,
    csv_dtype: Any = None,
    train_dtype: Any = np.float32,
) -> Dataset:
    """Load a data set by name or path.

    Parameters
    ----------
    spec : str or PathLike
        ``"digits"`` (embedded), ``"fashion-mnist"``, ``"mnist"`` (case and ``_``/``-`` do not
        matter), or the path of an .npz file, a .csv file, a folder of IDX files or a folder of
        PNG images with one sub-folder per class (:func:`load_image_folder`).
    root : str or PathLike, optional
        Folder of the IDX files for ``"fashion-mnist"`` and ``"mnist"`` (default: their
        standard places, see :func:`load_fashion_mnist`). Not allowed with other specs.
    progress : callable, optional
        Called as ``progress(bytes_read, file_size)`` while a .csv file is read (see
        :func:`load_file`); never called for the other formats.
    hold_out : bool, default True
        For a file without a test set of its own: split one off (False: every sample a
        training sample, the test set empty; :func:`load_file`). The named sets keep theirs.
    csv_dtype : None, float32 or float64
        The dtype of a .csv file's features (:func:`load_file`: None decides by what float32
        keeps of each column); other formats ignore it.
    train_dtype : float32 or float64, default float32
        The dtype the features will be computed in: a file's value beyond its range is refused
        (:func:`load_file`; the named sets hold pixels).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetNotFoundError
        Neither a known name nor an existing path; or a named data set that is not installed.
    DataFormatError
        The file is malformed (see :func:`load_file`).

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_data("digits")
    >>> X_train.shape, X_test.shape
    ((1437, 64), (360, 64))
    """
    check_path(spec, "load_data", "spec")
    if root is not None:
        check_path(root, "load_data", "root")
    name = _dataset_name(spec)
    loaders = {"fashion-mnist": load_fashion_mnist, "mnist": load_mnist}
    if name in loaders:
        return loaders[name](root)
    if root is not None:
        raise ValueError(
            f"load_data: root must be None unless spec is 'fashion-mnist' or 'mnist'; "
            f"got spec {str(spec)!r} with root {str(root)!r}"
        )
    if name == "digits":
        return load_digits()
    if Path(spec).exists():
        return load_file(
            spec, progress=progress, hold_out=hold_out, csv_dtype=csv_dtype, train_dtype=train_dtype
        )
    raise DatasetNotFoundError(f"load_data: spec {unknown_spec(spec)}")


def unknown_spec(spec: str | os.PathLike) -> str | None:
    """What is wrong with ``spec`` as data to load (``"must be one of ...; got 'nope'"``, for
    the caller to name it: ``load_data: spec``, the command line's ``--data``), or None for a
    data set's name or an existing path.

    Parameters
    ----------
    spec : str or PathLike
        What :func:`load_data` would be given: a data set's name (case, spaces and ``_``
        ignored) or a path.

    Returns
    -------
    problem : str or None
        The message's tail, or None when ``spec`` names something to load.

    Examples
    --------
    >>> unknown_spec(" Digits") is None
    True
    >>> unknown_spec("nope")
    "must be one of 'digits', 'fashion-mnist', 'mnist' or an existing .npz/.csv file or IDX
    folder; got 'nope'"
    """
    if _dataset_name(spec) in DATASET_NAMES or Path(spec).exists():
        return None
    return (
        "must be one of 'digits', 'fashion-mnist', 'mnist' or an existing .npz/.csv file or "
        f"IDX folder; got {str(spec)!r}"
    )


def _dataset_name(spec: str | os.PathLike) -> str:
    """``spec`` as a data set's name is compared: ``" Fashion_MNIST"`` is ``"fashion-mnist"``."""
    return str(spec).strip().lower().replace("_", "-")
