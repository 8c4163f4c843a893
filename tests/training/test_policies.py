"""fit's policies for scikit-learn's rules: L2 penalty, logistic outputs, batch order, sparse
input, the no-improvement stopping rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from scipy.special import log_softmax
from sklearn.utils import shuffle as sk_shuffle

from softgrad.nn import CrossEntropyLoss, Linear, LogisticLoss, Sequential, Tanh
from softgrad.optim import SGD
from softgrad.training import NoImprovementStopping, ReshuffleEachEpoch, TrainState, evaluate, fit


def _net(rng, n_out):
    f64 = np.float64
    return Sequential(
        Linear(4, 5, rng=rng, dtype=f64), Tanh(), Linear(5, n_out, rng=rng, dtype=f64)
    )


def _objective(net, X, y, weight, alpha, n_out):
    """The documented batch objective, written independently: (w @ l + alpha/2 ||W||^2) / sum(w)."""
    z = net.forward(X)
    if n_out == 1:  # logistic output: softmax over [0, z]
        z = np.hstack([np.zeros_like(z), z])
    losses = -log_softmax(z, axis=1)[np.arange(len(y)), y]
    squares = sum(float((p**2).sum()) for k, p in net.named_params().items() if k.endswith("W"))
    return (weight @ losses + 0.5 * alpha * squares) / weight.sum()


@pytest.mark.parametrize("n_out", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_objective_gradient_matches_central_differences(rng, n_out, weighted):
    # one full-batch SGD step with lr = 1 moves the parameters by exactly minus the gradient
    X = rng.normal(size=(9, 4))
    y = rng.integers(0, 2 if n_out == 1 else n_out, size=9)
    w = rng.uniform(0.1, 2.0, size=9) if weighted else np.ones(9)
    net = _net(rng, n_out)
    before = {k: v.copy() for k, v in net.named_params().items()}
    loss = LogisticLoss() if n_out == 1 else CrossEntropyLoss()
    alpha = 0.3
    history = fit(
        net, loss, SGD(lr=1.0), X, y, epochs=1, batch_size=9, shuffle=False,
        sample_weight=w if weighted else None, l2_penalty=alpha,
    )  # fmt: skip
    analytic = {k: before[k] - v for k, v in net.named_params().items()}
    for key, value in before.items():
        np.copyto(net.named_params()[key], value)
    assert history.train_loss[0] == pytest.approx(_objective(net, X, y, w, alpha, n_out), 1e-12)
    h = 1e-6
    for key, param in net.named_params().items():
        numeric = np.empty_like(param)
        for j in np.ndindex(param.shape):
            saved = param[j]
            param[j] = saved + h
            up = _objective(net, X, y, w, alpha, n_out)
            param[j] = saved - h
            down = _objective(net, X, y, w, alpha, n_out)
            param[j] = saved
            numeric[j] = (up - down) / (2 * h)
        np.testing.assert_allclose(analytic[key], numeric, rtol=1e-6, atol=1e-9, err_msg=key)


def test_a_logistic_output_predicts_class_one_where_the_logit_is_positive(rng):
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    net = _net(rng, 1)
    history = fit(net, LogisticLoss(), SGD(lr=0.5), X, y, epochs=30, batch_size=20, rng=0)
    logits = net.forward(X)[:, 0]
    accuracy = np.mean((logits > 0) == y)
    assert history.train_acc[-1] > 0.9
    assert evaluate(net, X, y, LogisticLoss())[1] == pytest.approx(accuracy)


def test_reshuffle_each_epoch_is_sklearns_order():
    policy = ReshuffleEachEpoch(np.random.RandomState(7))
    reference_state, sample_idx = np.random.RandomState(7), np.arange(10)
    for _ in range(4):  # sklearn's MLP: sample_idx = shuffle(sample_idx, random_state=...)
        sample_idx = sk_shuffle(sample_idx, random_state=reference_state)
        np.testing.assert_array_equal(policy.order(np.arange(10), None), sample_idx)


def test_resume_with_reshuffle_order_is_bit_identical(tmp_path, blobs):
    X, y = blobs

    def run(epochs, **kwargs):
        net = Sequential(Linear(5, 8, rng=0), Tanh(), Linear(8, 3, rng=1))
        order = ReshuffleEachEpoch(np.random.RandomState(3))
        fit(net, CrossEntropyLoss(), SGD(lr=0.1, momentum=0.9), X, y, epochs=epochs,
            batch_size=32, shuffle=order, **kwargs)  # fmt: skip
        return net

    straight = run(4)
    run(2, checkpoint=tmp_path / "run.npz")
    resumed = run(4, resume=tmp_path / "run.npz")
    for key, value in straight.named_params().items():
        assert np.array_equal(value, resumed.named_params()[key]), key


@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_on_csr_input_equals_dense(blobs, shuffle):
    X, y = blobs
    X = np.where(np.abs(X) < 1.0, 0.0, X).astype(np.float32)
    results = []
    for data in (X, sparse.csr_matrix(X)):
        net = Sequential(Linear(5, 8, rng=0), Tanh(), Linear(8, 3, rng=1))
        history = fit(net, CrossEntropyLoss(), SGD(lr=0.1), data, y, epochs=2, batch_size=64,
                      rng=0, shuffle=shuffle, validation_data=(data[:50], y[:50]))  # fmt: skip
        results.append((history, net))
    (dense_h, dense), (csr_h, csr) = results
    assert csr_h.train_loss == dense_h.train_loss and csr_h.val_loss == dense_h.val_loss
    for key, value in dense.named_params().items():
        assert np.array_equal(value, csr.named_params()[key]), key


def test_fit_refuses_a_csr_matrix_whose_column_index_is_out_of_range(blobs):
    # the compiled batch gather trusts every column index: checked once, before training
    X, y = blobs
    X = sparse.csr_matrix(np.where(np.abs(X) < 1.0, 0.0, X).astype(np.float32))
    X.indices[3] = 5  # the matrix has 5 columns
    net = Sequential(Linear(5, 8, rng=0), Tanh(), Linear(8, 3, rng=1))
    before = {key: value.copy() for key, value in net.named_params().items()}
    with pytest.raises(
        ValueError,
        match=r"^fit: X must be a valid CSR matrix; got one SciPy's check refuses \(indices",
    ):
        fit(net, CrossEntropyLoss(), SGD(lr=0.1), X, y, epochs=1, batch_size=64, rng=0)
    for key, value in net.named_params().items():
        assert np.array_equal(value, before[key]), key


def test_no_improvement_stopping_divides_the_rate_by_five_then_stops():
    opt = SGD(lr=1e-5, momentum=0.9, lr_in_velocity=True)
    rule = NoImprovementStopping(tol=10.0, n_iter_no_change=1, adaptive_lr=True)
    state = TrainState(optimizer=opt)
    stops, rates = [], []
    for _ in range(7):
        state.logs = {"train_loss": 1.0}
        stops.append(rule.on_epoch_end(state))
        rates.append(opt.lr)
    # epoch 1 sets best; counts 1, 2 (> 1) -> 1e-5 / 5 = 2e-6 and the count resets; 1, 2 ->
    # 4e-7; 1, 2 -> the rate is <= 1e-6: stop
    assert stops == [False] * 6 + [True]
    np.testing.assert_allclose(rates, [1e-5, 1e-5, 2e-6, 2e-6, 4e-7, 4e-7, 4e-7])
    assert rule.message.endswith("Learning rate too small. Stopping.")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        # NaN: no epoch ever counted as stalled, so training never stopped
        (
            {"tol": math.nan},
            ValueError,
            r"^NoImprovementStopping: tol must be a real >= 0; got nan$",
        ),
        ({"tol": -0.1}, ValueError, r"^NoImprovementStopping: tol must be a real >= 0; got -0.1$"),
        (
            {"tol": "0.1"},
            TypeError,
            r"^NoImprovementStopping: tol must be a real number; got '0.1'$",
        ),
        (
            {"n_iter_no_change": True},
            ValueError,
            r"n_iter_no_change must be a real >= 1; got True$",
        ),
    ],
)
def test_no_improvement_stopping_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        NoImprovementStopping(**{"tol": 1e-4, "n_iter_no_change": 10, **kwargs})


def test_no_improvement_stopping_keeps_the_best_validation_weights():
    net = Sequential(Linear(2, 2, rng=0))
    rule = NoImprovementStopping(tol=0.0, n_iter_no_change=np.inf, monitor="val_acc", mode="max")
    state = TrainState(model=net)
    for epoch, score in enumerate([0.5, 0.8, 0.7]):
        net.named_params()["0.W"][...] = epoch
        state.logs = {"val_acc": score}
        assert rule.on_epoch_end(state) is False
    rule.on_train_end(state)
    assert rule.best == 0.8 and np.all(net.named_params()["0.W"] == 1)
