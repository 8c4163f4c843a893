"""The validation loss averages the per-sample losses over the samples; the training loss is the
loss layer's own mean. They differ in scale for a loss with class weights or ignore_index, as
fit's docstring says (validation_data), and only there."""

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
        (CrossEntropyLoss(weight=CLASS_WEIGHTS), True),
        (CrossEntropyLoss(ignore_index=0), True),
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


def test_with_class_weights_the_training_loss_divides_by_them_the_validation_loss_by_the_count():
    generator = np.random.default_rng(0)
    X, y = generator.normal(size=(40, 3)), generator.integers(0, 3, size=40)
    model = build_mlp(3, [4], 3, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(weight=CLASS_WEIGHTS)
    history = fit(model, loss, SGD(lr=0.0), X, y, epochs=1, batch_size=40, validation_data=(X, y))
    # both sum the class-weighted losses; the training mean divides by sum(cw[y]), 40 < 80
    total = float(loss.forward(model.forward(X), y)) * CLASS_WEIGHTS[y].sum()
    np.testing.assert_allclose(history.train_loss[0] * CLASS_WEIGHTS[y].sum(), total, rtol=1e-14)
    np.testing.assert_allclose(history.val_loss[0] * len(y), total, rtol=40 * 2.0**-52)
