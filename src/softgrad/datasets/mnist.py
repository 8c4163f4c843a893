"""MNIST and Fashion-MNIST from a folder of the four standard IDX files (each optionally .gz)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from softgrad.checks import check_path
from softgrad.datasets.dataset import Dataset
from softgrad.datasets.features import check_values
from softgrad.datasets.idx import load_idx
from softgrad.datasets.labels import encode_labels
from softgrad.errors import DataFormatError, DatasetNotFoundError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IDX_FILES",
    "MNIST_CLASSES",
    "find_idx_folder",
    "load_fashion_mnist",
    "load_idx_folder",
    "load_mnist",
]

# role -> standard file name (the loader also accepts each with a .gz suffix)
IDX_FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_CLASSES = [str(k) for k in range(10)]
FASHION_MNIST_CLASSES = [
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
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_DIR = "/usr/share/datasets/mnist"
_FASHION_HOWTO = (
    "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the "
    "four files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) into a "
    "folder and pass that folder (root=..., or --data FOLDER), or set SOFTGRAD_DATA to it"
)
_MNIST_HOWTO = (
    "download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
    "and t10k-labels-idx1-ubyte.gz (the MNIST database: yann.lecun.com/exdb/mnist or a mirror) "
    "into a folder and pass that folder (root=..., or --data FOLDER), or put them in "
    "$SOFTGRAD_DATA/mnist"
)


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_stems(folder: Path) -> list[str]:
    return [stem for stem in IDX_FILES.values() if _file_in(folder, stem) is None]


def _missing(folder: Path) -> str:
    return ", ".join(_missing_stems(folder))


def find_idx_folder(folder: str | os.PathLike) -> dict[str, Path] | None:
    """The four standard IDX files in ``folder`` (role -> path), or None if any is missing."""
    found = {role: _file_in(Path(folder), stem) for role, stem in IDX_FILES.items()}
    if any(path is None for path in found.values()):
        return None
    return found  # type: ignore[return-value]


def _check_pair(X: np.ndarray, y: np.ndarray, X_path: Path, y_path: Path) -> None:
    if X.ndim < 2:
        raise DataFormatError(
            f"load_idx_folder: {str(X_path)!r} must hold samples of at least 1 dimension "
            f"(n_samples, ...); got shape {X.shape}"
        )
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataFormatError(
            f"load_idx_folder: {str(y_path)!r} must hold 1-D integer labels; "
            f"got shape {y.shape} of {y.dtype.name}"
        )
    if len(X) != len(y):
        raise DataFormatError(
            f"load_idx_folder: {str(y_path)!r} must hold one label per sample of {str(X_path)!r} "
            f"({len(X)}); got {len(y)} labels"
        )
    if len(y) == 0:
        raise DataFormatError(f"load_idx_folder: {str(X_path)!r} must hold samples; got none")
    if X[0].size == 0:
        raise DataFormatError(
            f"load_idx_folder: {str(X_path)!r} must hold samples of at least one value; got shape "
            f"{X.shape}"
        )
    # float images (IDX types 0D and 0E) pass the check every .npz and .csv feature passes
    check_values(
        X,
        f"load_idx_folder: {str(X_path)!r}",
        lambda row, col: f"sample {row}, value {col} (flattened)",
    )
    if y.min() < 0:
        raise DataFormatError(
            f"load_idx_folder: labels in {str(y_path)!r} must be >= 0; got {int(y.min())} "
            f"at index {int(np.argmin(y))}"
        )


def load_idx_folder(
    folder: str | os.PathLike, *, name: str | None = None, class_names: list[str] | None = None
) -> Dataset:
    """Load a folder holding the four standard IDX files as a :class:`Dataset`.

    Parameters
    ----------
    folder : str or PathLike
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally ``.gz``.
    name : str, optional
        Data set name; default the folder's name.
    class_names : list of str, optional
        Names of the labels 0, 1, ...; every label must index one. Default: the distinct
        labels, sorted (``"0"`` .. ``"C-1"`` when every one of 0..C-1 occurs); labels such as
        {0, 5, 10**6} are three classes, as in an .npz file (:func:`load_file`).

    Returns
    -------
    Dataset
        Images flattened to rows (a view, no copy) with ``image_shape`` the per-sample shape
        when it is 2-D; ``scale`` 255 for uint8 images, else None (standardise).

    Raises
    ------
    DatasetNotFoundError
        A file missing, named in the message.
    DataFormatError
        A file that is not IDX, images and labels of different lengths, a negative label or
        test images of another shape than the training ones.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from softgrad.datasets import save_idx
    >>> images = np.zeros((4, 3, 2), dtype=np.uint8)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for split in ("train", "t10k"):
    ...         save_idx(Path(folder) / f"{split}-images-idx3-ubyte", images)
    ...         save_idx(Path(folder) / f"{split}-labels-idx1-ubyte.gz", np.uint8([0, 1, 1, 0]))
    ...     data = load_idx_folder(folder, name="tiny", class_names=["no", "yes"])
    >>> data
    Dataset(name='tiny', n_train=4, n_test=4, n_features=6, n_classes=2,
            image_shape=(3, 2), scale=255.0)
    """
    folder = Path(check_path(folder, "load_idx_folder", "folder"))
    files = find_idx_folder(folder)
    if files is None:
        raise DatasetNotFoundError(
            f"load_idx_folder: folder {str(folder)!r} must hold the four IDX files; "
            f"missing {_missing(folder)} (each may end in .gz)"
        )
    arrays = {role: load_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        _check_pair(X, y, files[f"X_{split}"], files[f"y_{split}"])
    sample_shape = arrays["X_train"].shape[1:]
    if arrays["X_test"].shape[1:] != sample_shape:
        raise DataFormatError(
            f"load_idx_folder: samples in '{files['X_test']}' must have shape {sample_shape} "
            f"like the training set; got {arrays['X_test'].shape[1:]}"
        )
    # the classes are the distinct labels, as in a .npz file: sizing them by the largest
    # label let a 132 KB folder with one label of 10**6 build a 10**6-class model
    label_files = (files["y_train"], files["y_test"])
    (y_train, y_test), class_names = encode_labels(
        [arrays["y_train"], arrays["y_test"]],
        f"load_idx_folder: {str(folder)!r}",
        lambda part, i: f"index {i} of '{label_files[part]}'",
        class_names,
    )
    X_train, X_test = arrays["X_train"], arrays["X_test"]
    return Dataset(
        X_train.reshape(len(X_train), -1),
        y_train,
        X_test.reshape(len(X_test), -1),
        y_test,
        class_names,
        image_shape=sample_shape if len(sample_shape) == 2 else None,
        name=folder.name if name is None else name,
        scale=255.0 if X_train.dtype == np.uint8 else None,
    )


def _default_root(candidates: list[str | None], where: str, howto: str) -> Path:
    for folder in candidates:
        if folder and find_idx_folder(folder) is not None:
            return Path(folder)
    for folder in candidates:  # some of the four files there: name the ones missing
        if folder and Path(folder).is_dir() and len(_missing_stems(Path(folder))) < len(IDX_FILES):
            raise DatasetNotFoundError(
                f"{where}: folder {str(folder)!r} holds some of the four IDX files; missing "
                f"{_missing(Path(folder))} (each may end in .gz)"
            )
    looked = ", ".join(f"{str(c)!r}" for c in candidates if c) or "nowhere"
    raise DatasetNotFoundError(f"{where}: data set not found (looked in {looked}); {howto}")


def load_fashion_mnist(root: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST: 60000 + 10000 grayscale 28x28 images of clothing in 10 classes.

    Parameters
    ----------
    root : str or PathLike, optional
        Folder of the four IDX files. Default: ``$SOFTGRAD_DATA``, then
        ``$SOFTGRAD_DATA/fashion-mnist``, then ``/usr/share/datasets/fashion-mnist`` (the Debian
        package ``dataset-fashion-mnist``), the first that holds them.

    Returns
    -------
    Dataset
        X uint8 of shape (60000, 784) and (10000, 784), y int64 in 0..9, ``image_shape``
        (28, 28), ``scale`` 255, class names ``FASHION_MNIST_CLASSES``.

    Raises
    ------
    DatasetNotFoundError
        The files are not there; the message says how to get them.
    DataFormatError
        A file is corrupt or the files disagree.

    Examples
    --------
    A stand-in folder with the four files (gzipped here; the real ones load the same way):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from softgrad.datasets import save_idx
    >>> rng = np.random.default_rng(0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for role, stem in IDX_FILES.items():
    ...         n = 6 if role.endswith("train") else 2
    ...         if role.startswith("X"):
    ...             array = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    ...         else:
    ...             array = np.arange(n, dtype=np.uint8)  # labels 0..n-1
    ...         save_idx(Path(folder) / f"{stem}.gz", array)
    ...     data = load_fashion_mnist(folder)
    >>> data
    Dataset(name='fashion-mnist', n_train=6, n_test=2, n_features=784, n_classes=10,
            image_shape=(28, 28), scale=255.0)
    >>> data.X_train.dtype, data.y_train, data.class_names[data.y_test[1]]
    (dtype('uint8'), array([0, 1, 2, 3, 4, 5]), 'Trouser')
    """
    if root is None:
        env = os.environ.get("SOFTGRAD_DATA")
        candidates = [env, env and os.path.join(env, "fashion-mnist"), FASHION_MNIST_DIR]
        root = _default_root(candidates, "load_fashion_mnist", _FASHION_HOWTO)
    elif find_idx_folder(root) is None:
        raise DatasetNotFoundError(
            f"load_fashion_mnist: folder {str(root)!r} must hold the four Fashion-MNIST IDX files; "
            f"missing {_missing(Path(root))}; {_FASHION_HOWTO}"
        )
    return load_idx_folder(root, name="fashion-mnist", class_names=FASHION_MNIST_CLASSES)


