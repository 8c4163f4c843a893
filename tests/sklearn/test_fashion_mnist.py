"""On real Fashion-MNIST, softgrad's float32 estimator learns what sklearn's float64 one learns."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP

from softgrad.sklearn import MLPClassifier


def _root():
    # conftest's fashion_mnist_root() is not importable under importlib mode: same lookup here
    for folder in (os.environ.get("SOFTGRAD_DATA"), "/usr/share/datasets/fashion-mnist"):
        if folder and any(
            (Path(folder) / f"t10k-labels-idx1-ubyte{e}").exists() for e in ("", ".gz")
        ):
            return folder
    return None


@pytest.mark.slow
@pytest.mark.parametrize("solver, lr", [("sgd", 0.05), ("adam", 0.001)])
def test_same_accuracy_as_sklearn_on_fashion_mnist(solver, lr):
    from softgrad.datasets import load_fashion_mnist

    root = _root()
    if root is None:
        pytest.skip("Fashion-MNIST is not installed")
    X_train, y_train, X_test, y_test = load_fashion_mnist(root)
    X_train, y_train = X_train[:8000] / 255.0, y_train[:8000]
    X_test = X_test / 255.0
    params = dict(
        hidden_layer_sizes=(100,),
        batch_size=128,
        max_iter=3,
        solver=solver,
        learning_rate_init=lr,
        random_state=0,
    )
    with warnings.catch_warnings():
        # 3 epochs stop at max_iter on purpose (a short run): the warning is expected
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**params).fit(X_train, y_train)
        theirs = SkMLP(**params).fit(X_train, y_train)
    assert ours.coefs_[0].dtype == np.float32
    # same random_state: same initial weights and batches, float32 vs float64 arithmetic
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)  # measured: <= 2e-5
    assert abs(ours.score(X_test, y_test) - theirs.score(X_test, y_test)) < 0.005
