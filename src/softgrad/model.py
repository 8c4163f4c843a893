"""Model: a trained network with its input scaling and class labels, ready to predict."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad.functional import log_softmax, softmax
from softgrad.preprocessing import Scaler

__all__ = ["Model"]


def _param_shapes(network: Any) -> tuple[int | None, int | None]:
    """(input size, output size) from the first and last weight matrix ``*.W``, if any."""
    weights = [array for name, array in network.named_params().items() if name.endswith("W")]
    if not weights:
        return None, None
    return int(weights[0].shape[0]), int(weights[-1].shape[-1])


def _as_classes(classes: Any) -> np.ndarray:
    array = np.asarray(classes)
    if array.dtype.kind == "O":
        array = array.astype(str)
    if array.ndim != 1 or array.dtype.kind not in "biuUS" or len(np.unique(array)) != len(array):
        raise ValueError(
            "Model: classes must be a 1-D array of distinct integers or strings; "
            f"got {array.dtype.name} {array!r}"
        )
    return array.astype(np.int64) if array.dtype.kind in "biu" else array


class Model:
    """A network that maps scaled features to logits, plus what turns raw data into answers.

    Parameters
    ----------
    network : softgrad.nn.Sequential
        Produces logits of shape (N, C) from scaled input of shape (N, D).
    classes : array_like of shape (C,)
        Label of each output (integers or strings); ``predict`` returns these.
    scaler : Scaler
        Applied to raw features before the network.
    image_shape : tuple of int, optional
        ``(height, width)`` when the features are a flattened image; (N, H, W) input is then
        accepted too.
    metadata : dict, optional
        JSON-safe facts about the training run (data set, epochs, accuracy ...), saved with it.

    Notes
    -----
    Every prediction method runs the network in evaluation mode (Dropout off) over batches of
    ``batch_size`` rows: scaling, activations and logits exist for one batch at a time, so 1e6
    samples cost only the (N, C) result. The network's previous mode is restored afterwards.

    Example
    -------
    >>> from softgrad.nn import Linear, Sequential
    >>> net = Sequential(Linear(2, 2, rng=0))
    >>> net[0].params["W"][...] = [[1, 0], [0, 1]]
    >>> model = Model(net, ["cat", "dog"], Scaler.for_range(10))
    >>> model.predict(np.array([[10, 0], [0, 20]]))
    array(['cat', 'dog'], dtype='<U3')
    >>> model.predict_proba(np.array([[10, 0]])).round(3)
    array([[0.731, 0.269]], dtype=float32)
    """

    def __init__(
        self,
        network: Any,
        classes: Any,
        scaler: Scaler,
        image_shape: tuple[int, ...] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if not isinstance(scaler, Scaler):
            raise TypeError(f"Model: scaler must be a softgrad Scaler; got {scaler!r}")
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"Model: metadata must be a dict or None; got {metadata!r}")
        self.network = network
        self.classes = _as_classes(classes)
        self.scaler = scaler
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.metadata = dict(metadata or {})
        in_size, out_size = _param_shapes(network)
        self._n_features = in_size if in_size is not None else scaler.n_features
        if out_size is not None and out_size != len(self.classes):
            raise ValueError(
                f"Model: classes must have one entry per network output ({out_size}); "
                f"got {len(self.classes)}"
            )
        if (
            self.image_shape is not None
            and self._n_features is not None
            and int(np.prod(self.image_shape)) != self._n_features
        ):
            raise ValueError(
                f"Model: image_shape must multiply to the input size {self._n_features}; "
                f"got {self.image_shape}"
            )

    @property
    def n_features(self) -> int | None:
        """D, the number of raw features the model takes (None if the network does not say)."""
        return self._n_features

    @property
    def n_classes(self) -> int:
        """C, the number of classes."""
        return len(self.classes)

    def _check_X(self, X: Any, where: str) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{where}: X must be numeric; got dtype {X.dtype.name!r}")
        if X.ndim == 3 and self.image_shape is not None and X.shape[1:] == self.image_shape:
            X = X.reshape(len(X), -1)
        if X.ndim != 2:
            raise ValueError(
                f"{where}: X must be 2-D (n_samples, n_features); got shape {X.shape}"
                + ("; for one sample use X.reshape(1, -1)" if X.ndim == 1 else "")
            )
        if self._n_features is not None and X.shape[1] != self._n_features:
            raise ValueError(
                f"{where}: X must have {self._n_features} features (the model's input size); "
                f"got {X.shape[1]}"
            )
        return X

    def _map_batches(
        self, X: Any, batch_size: int, where: str, head: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray | None:
        """``head(logits)`` of every batch, concatenated into one preallocated array."""
        X = self._check_X(X, where)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"{where}: batch_size must be a positive int; got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"{where}: batch_size must be a positive int; got {batch_size!r}")
        was_training = getattr(self.network, "training", False)
        self.network.eval()
        out = None
        try:
            for start in range(0, len(X), batch_size):
                batch = X[start : start + batch_size]
                if batch.dtype.kind == "f" and not np.all(np.isfinite(batch)):
                    row = start + int(np.flatnonzero(~np.isfinite(batch).all(axis=1))[0])
                    raise ValueError(f"{where}: X must be finite; got NaN or inf in row {row}")
                result = head(self.network.forward(self.scaler.transform(batch)))
                if out is None:
                    out = np.empty((len(X), *result.shape[1:]), dtype=result.dtype)
                out[start : start + len(batch)] = result
        finally:
            self.network.train(was_training)
        return out

    def _empty_scores(self) -> np.ndarray:
        return np.empty((0, self.n_classes), dtype=np.float32)

    def decision_function(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """Logits (unnormalised scores): ndarray of shape (N, C), the network's dtype."""
        out = self._map_batches(X, batch_size, "Model.decision_function", lambda z: z)
        return self._empty_scores() if out is None else out

    def predict_proba(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities ``softmax(logits)``: ndarray of shape (N, C), rows sum to 1.

        Parameters
        ----------
        X : array_like of shape (N, D), or (N, H, W) matching ``image_shape``
            Raw features (the model scales them).
        batch_size : int, default 1024
            Rows per forward pass.
        """
        out = self._map_batches(X, batch_size, "Model.predict_proba", softmax)
        return self._empty_scores() if out is None else out

    def predict_log_proba(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """``log_softmax(logits)``: ndarray of shape (N, C), exact even where probs underflow."""
        out = self._map_batches(X, batch_size, "Model.predict_log_proba", log_softmax)
        return self._empty_scores() if out is None else out

    def predict(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """The most probable class of each row: ndarray of shape (N,) of entries of ``classes``."""
        index = self._map_batches(
            X, batch_size, "Model.predict", lambda logits: np.argmax(logits, axis=-1)
        )
        return self.classes[:0] if index is None else self.classes[index]

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` (one .npz, atomically); see :func:`softgrad.save`."""
        from softgrad.serialization import save

        save(self, path)

    def __repr__(self) -> str:
        return (
            f"Model(n_features={self.n_features}, n_classes={self.n_classes}, "
            f"classes={self.classes.tolist()!r}, scaler={self.scaler!r}, "
            f"image_shape={self.image_shape})"
        )
