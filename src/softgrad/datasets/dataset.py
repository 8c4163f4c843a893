"""The Dataset record every loader returns: a train/test split with its class names."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from softgrad.model_file_meta import as_image_shape

if TYPE_CHECKING:
    from softgrad.preprocessing import Scaler

__all__ = ["Dataset"]


class Dataset:
    """A labelled train/test split, raw features kept as stored (uint8 pixels stay uint8).

    Parameters
    ----------
    X_train : ndarray of shape (N, D)
        Raw training features (any numeric dtype).
    y_train : ndarray of shape (N,)
        Training labels, integers in 0..C-1 (stored as int64).
    X_test : ndarray of shape (M, D)
        Raw test features, same D as ``X_train``.
    y_test : ndarray of shape (M,)
        Test labels in 0..C-1.
    class_names : sequence of str, length C
        Display name of each class; label ``k`` is ``class_names[k]``.
    image_shape : tuple (height, width) of int, optional
        When each row is a flattened grey image (``height * width == D``): two positive
        integers, as ``Model`` takes them; any other value is refused, not converted.
    name : str
        Where the data came from (``"digits"``, ``"fashion-mnist"``, a file name).
    scale : float, optional
        Maximum raw feature value (255 for 8-bit images, 16 for the 8x8 digits): features are then
        scaled by ``1 / scale``. None means "standardise with the training set's statistics".
    feature_names : sequence of str, optional
        The name of each feature column (a CSV file's header without its label), D distinct
        names; ``softgrad train`` saves them in the model, and ``softgrad predict`` then reads a
        CSV file's columns by name. None where the data names no columns.

    Notes
    -----
    Iterating yields ``(X_train, y_train, X_test, y_test)``, so
    ``X_train, y_train, X_test, y_test = load_data("digits")`` works.

    Examples
    --------
    >>> ds = Dataset(np.zeros((4, 2)), [0, 1, 0, 1], np.ones((2, 2)), [1, 0], ["no", "yes"])
    >>> ds
    Dataset(name='', n_train=4, n_test=2, n_features=2, n_classes=2, image_shape=None, scale=None)
    >>> X_train, y_train, X_test, y_test = ds
    >>> y_test
    array([1, 0])
    """

    def __init__(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray,
        y_test: np.ndarray,
        class_names: Sequence[str],
        image_shape: tuple[int, ...] | None = None,
        name: str = "",
        scale: float | None = None,
        feature_names: Sequence[str] | None = None,
    ):
        self.X_train = np.asarray(X_train)
        self.y_train = np.asarray(y_train, dtype=np.int64)
        self.X_test = np.asarray(X_test)
        self.y_test = np.asarray(y_test, dtype=np.int64)
        self.class_names = [str(c) for c in class_names]
        self.image_shape = _image_shape(image_shape)
        self.name = str(name)
        self.scale = None if scale is None else float(scale)
        self.feature_names = None if feature_names is None else [str(n) for n in feature_names]
        self._validate()

    def _validate(self) -> None:
        for split, X, y in (
            ("train", self.X_train, self.y_train),
            ("test", self.X_test, self.y_test),
        ):
            if X.ndim != 2:
                raise ValueError(
                    f"Dataset: X_{split} must be 2-D (n_samples, n_features); got shape {X.shape}"
                )
            if y.shape != (X.shape[0],):
                raise ValueError(
                    f"Dataset: y_{split} must have shape ({X.shape[0]},); got {y.shape}"
                )
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise ValueError(
                    f"Dataset: y_{split} must be in 0..{len(self.class_names) - 1}; "
                    f"got {int(y.min())}..{int(y.max())}"
                )
        check_class_names(self.class_names, "Dataset")
        if self.X_test.shape[1] != self.X_train.shape[1]:
            raise ValueError(
                f"Dataset: X_test must have {self.X_train.shape[1]} features like X_train; "
                f"got {self.X_test.shape[1]}"
            )
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.n_features:
            raise ValueError(
                f"Dataset: image_shape must multiply to {self.n_features} features; "
                f"got {self.image_shape}"
            )
        names = self.feature_names
        if names is not None and (len(names) != self.n_features or len(set(names)) < len(names)):
            raise ValueError(
                f"Dataset: feature_names must be {self.n_features} distinct names, one per "
                f"feature; got {len(names)} ({len(set(names))} distinct)"
            )
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(
                f"Dataset: scale must be a positive number or None; got {self.scale!r}"
            )

    @property
    def n_features(self) -> int:
        """D, the number of features per sample."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """C, the number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def __len__(self) -> int:
        return 4

    def fit_scaler(self) -> Scaler:
        """The input scaling this data set calls for, fitted on the training split only.

        Returns
        -------
        Scaler
            ``Scaler.for_range(scale)`` when :attr:`scale` is set, else
            ``Scaler.fit_standard(X_train)``.

        Raises
        ------
        ValueError
            A feature's standard deviation is beyond what a float32 scale inverts; the message
            names the data set and the feature (its number from 1, and its column's name where
            the data names columns).

        Examples
        --------
        >>> from softgrad.datasets import load_digits
        >>> load_digits().fit_scaler()  # pixels 0..16: x / 16, no statistics
        Scaler(offset=0.0, scale=0.0625)
        """
        from softgrad.preprocessing import Scaler
        from softgrad.preprocessing_params import STD_RANGE, FeatureScaleError

        if self.scale is not None:
            return Scaler.for_range(self.scale)
        try:
            return Scaler.fit_standard(self.X_train)
        except FeatureScaleError as exc:
            # named as the data names it: the feature's number (1-based) and its column's name
            # (not the file's column number: a label column may come first)
            names = self.feature_names
            column = f"feature {exc.feature + 1}" + (
                f" ({names[exc.feature]!r})" if names is not None else ""
            )
            raise ValueError(
                f"Dataset.fit_scaler: training features of {self.name!r} must each have a "
                "standard deviation from "
                f"{STD_RANGE[0]:.3g} to {STD_RANGE[1]:.3g} for the float32 scaling; got "
                f"{exc.std!r} in {column} (rescale it)"
            ) from None

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={len(self.y_train)}, n_test={len(self.y_test)}, "
            f"n_features={self.n_features}, n_classes={self.n_classes}, "
            f"image_shape={self.image_shape}, scale={self.scale})"
        )


