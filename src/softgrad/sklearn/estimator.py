"""MLPClassifier: scikit-learn's multilayer perceptron classifier, trained by softgrad in float32.

Same constructor, methods and fitted attributes as sklearn.neural_network.MLPClassifier (solvers
"sgd" and "adam", sklearn's update rules, L2 penalty and stopping rules), plus dtype,
class_weight, label_smoothing, dropout, lr_schedule, callbacks and a per-epoch ``history_`` with
the validation loss. It is an adapter: the network is an ``nn.Sequential``, trained by
``softgrad.training.fit`` with ``softgrad.optim``. This file holds the public class; beside it:
``_params`` (the arguments' constraints), ``_data`` (inputs, labels, weights, the split),
``_network`` (the layers, and parameters changed between calls), ``_training`` (the fit
policies), ``_weights`` (``coefs_`` / ``intercepts_``) and ``convert`` (to and from sklearn).
"""

from __future__ import annotations

import inspect
import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils.validation import check_is_fitted, check_random_state

from softgrad import functional as F
from softgrad.checks import unchanged_if_refused
from softgrad.sklearn import _data, _network, _params, _training
from softgrad.sklearn._weights import FittedWeights
from softgrad.training.predict import INFERENCE_BATCH, predict_batches

if TYPE_CHECKING:
    from softgrad.model import Model


