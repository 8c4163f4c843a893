"""The estimator's epochs take the training loop's fast steps: a fit without sample weights
(multiclass, or binary on one logistic output) runs its full batches as trusted steps
(softgrad.training.trusted_step), and with solver="sgd" folds their gradients into the update
(softgrad.training.folded_step), although its loss is capped (scikit-learn's reported loss,
``max_sample_loss``) and penalized (alpha). A capped loss once kept every one of its steps
checked, and a logistic output had no bound step at all, which no result showed."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from softgrad.sklearn import MLPClassifier
from softgrad.training import trusted_step
from softgrad.training.folded_step import GradientFold


@pytest.fixture
def counts(monkeypatch):
    """{"trusted": trusted steps run, "folded": folded ones} so far."""
    seen = {"trusted": 0, "folded": 0}
    real_call, real_fold = trusted_step.TrustedStep.__call__, GradientFold.step

    def trusted(self, idx, batch):
        seen["trusted"] += 1
        return real_call(self, idx, batch)

    def folded(self, turn):
        seen["folded"] += 1
        return real_fold(self, turn)

    monkeypatch.setattr(trusted_step.TrustedStep, "__call__", trusted)
    monkeypatch.setattr(GradientFold, "step", folded)
    return seen


@pytest.mark.parametrize("n_classes", [3, 2])  # 2: one logistic output, as scikit-learn's
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_fit_takes_the_trusted_steps(solver, n_classes, counts):
    rng = np.random.default_rng(7)
    y = rng.integers(0, n_classes, size=300)  # 9 full batches of 32 and a short one per epoch
    X = rng.normal(scale=3.0, size=(n_classes, 5))[y] + rng.normal(size=(300, 5))
    estimator = MLPClassifier(
        hidden_layer_sizes=(16,), solver=solver, batch_size=32, max_iter=2, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 2 epochs stop at max_iter
        estimator.fit(X, y)
    assert estimator.n_iter_ == 2
    # each epoch: batch 1 checked (it binds), 2-9 trusted; SGD folds all but the last full one
    assert counts["trusted"] == 2 * 8
    assert counts["folded"] == (2 * 7 if solver == "sgd" else 0)
