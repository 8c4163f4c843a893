"""The validation loss is on the training loss's scale: scored on the training set with lr 0, the
two figures agree, for a loss with class weights or ignore_index too (its mean divides by the
targets' class weights, not by the count)."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, LogisticLoss, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit

CLASS_WEIGHTS = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("loss", "weighted"),
    [
        (CrossEntropyLoss(), False),
        (CrossEntropyLoss(label_smoothing=0.2), False),
        (CrossEntropyLoss(reduction="sum"), False),
        # a sum is reported per sample (or unit of weight) in training: so is its validation
        (CrossEntropyLoss(reduction="sum", ignore_index=0), False),
        (CrossEntropyLoss(reduction="sum", weight=CLASS_WEIGHTS), True),
        (CrossEntropyLoss(reduction="sum", weight=CLASS_WEIGHTS, ignore_index=2), False),
        (CrossEntropyLoss(weight=CLASS_WEIGHTS), True),
        (CrossEntropyLoss(ignore_index=0), True),
        (CrossEntropyLoss(weight=CLASS_WEIGHTS), False),
        (CrossEntropyLoss(ignore_index=0), False),
        (CrossEntropyLoss(weight=CLASS_WEIGHTS, label_smoothing=0.1), False),
        (LogisticLoss(label_smoothing=0.2), False),
    ],
)
def test_the_validation_loss_on_the_training_set_is_the_training_loss(loss, weighted):
    """lr 0 and one full batch: both figures score the same weights on the same samples."""
    generator = np.random.default_rng(0)
    X = generator.normal(size=(40, 3))
    n_outputs = 1 if isinstance(loss, LogisticLoss) else 3
    y = generator.integers(0, max(2, n_outputs), size=40)
    w = generator.random(40) if weighted else None
    model = build_mlp(3, [4], n_outputs, rng=0, dtype=np.float64)
    history = fit(
        model, loss, SGD(lr=0.0), X, y, epochs=1, batch_size=40, sample_weight=w,
        validation_data=(X, y) if w is None else (X, y, w),
    )  # fmt: skip
    # float64: two orders of a sum of 40 terms
    np.testing.assert_allclose(history.val_loss, history.train_loss, rtol=40 * 2.0**-52)
    np.testing.assert_allclose(history.val_acc, history.train_acc, rtol=40 * 2.0**-52)


def test_with_class_weights_both_losses_divide_by_the_targets_class_weights():
    # the validation loss divided the same class-weighted sum by the count (40), where the
    # training loss divides by sum(cw[y]) (80): train 1.187 against validation 2.345
    generator = np.random.default_rng(0)
    X, y = generator.normal(size=(40, 3)), generator.integers(0, 3, size=40)
    model = build_mlp(3, [4], 3, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(weight=CLASS_WEIGHTS)
    history = fit(model, loss, SGD(lr=0.0), X, y, epochs=1, batch_size=40, validation_data=(X, y))
    total = float(loss.forward(model.forward(X), y)) * CLASS_WEIGHTS[y].sum()
    np.testing.assert_allclose(history.train_loss[0] * CLASS_WEIGHTS[y].sum(), total, rtol=1e-14)
    # float64: two orders of a sum of 40 terms
    np.testing.assert_allclose(
        history.val_loss[0] * CLASS_WEIGHTS[y].sum(), total, rtol=40 * 2.0**-52
    )


def test_validation_targets_all_ignored_score_a_loss_of_0_as_the_losss_own_mean_does():
    generator = np.random.default_rng(1)
    X = generator.normal(size=(10, 3))
    model = build_mlp(3, [4], 3, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(ignore_index=2)
    y = generator.integers(0, 2, size=10)
    history = fit(
        model, loss, SGD(lr=0.0), X, y, epochs=1, batch_size=10,
        validation_data=(X[:4], np.full(4, 2)),
    )  # fmt: skip
    assert (
        history.val_loss == [0.0]
        and float(loss.forward(model.forward(X[:4]), np.full(4, 2))) == 0.0
    )
