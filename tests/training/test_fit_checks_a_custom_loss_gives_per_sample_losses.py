"""A loss of the user's own, written to fit's contract (forward(logits, target) -> float,
backward() -> grad_logits), is read sample by sample for the validation figures and for
sample weights, through a copy with reduction "none". One without a ``reduction`` attribute
trained a whole epoch before the validation refused it, "to weight samples" when no sample was
weighted; one whose forward ignores reduction gave its batch mean, summed as N losses and
divided by N: a validation loss N times too small, silently."""

import numpy as np
import pytest

from softgrad.nn import Linear, ReLU, Sequential
from softgrad.optim import SGD
from softgrad.training import Callback, evaluate, fit

N, D, C = 32, 4, 3


class _SquaredError:
    """Mean squared error against the one-hot targets; no ``reduction``."""

    def forward(self, logits, target):
        self._d = logits - np.eye(logits.shape[1], dtype=logits.dtype)[target]
        return float((self._d**2).sum() / len(target))

    def backward(self, grad_y=None):
        return (2 * self._d / len(self._d)).astype(self._d.dtype)


class _SquaredErrorIgnoringReduction(_SquaredError):
    """Has ``reduction``, but its forward returns the batch mean whatever it says."""

    reduction = "mean"


class _SquaredErrorPerSample(_SquaredError):
    """Honours ``reduction``: one loss per sample with "none"."""

    reduction = "mean"
    honour_none = True

    def forward(self, logits, target):
        mean = super().forward(logits, target)
        if self.reduction == "none" and self.honour_none:
            return (self._d**2).sum(axis=1)
        return mean

    def backward(self, grad_y=None):
        grad = super().backward()
        if self.reduction == "none" and self.honour_none:  # d/dlogits of sum(grad_y * l)
            return (2 * self._d * np.asarray(grad_y)[:, None]).astype(self._d.dtype)
        return grad


class _Trained(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, state):
        self.epochs += 1


def _data():
    generator = np.random.default_rng(0)
    X = generator.normal(size=(N, D))
    return X, generator.integers(0, C, size=N)


def _model():
    return Sequential(
        Linear(D, 5, rng=1, dtype=np.float64), ReLU(), Linear(5, C, rng=2, dtype=np.float64)
    )


NEEDS = {
    "validation_data": lambda X, y: {"validation_data": (X, y)},
    "validation_fraction": lambda X, y: {"validation_fraction": 0.25},
    "sample_weight": lambda X, y: {"sample_weight": np.ones(N)},
}


@pytest.mark.parametrize(
    ("loss", "said"),
    [
        (
            _SquaredError,
            r"fit: loss must have a 'reduction' attribute to give one loss per sample \({} "
            r"needs them\); got _SquaredError without one \(add reduction = 'mean', and have "
            r"forward return one loss per sample when it is 'none'\)",
        ),
        (
            _SquaredErrorIgnoringReduction,
            r"fit: _SquaredErrorIgnoringReduction.forward must return one loss per sample, of "
            r"shape \(2,\), when its reduction is 'none' \({} needs them\); got shape \(\) "
            r"\(one number: a forward that ignores reduction\)",
        ),
    ],
    ids=["no-reduction", "reduction-ignored"],
)
@pytest.mark.parametrize("need", NEEDS)
def test_fit_refuses_a_loss_without_per_sample_losses_before_training(loss, said, need):
    X, y = _data()
    model, trained = _model(), _Trained()
    before = {name: value.copy() for name, value in model.named_params().items()}
    with pytest.raises(TypeError, match=said.format(need)):
        fit(model, loss(), SGD(lr=0.1), X, y, epochs=2, batch_size=8, callbacks=[trained],
            **NEEDS[need](X, y))  # fmt: skip
    assert trained.epochs == 0
    for name, value in model.named_params().items():
        assert np.array_equal(value, before[name]), name


def test_fit_trains_a_loss_without_reduction_where_nothing_reads_it_per_sample():
    X, y = _data()
    history = fit(_model(), _SquaredError(), SGD(lr=0.1), X, y, epochs=2, batch_size=8)
    assert history.epochs == 2 and np.all(np.isfinite(history.train_loss))


def test_the_validation_loss_of_a_per_sample_loss_is_its_mean():
    # lr 0, one full batch, validated on the training set: the validation loss is the loss's
    # own mean on the same weights, not that mean over N
    X, y = _data()
    model = _model()
    history = fit(model, _SquaredErrorPerSample(), SGD(lr=0.0), X, y, epochs=1, batch_size=N,
                  validation_data=(X, y))  # fmt: skip
    expected = _SquaredError().forward(model.forward(X), y)
    assert history.val_loss[-1] == pytest.approx(expected, rel=1e-12), (history.val_loss, expected)
    assert history.train_loss[-1] == pytest.approx(expected, rel=1e-12)


def test_evaluate_refuses_a_loss_that_returns_one_number_for_reduction_none():
    X, y = _data()
    with pytest.raises(
        TypeError,
        match=r"evaluate: _SquaredErrorIgnoringReduction.forward must return one loss per "
        rf"sample, of shape \({N},\), when its reduction is 'none'; got shape \(\)",
    ):
        evaluate(_model(), X, y, loss=_SquaredErrorIgnoringReduction())


class _StopHonouringNone(Callback):
    """Makes the loss ignore reduction after fit's checks, before the first batch."""

    def __init__(self, loss):
        self.loss = loss

    def on_train_begin(self, state):
        self.loss.honour_none = False


@pytest.mark.parametrize("need", ["validation_data", "sample_weight"])
def test_per_sample_losses_are_checked_where_fit_reads_them(need):
    # past the check before training (a loss changed by a callback): the weighted step and
    # the validation check the shape they read
    X, y = _data()
    loss = _SquaredErrorPerSample()
    shape = 8 if need == "sample_weight" else N
    # the weighted step is fit's; the validation losses are read by evaluate, which fit calls
    where = "fit" if need == "sample_weight" else "evaluate"
    with pytest.raises(
        TypeError,
        match=rf"^{where}: _SquaredErrorPerSample.forward must return one loss per "
        rf"sample, of shape \({shape},\), when its reduction is 'none'; got shape \(\)",
    ):
        fit(_model(), loss, SGD(lr=0.1), X, y, epochs=1, batch_size=8,
            callbacks=[_StopHonouringNone(loss)], **NEEDS[need](X, y))  # fmt: skip
