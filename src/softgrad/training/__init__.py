"""Training: the mini-batch loop, its history and callbacks, checkpoints, batched inference.

:func:`fit` trains a model and returns a :class:`History`; it reports progress only through
callbacks (:class:`Callback`, which see a :class:`TrainState`), so the CLI draws a progress bar
and the estimator prints its verbose lines without the loop printing anything.
:func:`evaluate`, :func:`predict_logits` and :func:`predict_proba` run in batches in eval mode.
Policies a caller plugs in: the batch order (``shuffle=``: :class:`ReshuffleEachEpoch` is
scikit-learn's) and scikit-learn's stopping rule (:class:`NoImprovementStopping`), as
callbacks.
"""

from softgrad.training.batch_order import InOrder, PermuteEachEpoch, ReshuffleEachEpoch
from softgrad.training.callbacks import BatchSizeMeanLoss, Callback, TrainState
from softgrad.training.early_stopping import EarlyStopping, NoImprovementStopping
from softgrad.training.evaluation import evaluate
from softgrad.training.fit import fit
from softgrad.training.history import History
from softgrad.training.predict import predict_logits, predict_proba

__all__ = [
    "BatchSizeMeanLoss",
    "Callback",
    "EarlyStopping",
    "History",
    "InOrder",
    "NoImprovementStopping",
    "PermuteEachEpoch",
    "ReshuffleEachEpoch",
    "TrainState",
    "evaluate",
    "fit",
    "predict_logits",
    "predict_proba",
]
