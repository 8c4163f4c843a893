"""Model: a trained network with its input scaling and class labels, ready to predict.

Also the one-line model files of the Python API: :func:`save` writes a :class:`Model` or a bare
``nn.Sequential`` (``softgrad.save(network, "m.npz")``) and :func:`load` gives back a
:class:`Model`. The file format itself lives in :mod:`softgrad.serialization`, which knows
nothing of this class: this module imports the format, never the other way round.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from softgrad import serialization
from softgrad.functional import log_softmax, softmax
from softgrad.metrics import TopK, checked_k, top_k
from softgrad.model_file_scaler import zero_scale
from softgrad.model_inputs import (
    check_rows,
    column_order,
    model_classes,
    model_image_shape,
    network_sizes,
)
from softgrad.nn.sequential import Sequential
from softgrad.preprocessing import Scaler
from softgrad.scaling import working_dtype
from softgrad.training.inference_checks import (
    LOGISTIC_FIX,
    check_class_outputs,
    finite_logits_head,
    input_dtype,
    softmax_finite,
)
from softgrad.training.predict import INFERENCE_BATCH, logits_network, predict_batches

__all__ = ["Model", "load", "save"]


def _unscaled(X: np.ndarray) -> np.ndarray:
    """A model without a scaler reads X as it is."""
    return X


class Model:
    """A network that maps scaled features to logits, plus what turns raw data into answers.

    Parameters
    ----------
    network : softgrad.nn.Sequential
        Produces logits of shape (N, C) from scaled input of shape (N, D), each row from its
        own input row (a Softmax over the batch, axis 0, is refused). A final Softmax or
        LogSoftmax layer over the classes is the network's head: the logits are its input, so
        ``predict_proba`` is that Softmax's output (not the softmax of it) and
        ``predict_log_proba`` that LogSoftmax's (see
        :func:`softgrad.training.predict.logits_network`), as in the ONNX export.
    classes : array_like of shape (C,), optional
        Label of each output (integers or strings); ``predict`` returns these. Default: the
        output indices ``0 .. C-1`` (C read from the network's last weight matrix).
    scaler : Scaler, optional
        Applied to raw features before the network. Default: none (features go to the network
        as they are, in their own dtype).
    image_shape : tuple (height, width) of int, optional
        The shape of a grey image when the features are one, flattened; (N, H, W) input is
        then accepted too, and ``softgrad predict`` reads picture files at that size.
    metadata : dict, optional
        JSON facts about the training run (data set, epochs, accuracy ...), saved with it:
        string keys; dicts, lists, strings, numbers, booleans and None (:func:`save`).

    Notes
    -----
    Every prediction method runs the network in evaluation mode (Dropout off) over batches of
    ``batch_size`` rows: scaling, activations and logits exist for one batch at a time, so 1e6
    samples cost only the (N, C) result. The network's previous mode is restored afterwards.

    Examples
    --------
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
        classes: Any = None,
        scaler: Scaler | None = None,
        image_shape: tuple[int, ...] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if scaler is not None and not isinstance(scaler, Scaler):
            raise TypeError(f"Model: scaler must be a softgrad Scaler or None; got {scaler!r}")
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"Model: metadata must be a dict or None; got {metadata!r}")
        if not isinstance(network, Sequential):
            raise TypeError(
                f"Model: network must be a softgrad.nn.Sequential; got {type(network).__name__} "
                "(wrap a single layer: Sequential(layer))"
            )
        in_size, out_size = network_sizes(network)
        check_class_outputs(network, "Model", LOGISTIC_FIX)
        if scaler is not None and None not in (in_size, scaler.n_features):
            if scaler.n_features != in_size:
                raise ValueError(
                    f"Model: scaler must scale the network's {in_size} inputs; got a scaler of "
                    f"{scaler.n_features} features"
                )
        # save and load refuse it; here it made every prediction one constant
        problem = None if scaler is None else zero_scale(np.asarray(scaler.scale))
        if problem is not None:
            raise ValueError(f"Model: scaler.scale {problem}")
        if classes is None:
            if out_size is None:
                raise ValueError(
                    "Model: classes must be given when the network has no weight matrix "
                    "to read the number of outputs from; got None"
                )
            classes = np.arange(out_size)
        self.network = network
        self.classes = model_classes(classes)
        self.scaler = scaler
        self.image_shape = model_image_shape(image_shape)
        self.metadata = dict(metadata or {})
        if in_size is None and scaler is not None:
            in_size = scaler.n_features
        self._n_features = in_size
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

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Raw features -> network input: ``scaler.transform(X)``, or ``X`` itself without a
        scaler. Rows that are scaled in float64 (float64 values, integers of 32 bits or more:
        ``softgrad.scaling.working_dtype``) come out in float64 for a float64 network (in
        float32 for the others); other rows come out in float32, which a float64 network
        widens exactly as it reads them.

        Parameters
        ----------
        X : array_like of shape (N, D)
            Raw features.

        Returns
        -------
        ndarray of shape (N, D)
            The network's input.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> model = Model(build_mlp(2, [3], 2, rng=0), scaler=Scaler.for_range(4))
        >>> model.scale(np.array([[0, 2], [4, 1]], dtype=np.uint8))
        array([[0.  , 0.5 ],
               [1.  , 0.25]], dtype=float32)
        """
        return self._scaling()(X)

    def _scaling(self) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`scale` for the batches of one call. The network's dtype matters only to rows
        scaled in float64 (float64 values, integers of 32 bits or more; the others are scaled
        in float32, and a float64 network widens them as transform would): it is looked up
        once a call, and only for them (``named_params`` cost 8 us of a one-row prediction's
        240)."""
        scaler = self.scaler
        if scaler is None:
            return _unscaled
        found: list[np.dtype] = []

        def scale(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X)
            if working_dtype(X.dtype) == np.float32:
                return scaler.transform(X)
            if not found:
                wide = input_dtype(self.network) == np.float64
                found.append(np.dtype(np.float64 if wide else np.float32))
            return scaler.transform(X, dtype=found[0])

        return scale

    def _columns_by_name(self, X: Any, where: str) -> Any:
        """A pandas DataFrame's columns in the order of the feature names the model was trained
        on (``metadata["feature_names"]``, a CSV file's header), as ``softgrad predict`` reads a
        CSV file: by name. Names that are not the model's are refused; a frame of numbered
        columns (not strings), and any other X, is read by position."""
        names = self.metadata.get("feature_names")
        columns = getattr(X, "columns", None)
        if not isinstance(names, list) or columns is None or isinstance(X, np.ndarray):
            return X
        columns = list(columns)
        if not all(isinstance(c, str) for c in columns):
            return X
        order = column_order(names, columns, where, ValueError)
        return X if order is None else X.iloc[:, order]  # the frame's columns in the model's

    def _map_batches(
        self,
        X: Any,
        batch_size: int,
        where: str,
        head: Callable[[np.ndarray], np.ndarray] | None = None,
        checked: Callable[[np.ndarray], tuple[np.ndarray, bool]] | None = None,
    ) -> np.ndarray:
        """``head(logits)`` of every batch (:func:`softgrad.training.predict.predict_batches`),
        or ``checked``'s: a head with the logits' finite test in its pass (finite_logits_head)."""
        X = check_rows(
            self._columns_by_name(X, where),
            where,
            scaler=self.scaler,
            image_shape=self.image_shape,
            n_features=self.n_features,
            finite=False,  # batch by batch, in predict_batches
        )
        finite_head = finite_logits_head(X, where, head, checked)
        n_classes = len(self.classes)

        def one_per_class(logits: np.ndarray) -> np.ndarray:
            # checked at every batch (a shape read): a network changed in place since the Model
            # was made (a new head) was answered with the labels of the old classes, or failed
            # in an IndexError
            if logits.shape[-1] != n_classes:
                raise ValueError(
                    f"{where}: the network must give one output per class ({n_classes}); got "
                    f"{logits.shape[-1]} (its layers changed since the Model was made? make a "
                    "new Model(network, classes=...))"
                )
            return finite_head(logits)

        network = logits_network(self.network)  # a final Softmax is not applied twice
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # refused there
            return predict_batches(
                network,
                X,
                batch_size,
                prepare=self._scaling(),
                head=one_per_class,
                where=where,
                check_finite=True,
            )

    def decision_function(self, X: Any, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Logits (unnormalised scores): ndarray of shape (N, C), the network's dtype (the input
        of a final Softmax or LogSoftmax layer, whose output they are not).

        Parameters
        ----------
        X : array_like of shape (N, D), or (N, H, W) matching ``image_shape``
            Raw features, as for :meth:`predict_proba`.
        batch_size : int, default 1024
            Rows per forward pass.

        Returns
        -------
        logits : ndarray of shape (N, C)

        Raises
        ------
        ValueError
            Input of the wrong shape or not finite, or logits that overflow.

        Examples
        --------
        >>> from softgrad.nn import Linear, Sequential
        >>> net = Sequential(Linear(2, 2, rng=0))
        >>> net[0].params["W"][...] = [[1, 0], [0, 1]]
        >>> Model(net).decision_function(np.array([[3.0, -1.0]]))  # W.T x + b, b = 0
        array([[ 3., -1.]], dtype=float32)
        """
        return self._map_batches(X, batch_size, "Model.decision_function", lambda z: z)

    def predict_proba(self, X: Any, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Class probabilities ``softmax(logits)``: ndarray of shape (N, C), rows sum to 1.

        Parameters
        ----------
        X : array_like of shape (N, D), or (N, H, W) matching ``image_shape``
            Raw features (the model scales them), or ``model.scaler.inputs(raw)`` (a
            :class:`ScaledRows` of the model's scaler: its raw rows are read, scaled once).
            A model without a scaler reads any ScaledRows as ``predict_proba`` of
            :mod:`softgrad.training` does, scaling a batch at a time.
        batch_size : int, default 1024
            Rows per forward pass.

        Returns
        -------
        probabilities : ndarray of shape (N, C), the network's dtype

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> model = Model(build_mlp(4, [8], 3, rng=0), ["cat", "dog", "fish"])
        >>> p = model.predict_proba(np.ones((5, 4)), batch_size=2)
        >>> p.shape, p.dtype, bool(np.allclose(p.sum(axis=1), 1.0))
        ((5, 3), dtype('float32'), True)
        """
        return self._map_batches(X, batch_size, "Model.predict_proba", checked=softmax_finite)

    def predict_log_proba(self, X: Any, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """``log_softmax(logits)``: ndarray of shape (N, C), exact even where probs underflow.

        Parameters
        ----------
        X : array_like of shape (N, D), or (N, H, W) matching ``image_shape``
            Raw features, as for :meth:`predict_proba`.
        batch_size : int, default 1024
            Rows per forward pass.

        Returns
        -------
        log_probabilities : ndarray of shape (N, C), the network's dtype

        Examples
        --------
        >>> from softgrad.nn import Linear, Sequential
        >>> net = Sequential(Linear(2, 2, rng=0))
        >>> net[0].params["W"][...] = [[1, 0], [0, 1]]
        >>> model = Model(net)
        >>> model.predict_log_proba(np.array([[200.0, 0.0]]))  # probability exp(-200) underflows
        array([[   0., -200.]], dtype=float32)
        """
        return self._map_batches(X, batch_size, "Model.predict_log_proba", log_softmax)

    def predict_top(self, X: Any, k: int = 1, batch_size: int = INFERENCE_BATCH) -> TopK:
        """The ``k`` most probable classes of each row and their probabilities, most probable
        first, ties in class order (:func:`softgrad.metrics.top_k` of each batch's
        probabilities). Only those are kept: N * k values, where ``predict_proba`` returns
        N * C (at 1,000 classes, 4 KB a row).

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.
        k : int, 1 <= k <= n_classes, default 1
        batch_size : int, default 1024

        Returns
        -------
        TopK
            A named tuple, as ``torch.topk``'s (:class:`softgrad.metrics.TopK`):

            values : ndarray of shape (N, k), the network's dtype
                The probabilities.
            indices : ndarray of shape (N, k), intp
                Positions in ``classes``: ``model.classes[indices]`` are the labels.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> model = Model(build_mlp(4, [8], 3, rng=0), ["cat", "dog", "fish"])
        >>> p, index = model.predict_top(np.ones((2, 4)), k=2)
        >>> index.shape, p.shape, bool(np.all(p[:, 0] >= p[:, 1]))
        ((2, 2), (2, 2), True)
        """
        k = checked_k(k, self.n_classes, "Model.predict_top", "the classes")
        rows = self.map_logits(
            X, lambda z: ranked_rows(z, k), batch_size, caller="Model.predict_top"
        )
        return TopK(np.ascontiguousarray(rows["p"]), np.ascontiguousarray(rows["index"]))

    def map_logits(
        self,
        X: Any,
        head: Callable[[np.ndarray], np.ndarray],
        batch_size: int = INFERENCE_BATCH,
        *,
        caller: str = "Model.map_logits",
    ) -> np.ndarray:
        """``head(logits)`` of each batch of rows, in order, joined into one array of N rows:
        what a caller computes from the logits without holding all N * C of them (a loss and
        the predictions of a million rows of 1,000 classes). ``head`` is given finite logits
        (a row whose logits overflow is refused, as by :meth:`decision_function`) of shape
        (B, C) and returns an array of B rows (a structured array for several results); the
        batches come in order, so a head may count the rows it has seen. ``caller`` starts the
        messages of its errors.

        The logits a head is given are one buffer, written again by the next batch: a head
        that keeps them (rather than what it computes from them) must keep a copy. A head
        that returns anything but an array of its batch's rows, of one shape and dtype for
        every batch, is refused (a scalar was broadcast over the batch, the floats of a
        later batch cut to the first batch's ints).

        Parameters
        ----------
        X : array_like
            As for :meth:`predict_proba`.
        head : callable, ndarray of shape (B, C) -> ndarray of B rows
            Called once a batch, in order.
        batch_size : int, default 1024
            Rows per forward pass (B, but the last batch's remainder).
        caller : str, default "Model.map_logits"
            The name the error messages begin with: a function that wraps this one passes its
            own.

        Returns
        -------
        ndarray of N rows
            The heads' results, joined along the first axis.

        Examples
        --------
        >>> from softgrad.nn import build_mlp
        >>> model = Model(build_mlp(4, [8], 3, rng=0), ["cat", "dog", "fish"])
        >>> X = np.ones((5, 4))
        >>> top = model.map_logits(X, lambda logits: logits.argmax(axis=1), batch_size=2)
        >>> bool(np.array_equal(model.classes[top], model.predict(X)))
        True
        """
        if not callable(head):
            raise TypeError(f"{caller}: head must be callable; got {type(head).__name__}")
        return self._map_batches(X, batch_size, caller, head)

    def predict(self, X: Any, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """The most probable class of each row: ndarray of shape (N,) of entries of ``classes``.

        Parameters
        ----------
        X : array_like of shape (N, D), or (N, H, W) matching ``image_shape``
            Raw features, as for :meth:`predict_proba`.
        batch_size : int, default 1024
            Rows per forward pass.

        Returns
        -------
        labels : ndarray of shape (N,)
            Entries of ``classes``; ties go to the first class.

        Examples
        --------
        >>> from softgrad.nn import Linear, Sequential
        >>> net = Sequential(Linear(2, 2, rng=0))
        >>> net[0].params["W"][...] = [[1, 0], [0, 1]]
        >>> Model(net, [10, 20]).predict(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        array([10, 20, 10])
        """
        index = self._map_batches(
            X, batch_size, "Model.predict", lambda logits: np.argmax(logits, axis=-1)
        )
        return self.classes[index]

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` as one .npz file, atomically (see :func:`save`).

        Parameters
        ----------
        path : str or PathLike
            Written exactly as given (no ``.npz`` suffix is added); its folder must exist.

        Raises
        ------
        ValueError
            As :func:`save`: a file :func:`load` would refuse or metadata it would not give
            back equal; nothing is written.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from softgrad.nn import build_mlp
        >>> model = Model(build_mlp(2, [3], 2, rng=0), ["no", "yes"], metadata={"seed": 0})
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     model.save(pathlib.Path(folder) / "m.npz")
        ...     back = load(pathlib.Path(folder) / "m.npz")
        >>> back
        Model(n_features=2, n_classes=2, classes=['no', 'yes'], scaler=None, image_shape=None)
        """
        serialization.write_model(
            path,
            self.network,
            classes=self.classes,
            scaler=self.scaler,
            image_shape=self.image_shape,
            metadata=self.metadata,
        )

    def __repr__(self) -> str:
        return (
            f"Model(n_features={self.n_features}, n_classes={self.n_classes}, "
            f"classes={self.classes.tolist()!r}, scaler={self.scaler!r}, "
            f"image_shape={self.image_shape})"
        )


def ranked_rows(logits: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most probable classes of each row of ``logits`` (N, C), most probable first
    (by the logits, as :meth:`Model.predict` takes the most probable), ties in class order,
    and their probabilities: a structured array of N records, fields
    ``index`` (intp) and ``p`` (the logits' dtype), each of k values: one array, as
    :meth:`Model.map_logits` joins a head's batches.

    Example
    -------
    >>> rows = ranked_rows(np.array([[0.0, 2.0, 2.0]]), 2)
    >>> rows["index"], rows["p"].round(3)
    (array([[1, 2]]), array([[0.468, 0.468]]))
    """
    # ranked by the logits, as predict ranks them (softmax keeps their order): ranked by the
    # probabilities, logits [0, 1e-8] rounded to a tie and named class 0 where predict named
    # class 1, and an underflow to 0 tied a logit of -200 with one of -300
    index = top_k(logits, k).indices
    p = np.take_along_axis(softmax(logits, axis=-1), index, axis=1)
    rows = np.empty(len(p), dtype=[("index", np.intp, (k,)), ("p", p.dtype, (k,))])
    rows["index"], rows["p"] = index, p
    return rows


def save(
    model: Any,
    path: str | os.PathLike,
    *,
    classes: Any = None,
    scaler: Scaler | None = None,
    image_shape: tuple[int, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a :class:`Model` or a bare network to ``path`` as one .npz file (atomically).

    ``softgrad.save(network, path)`` is ``Model(network, classes, scaler, ...).save(path)``.

    Parameters
    ----------
    model : Model or softgrad.nn.Sequential
        What to save. A Sequential is wrapped in a Model first.
    path : str or PathLike
        Written exactly as given (no ``.npz`` suffix is added); its folder must exist.
    classes, scaler, image_shape, metadata : optional
        As for :class:`Model`; only for a bare network (a Model carries its own).

    Raises
    ------
    TypeError
        ``model`` is neither a Model nor a Sequential, or a Model came with ``classes`` etc.
    ValueError
        ``metadata`` that :func:`load` would not give back equal, named by its key: not JSON,
        a key that is not a string (JSON's keys are: ``1`` would come back as ``"1"``), a
        tuple (it would come back a list); NumPy numbers are stored as the Python numbers they
        hold. Or the file would be one :func:`load` refuses (NaN or inf weights from a diverged
        run, a network without a Linear layer, an integer of more than 4300 digits): nothing is
        written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import softgrad
    >>> from softgrad.nn import Linear, ReLU, Sequential
    >>> network = Sequential(Linear(4, 8, rng=0), ReLU(), Linear(8, 3, rng=1))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "net.npz"
    ...     softgrad.save(network, path)
    ...     model = softgrad.load(path)
    >>> X = np.ones((2, 4), dtype=np.float32)
    >>> bool(np.array_equal(model.network.forward(X), network.forward(X)))
    True
    >>> model.predict(X)
    array([0, 0])
    """
    if isinstance(model, Model):
        extras = {
            "classes": classes,
            "scaler": scaler,
            "image_shape": image_shape,
            "metadata": metadata,
        }
        given = [name for name, value in extras.items() if value is not None]
        if given:
            raise TypeError(
                f"save: {', '.join(given)} must not be given with a Model (it carries its own); "
                f"got {given}"
            )
        model.save(path)
        return
    from softgrad.nn import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            "save: model must be a softgrad Model or a softgrad.nn.Sequential (for a fitted "
            f"softgrad.sklearn.MLPClassifier, save est.to_model()); got {type(model).__name__}"
        )
    Model(model, classes, scaler, image_shape=image_shape, metadata=metadata).save(path)


def load(path: str | os.PathLike) -> Model:
    """Read a model file written by :func:`save`, ``Model.save`` or ``softgrad train``.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    Model
        Predicts bit-identically to the model that was saved; its ``network`` is the
        ``nn.Sequential`` (``model.network.forward(x)`` runs it on already-scaled input).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ModelFileError
        Anything wrong with the file (see :func:`softgrad.serialization.read_npz`), or contents
        that do not fit together (weights missing or of the wrong shape, classes not matching
        the output size).

    Examples
    --------
    A model saved with its classes and metadata comes back with them, predicting as it did.

    >>> import tempfile, pathlib
    >>> import softgrad
    >>> from softgrad.nn import build_mlp
    >>> network = build_mlp(2, [4], 3, rng=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "model.npz"
    ...     softgrad.save(network, path, classes=["a", "b", "c"], metadata={"run": 1})
    ...     model = softgrad.load(path)
    >>> model.n_features, model.classes.tolist(), model.metadata
    (2, ['a', 'b', 'c'], {'run': 1})
    >>> X = np.ones((2, 2), dtype=np.float32)
    >>> bool(np.array_equal(model.predict_proba(X), softgrad.Model(network).predict_proba(X)))
    True
    """
    contents = serialization.read_model(path)
    try:
        return Model(
            contents.network,
            contents.classes,
            contents.scaler,
            image_shape=contents.image_shape,
            metadata=contents.metadata,
        )
    except (TypeError, ValueError) as exc:
        raise serialization.model_file_error(path, f"contents do not fit together ({exc})") from exc