def load_mnist(root: str | os.PathLike | None = None) -> Dataset:
    """MNIST: 60000 + 10000 grayscale 28x28 images of handwritten digits 0-9.

    Parameters
    ----------
    root : str or PathLike, optional
        Folder of the four IDX files. Default: ``$SOFTGRAD_DATA/mnist``, then
        ``/usr/share/datasets/mnist``.

    Returns
    -------
    Dataset
        Like :func:`load_fashion_mnist`, class names ``"0"`` .. ``"9"``.

    Raises
    ------
    DatasetNotFoundError
        The files are not there; the message says how to get them.

    Examples
    --------
    A stand-in folder with the four files (uncompressed here; ``.gz`` works too):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from softgrad.datasets import save_idx
    >>> rng = np.random.default_rng(0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for role, stem in IDX_FILES.items():
    ...         n = 5 if role.endswith("train") else 3
    ...         if role.startswith("X"):
    ...             array = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    ...         else:
    ...             array = np.arange(n, dtype=np.uint8) * 2  # even digits
    ...         save_idx(Path(folder) / stem, array)
    ...     X_train, y_train, X_test, y_test = load_mnist(folder)
    >>> X_train.shape, y_train, X_test.shape, y_test
    ((5, 784), array([0, 2, 4, 6, 8]), (3, 784), array([0, 2, 4]))
    """
    if root is None:
        env = os.environ.get("SOFTGRAD_DATA")
        candidates = [env and os.path.join(env, "mnist"), MNIST_DIR]
        root = _default_root(candidates, "load_mnist", _MNIST_HOWTO)
    elif find_idx_folder(root) is None:
        raise DatasetNotFoundError(
            f"load_mnist: folder {str(root)!r} must hold the four MNIST IDX files; "
            f"missing {_missing(Path(root))}; {_MNIST_HOWTO}"
        )
    return load_idx_folder(root, name="mnist", class_names=MNIST_CLASSES)