def _image_shape(image_shape: Any) -> tuple[int, int] | None:
    """``image_shape`` as a Dataset holds it, by the rule ``Model`` applies
    (:func:`~softgrad.model_file_meta.as_image_shape`): a shape ``Model`` refuses failed only
    when the trained model was built, after the whole run."""
    return as_image_shape(image_shape, "Dataset", "each row a flattened grey image")


def check_class_names(
    class_names: Sequence[str],
    where: str,
    error: type[ValueError] = ValueError,
    what: str = "class_names",
) -> None:
    """Refuse a blank name (empty, or only white space) and a name given to two classes: a
    model could not tell such classes apart in its answers (predict printed an empty class; a
    model file refuses repeats, which after a whole training run was too late); raised as
    ``error`` (a loader's DataFormatError), naming the class by its position.

    Example
    -------
    >>> check_class_names(["cat", "dog", "cat"], "f.npz")
    Traceback (most recent call last):
    ...
    ValueError: f.npz: class_names must be distinct; got 'cat' for classes 0 and 2
    >>> check_class_names(["cat", " "], "f.npz")
    Traceback (most recent call last):
    ...
    ValueError: f.npz: class_names must not be blank; got ' ' for class 1
    """
    first: dict[str, int] = {}
    for k, name in enumerate(class_names):
        if not name.strip():
            raise error(f"{where}: {what} must not be blank; got {name!r} for class {k}")
        if name in first:
            raise error(
                f"{where}: {what} must be distinct; got {name!r} for classes {first[name]} and {k}"
            )
        first[name] = k
