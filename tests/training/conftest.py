"""Small data sets and models shared by the training tests."""

from __future__ import annotations

import numpy as np
import pytest


def make_blobs(n_samples: int, n_features: int, n_classes: int, seed: int, spread: float = 1.0):
    """Gaussian blobs around random centres: float32 X (N, D), int y (N,)."""
    gen = np.random.default_rng(seed)
    centres = gen.normal(scale=3.0, size=(n_classes, n_features))
    y = gen.integers(0, n_classes, size=n_samples)
    X = centres[y] + spread * gen.normal(size=(n_samples, n_features))
    return X.astype(np.float32), y


@pytest.fixture
def blobs():
    """300 samples, 5 features, 3 classes (float32)."""
    return make_blobs(300, 5, 3, seed=7)


@pytest.fixture
def blobs_factory():
    return make_blobs


@pytest.fixture
def rows_read(monkeypatch):
    """The number of rows of each array that inference's finite check of the input read
    (the batch functions' check, and a Model's check of its raw rows)."""
    from softgrad import model_inputs
    from softgrad.training import inference_checks

    seen = []
    check = inference_checks.check_finite_rows

    def record(x, *args, **kwargs):
        seen.append(x.shape[0])
        return check(x, *args, **kwargs)

    monkeypatch.setattr(inference_checks, "check_finite_rows", record)
    monkeypatch.setattr(model_inputs, "check_finite_rows", record)
    return seen


@pytest.fixture
def trained_on(monkeypatch):
    """The X each epoch runner was built with, in call order: what ``fit`` made of its X."""
    from softgrad.training import epoch_runner

    seen = []
    real = epoch_runner.EpochRunner.__init__

    def spy(self, model, loss, optimizer, X, *args, **kwargs):
        seen.append(X)
        return real(self, model, loss, optimizer, X, *args, **kwargs)

    monkeypatch.setattr(epoch_runner.EpochRunner, "__init__", spy)
    return seen


def _train_64_features(X, y, dtype, optimizer, **kwargs):
    """A 64-16-10 MLP of ``dtype`` fitted 3 epochs on (X, y), batches of 64, seed 2:
    ``(model, history)``."""
    from softgrad.nn import CrossEntropyLoss, build_mlp
    from softgrad.training import fit

    model = build_mlp(64, [16], 10, rng=0, dtype=dtype)
    history = fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=3, batch_size=64, rng=2,
                  **kwargs)  # fmt: skip
    return model, history


@pytest.fixture
def train_64():
    """``train_64(X, y, dtype, optimizer, **fit_kwargs)``: see :func:`_train_64_features`."""
    return _train_64_features


def _assert_same_training(a, history_a, b, history_b) -> None:
    """Two trainings' weights and histories, bit for bit."""
    for (name, w_a), w_b in zip(a.named_params().items(), b.named_params().values(), strict=True):
        np.testing.assert_array_equal(w_a, w_b, err_msg=name)
    assert history_a.train_loss == history_b.train_loss
    assert history_a.val_loss == history_b.val_loss and history_a.val_acc == history_b.val_acc


@pytest.fixture
def assert_same_training():
    """``assert_same_training(model_a, history_a, model_b, history_b)``: bit for bit."""
    return _assert_same_training