class MLPClassifier(ClassifierMixin, FittedWeights, BaseEstimator):
    """Multilayer perceptron classifier with scikit-learn's interface, trained in float32.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon,
    n_iter_no_change, max_fun
        As in sklearn.neural_network.MLPClassifier (same defaults, same meaning; the same
        ``random_state`` gives sklearn's initial weights, validation split and batch order, so
        with dtype=np.float64 a fit reproduces sklearn's to rounding). ``solver``
        is "adam" or "sgd"; "lbfgs" is rejected with a ValueError (use sklearn's estimator and
        :meth:`from_sklearn`). ``alpha`` is sklearn's L2 term alpha * ||W||^2 / (2 * sum(w)) per
        mini-batch, w the sample weights (1 each by default): not torch's weight decay.
        ``n_iter_no_change`` is any real >= 1 (``np.inf``: never stop on a plateau). Checked
        at fit by scikit-learn's own parameter validation (``_parameter_constraints``).
        ``max_fun`` (an int >= 1, default 15000) is L-BFGS's budget of loss evaluations: it is
        accepted and validated so that ``MLPClassifier(**sklearn_mlp.get_params())``,
        ``set_params`` and grids work, and has no effect (L-BFGS is not offered).
    dtype : np.float32 or np.float64, default=np.float32
        Precision of the weights and of training; inputs are read in it (see Notes).
    class_weight : dict, "balanced" or None, default=None
        Weights per class, multiplied into the sample weights ("balanced": n / (C * count)).
    label_smoothing : float in [0, 1], default=0.0
        Targets (1 - eps) * onehot + eps / C.
    dropout : float in [0, 1), default=0.0
        Inverted-dropout rate on hidden activations during training.
    lr_schedule : callable, softgrad.optim schedule or None, default=None
        ``lr_schedule(epoch) -> learning rate`` (epoch 0-based, counted over warm starts and
        partial_fit calls), or a closed-form schedule of :mod:`softgrad.optim` (its
        ``lr_at(epoch)``, e.g. ``CosineLR(SGD(lr=0.1), t_max=20)``), set before each epoch for
        either solver; it overrides learning_rate and learning_rate_init. The first epoch's
        rate is also read before the call sets anything up, and refused there if it is not a
        finite number >= 0 (so the schedule is a function of the epoch alone).
    callbacks : sequence or None, default=None
        Each called after every epoch as ``cb(logs)`` (or ``cb.on_epoch_end(logs)``), logs a dict
        with epoch, loss, val_loss, val_score, learning_rate, estimator; a true return stops.
        A :class:`softgrad.training.Callback` (an instance of it or of a subclass) is called
        as :func:`softgrad.training.fit` calls it instead: every hook it has, with the
        TrainState (its epochs and batches counted within each fit or partial_fit call, its
        logs fit's: ``train_loss``, ``val_acc``, ``lr``), after the estimator's attributes
        have taken the epoch; ``on_batch_end`` returning True stops mid-epoch (``t_`` counts
        the samples trained on).

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_, loss_, best_loss_, loss_curve_,
    validation_scores_, best_validation_score_, n_iter_, t_, coefs_, intercepts_, n_layers_,
    n_outputs_, out_activation_
        As in sklearn. For two classes the output is one logistic unit (``n_outputs_ == 1``,
        ``out_activation_ == "logistic"``), else softmax over C units: the shapes of
        ``coefs_`` are sklearn's, so conversion both ways is exact.
    history_ : dict of lists
        Per epoch: "loss", "val_loss", "val_score" (None without a validation set),
        "learning_rate". The validation loss is the training loss function (label smoothing
        included, no L2 term) on the validation set.

    Notes
    -----
    There is no ``decision_function``, as in sklearn's MLPClassifier: scikit-learn's tools use
    it wherever an estimator has one (``CalibratedClassifierCV`` calibrates it,
    ``DecisionBoundaryDisplay`` draws it), so having it would change what they do with the
    estimator. The logits are ``clf.to_model().decision_function(X)`` (for two classes the
    columns [0, z]). ``predict_log_proba`` is
    computed from the logits (log-softmax / log-sigmoid), so it stays finite where
    ``predict_proba`` rounds to 0. As in sklearn, ``n_iter_`` counts the epochs of the last call
    (1 after ``partial_fit``) while ``loss_curve_`` and ``t_`` accumulate over warm starts and
    ``partial_fit`` calls. Training runs in ``dtype`` (float32 by default): a NumPy array of
    integers (uint8 pixels) stays as it is and each batch is cast as it is read, in training
    and prediction (never a float copy of all of X: 4x uint8's bytes in float32; into float64
    only integers of up to 16 bits, which float32 holds exactly, the others are converted
    once), with the very numbers converting X first gives, and so is a DataFrame of integer
    columns (held in C order: as integers, or converted where they are wider than ``dtype``);
    float inputs of the other dtype, lists and other DataFrames are converted once per call
    (in fit, a DataFrame of NumPy floats is checked as it is, then converted once in C order);
    CSR/CSC matrices are accepted; no input
    is scaled (nor is it by sklearn). As in sklearn, a
    changed ``activation`` (``set_params``) applies to the weights the estimator has: in
    ``predict`` and when training continues (``warm_start``, ``partial_fit``), and so does a
    changed ``dropout`` when training continues (the optimizer's state carries over); a
    changed ``hidden_layer_sizes`` (sklearn keeps the old shapes) or ``dtype`` is refused
    there with a ValueError. Every ``partial_fit`` call checks the parameters, as ``fit``
    does (sklearn checks them only on the first call). With ``early_stopping`` and
    ``warm_start``, each ``fit`` ends on the best weights it saw and the next one trains on
    from those: sklearn 1.9 keeps its best weights as the same arrays as ``coefs_``, so from
    its second fit on it trains them in place and never restores them, and the two differ
    from that fit on. Switching ``early_stopping`` between warm starts restarts the stopping
    rule (sklearn 1.9 fails there).

    Refused where sklearn fits, each with a ValueError that names the problem: a negative
    ``sample_weight`` (sklearn accepts it and trains on a loss that rewards those samples'
    errors), and a ``y`` with a single class (sklearn 1.9 fits a degenerate model), in ``fit``
    and in ``partial_fit``'s ``classes``; in float32 (the default ``dtype``), features beyond
    float32's range (|x| > 3.4e38), in ``fit`` and prediction, naming the row (sklearn computes
    in float64; ``dtype=np.float64`` takes them). Labels held as objects (pandas strings) give
    ``classes_`` of their own type ('<U3' ...), as sklearn's ``unique_labels`` does. A
    refused call leaves the estimator as it was (weights, optimizer state, ``classes_``,
    ``n_features_in_``); after any call it holds no rows of its data, so its pickle (a dask
    worker's reply, a joblib result) holds the weights, the optimizer's state and the
    fitted attributes.

    The estimator is an adapter over the stack: the network is an ``nn.Sequential`` of Linear
    and activation layers (``self._model``), trained by :func:`softgrad.training.fit` with
    ``softgrad.optim``'s SGD / Adam in scikit-learn's update rules and sklearn's policies
    (batch order, L2 penalty, stopping rule, verbose lines): see
    :mod:`softgrad.sklearn._training`. ``coefs_`` / ``intercepts_`` are the live arrays, and
    ``clf.coefs_[i] = W`` writes into the network as it does into sklearn's lists.

    Training stops with :class:`softgrad.errors.DivergenceError` when the training loss is
    NaN/inf, or when it explodes while finite: softgrad's divergence rule
    (:mod:`softgrad.training.divergence`: the mean loss of an epoch so far above 20 x
    max(first batch loss, log C)), which :func:`softgrad.training.fit` applies to every run and
    scikit-learn's MLP does not have (it trains on). The message names the rule that fired
    (``err.reason``), the epoch and the batch; the network keeps its last good weights.

    Ctrl-C (KeyboardInterrupt) during ``fit`` or ``partial_fit`` ends training as in sklearn:
    a UserWarning "Training interrupted by user.", the weights trained so far (the best
    epoch's under early_stopping), and the call returns the estimator. The interrupted epoch is
    not recorded in ``loss_curve_``.

    See Also
    --------
    from_sklearn, to_sklearn : conversion from / to a fitted sklearn MLPClassifier.
    to_model : the network as a :class:`softgrad.model.Model` (save, CLI).
    softgrad.export_onnx : the fitted estimator as an ONNX graph.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softgrad.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=1000,
    ...                     random_state=0).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95), clf.predict_proba(X[:1]).shape, clf.predict_proba(X).dtype
    (True, (1, 3), dtype('float32'))
    """

    #: The loss it minimises, named as sklearn's MLPClassifier names it (not a parameter).
    loss = "log_loss"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=np.float32,
        class_weight=None,
        label_smoothing=0.0,
        dropout=0.0,
        lr_schedule=None,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.dropout = dropout
        self.lr_schedule = lr_schedule
        self.callbacks = callbacks

    _parameter_constraints = _params.PARAMETER_CONSTRAINTS

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR input, as sklearn's MLP (CSC is converted)
        return tags

    def __setstate__(self, state):
        # an estimator pickled before a parameter existed takes that parameter's default,
        # under which it was fitted: it predicted, but fit, partial_fit, get_params and clone
        # failed ('MLPClassifier' object has no attribute 'max_fun')
        parameters = inspect.signature(type(self).__init__).parameters.values()
        defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
        super().__setstate__({**defaults, **state})

    # ---- training -----------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Train on (X, y) until a stopping rule fires (see the class docstring).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (N, D)
        y : array-like of shape (N,)
            Class labels (any sortable type: ints, strings ...).
        sample_weight : array-like of shape (N,), optional
            Non-negative (a negative weight is refused; sklearn accepts it).
        validation_data : tuple (X_val, y_val), optional
            A held-out set scored after every epoch (history_ "val_loss", "val_score"); with
            early_stopping=True it replaces the validation_fraction split.

        Returns
        -------
        self

        Raises
        ------
        softgrad.errors.DivergenceError
            The training loss became NaN/inf or exploded (softgrad's rule, see the class
            Notes); the message states which.
        """
        return self._fit(X, y, sample_weight, validation_data, incremental=False, classes=None)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` (every label of the stream) is required at first."""
        # sklearn's _fit_context skips the parameter check for a fitted estimator's partial_fit
        # (sklearn then trains on what set_params left, alpha=-1 included): check it here
        self._validate_params()
        classes = _data.stream_classes(self, classes)
        return self._fit(X, y, sample_weight, None, incremental=True, classes=classes)

    def _fit(self, X, y, sample_weight, validation_data, incremental, classes):
        _params.check_callbacks(self.callbacks)
        if self.early_stopping and incremental:
            raise ValueError("MLPClassifier: partial_fit does not support early_stopping=True")
        self._adopt_assigned_weights()
        # a call refused while it takes in its data and sets up the network leaves no half-set
        # classes_, n_features_in_, network or optimizer (a first partial_fit refused for its y
        # had left classes_, so the next call, without classes, was taken for a later one); the
        # weights are trained only after the block, and the kept network is changed in place
        # only after every refusal of the call's data (_prepare)
        with unchanged_if_refused(self):
            prepared = self._prepare(X, y, sample_weight, validation_data, incremental, classes)
        train, val, random_state, batch_size, loss_dtype = prepared
        _training.train(self, train, val, random_state, batch_size, incremental, loss_dtype)
        return self

    def _prepare(self, X, y, sample_weight, validation_data, incremental, classes):
        """Check the call's data and set up the network: (train, val, random_state, batch_size,
        loss_dtype) for :func:`_training.train`."""
        hidden = _params.hidden_sizes(self.hidden_layer_sizes)
        first = "_model" not in vars(self) or (not self.warm_start and not incremental)
        dtype = _params.resolve_dtype(self.dtype) if first else self._dtype()
        _training.check_dtype_range(self, dtype)  # before anything is set up
        loss_dtype = _training.sklearn_dtype(X)
        # partial_fit's block is read once: not coded (check_X_y says why)
        X, y = _data.check_X_y(self, X, y, dtype, reset=first, code=not incremental)
        _data.set_classes(self, y, classes, first, incremental)
        y_idx = _data.encode_labels(y, self.classes_)
        w = _data.sample_weights(self, X, y, y_idx, self.classes_, sample_weight, incremental)
        # sklearn's random stream, consumed in sklearn's order (weights, split, shuffles): the
        # same random_state gives the same initial weights and batches as sklearn's MLP
        random_state = check_random_state(self.random_state)
        if first:
            _training.initialize(self, X.shape[1], hidden, dtype, random_state)
        train, val = _data.split(self, X, y_idx, w, validation_data, random_state, dtype)
        if not first:
            # after every refusal of the call's data: it changes the kept network in place
            # (a Dropout inserted, early stopping's best weights renamed), which a refusal
            # after it did not undo, and the next fit failed on the old names ('3.W')
            _network.apply_changed_parameters(self, hidden)
        if not incremental or "_optimizer" not in vars(self):
            self._optimizer = _training.make_optimizer(self)
            self._lr_settings = _training.lr_settings(self)
        _training.check_first_rate(self)
        n_train = train[0].shape[0]
        batch_size = _params.batch_size_for(self.batch_size, n_train)
        if self.batch_size != "auto" and self.batch_size > n_train:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                stacklevel=5,  # _prepare, _fit, fit, _fit_context, the caller
            )
        return train, val, random_state, batch_size, loss_dtype

    # ---- prediction -----------------------------------------------------------------------------
    def _logits(self, X) -> np.ndarray:
        """Logits: shape (N,) for two classes (> 0 means classes_[1]), else (N, C)."""
        check_is_fitted(self)
        self._adopt_assigned_weights()
        _network.use_activation(self._model, self.activation)  # as set now, as in sklearn
        X = _data.check_X(self, X, self._dtype(), reset=False)
        # a float X is cast and checked a batch at a time (_data.check_X), named as ours
        logits = predict_batches(self._model, X, INFERENCE_BATCH, where=type(self).__name__)
        self._model._clear_cache()  # the last batch, a view of X: not kept alive
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def _softmax_logits(self, X) -> np.ndarray:
        """(N, C) logits; two classes: [0, z], since softmax([0, z]) = [sigmoid(-z), sigmoid(z)]."""
        logits = self._logits(X)
        if logits.ndim == 1:
            return np.column_stack([np.zeros_like(logits), logits])
        return logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (N, C), columns in the order of classes_.

        Parameters
        ----------
        X : array_like or sparse matrix of shape (N, D)
            Features, as given to ``fit``.

        Returns
        -------
        probabilities : ndarray of shape (N, C), the network's dtype
            Rows sum to 1; two classes give [sigmoid(-z), sigmoid(z)] of the one logit z.

        Examples
        --------
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "yes", "yes"] * 5)  # the first feature decides
        >>> clf = MLPClassifier((4,), learning_rate_init=0.1, random_state=0).fit(X, y)
        >>> clf.predict_proba(X[:4]).round(1)
        array([[1., 0.],
               [1., 0.],
               [0., 1.],
               [0., 1.]], dtype=float32)
        """
        return F.softmax(self._softmax_logits(X), axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        """Log-probabilities from the logits (log-softmax): finite where probabilities are 0.

        Parameters
        ----------
        X : array_like or sparse matrix of shape (N, D)
            Features, as given to ``fit``.

        Returns
        -------
        log_probabilities : ndarray of shape (N, C), the network's dtype

        Examples
        --------
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "yes", "yes"] * 5)  # the first feature decides
        >>> clf = MLPClassifier((4,), learning_rate_init=0.1, random_state=0).fit(X, y)
        >>> logp = clf.predict_log_proba(X[:4])
        >>> logp.shape, bool(np.all(np.isfinite(logp) & (logp <= 0)))
        ((4, 2), True)
        """
        return F.log_softmax(self._softmax_logits(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """Most probable class label of each row, shape (N,).

        Parameters
        ----------
        X : array_like or sparse matrix of shape (N, D)
            Features, as given to ``fit``.

        Returns
        -------
        labels : ndarray of shape (N,)
            Entries of ``classes_``.

        Examples
        --------
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "yes", "yes"] * 5)  # the first feature decides
        >>> clf = MLPClassifier((4,), learning_rate_init=0.1, random_state=0).fit(X, y)
        >>> clf.predict(X[:4])
        array(['no', 'no', 'yes', 'yes'], dtype='<U3')
        """
        logits = self._logits(X)
        idx = (logits > 0).astype(np.intp) if logits.ndim == 1 else np.argmax(logits, axis=1)
        return self.classes_[idx]

    # ---- conversion -----------------------------------------------------------------------------
    @classmethod
    def from_sklearn(cls, mlp, **params) -> MLPClassifier:
        """A fitted softgrad estimator with the weights of a fitted sklearn MLPClassifier.

        Parameters
        ----------
        mlp : sklearn.neural_network.MLPClassifier
            Fitted.
        **params
            Settings that replace ``mlp``'s (``get_params``) in the new estimator.

        Returns
        -------
        MLPClassifier
            Predicting as ``mlp`` does, to float32's rounding.

        Examples
        --------
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "yes", "yes"] * 5)  # the first feature decides
        >>> clf = MLPClassifier((4,), learning_rate_init=0.1, random_state=0).fit(X, y)
        >>> back = MLPClassifier.from_sklearn(clf.to_sklearn())
        >>> bool(np.array_equal(back.predict_proba(X), clf.predict_proba(X)))
        True
        """
        from softgrad.sklearn.convert import from_sklearn

        return from_sklearn(cls, mlp, **params)

    def to_sklearn(self):
        """A fitted sklearn.neural_network.MLPClassifier with this estimator's weights.

        Returns
        -------
        sklearn.neural_network.MLPClassifier

        Examples
        --------
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "yes", "yes"] * 5)  # the first feature decides
        >>> clf = MLPClassifier((4,), learning_rate_init=0.1, random_state=0).fit(X, y)
        >>> sk = clf.to_sklearn()
        >>> type(sk).__name__, sk.predict(X[:4]).tolist()
        ('MLPClassifier', ['no', 'no', 'yes', 'yes'])
        """
        from softgrad.sklearn.convert import to_sklearn

        return to_sklearn(self)

    def to_model(self) -> Model:
        """This network as a :class:`softgrad.model.Model` (for ``save``, the CLI, ONNX).

        Returns
        -------
        Model
            With the estimator's classes; no scaler (the estimator scales nothing).

        Examples
        --------
        >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
        >>> y = np.array(["no", "no", "yes", "yes"] * 5)  # the first feature decides
        >>> clf = MLPClassifier((4,), learning_rate_init=0.1, random_state=0).fit(X, y)
        >>> clf.to_model()
        Model(n_features=2, n_classes=2, classes=['no', 'yes'], scaler=None, image_shape=None)
        """
        from softgrad.sklearn.convert import to_model

        return to_model(self)
