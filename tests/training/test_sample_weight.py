"""sample_weight: each batch minimises sum(w_i l_i) / sum(w_i) (scikit-learn's MLP rule)."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, Linear, Sequential, build_mlp
from softgrad.optim import SGD
from softgrad.training import fit


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_one_full_batch_step_matches_the_hand_computation():
    gen = np.random.default_rng(0)
    X = gen.normal(size=(6, 3))
    y = np.array([0, 1, 2, 1, 0, 2])
    w = np.array([1.0, 0.5, 2.0, 0.0, 3.0, 1.5])
    model = Sequential(Linear(3, 3, rng=1, dtype=np.float64))
    W0 = model.layers[0].params["W"].copy()
    b0 = model.layers[0].params["b"].copy()
    history = fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X,
        y,
        epochs=1,
        batch_size=6,
        shuffle=False,
        sample_weight=w,
    )
    # by hand: l_i = -log softmax(x_i W + b)[y_i]; L = sum(w l) / sum(w)
    s = _softmax(X @ W0 + b0)
    losses = -np.log(s[np.arange(6), y])
    expected_loss = np.sum(w * losses) / np.sum(w)
    # dL/dlogits_i = w_i (s_i - onehot_i) / sum(w)
    g = (s - np.eye(3)[y]) * (w / w.sum())[:, None]
    np.testing.assert_allclose(history.train_loss[0], expected_loss, rtol=1e-12)
    np.testing.assert_allclose(model.layers[0].params["W"], W0 - 0.1 * X.T @ g, rtol=1e-12)
    np.testing.assert_allclose(model.layers[0].params["b"], b0 - 0.1 * g.sum(axis=0), rtol=1e-12)
    hits = (s.argmax(axis=1) == y).astype(float)
    np.testing.assert_allclose(history.train_acc[0], np.sum(w * hits) / w.sum(), rtol=1e-12)


def test_zero_weights_equal_dropping_the_samples(blobs):
    X, y = blobs
    w = np.ones(len(X))
    w[::3] = 0.0
    keep = w > 0

    def run(X, y, sample_weight):
        model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
        history = fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.2, momentum=0.9),
            X,
            y,
            epochs=5,
            batch_size=len(X),
            rng=0,
            sample_weight=sample_weight,
        )
        return model, history

    model_w, history_w = run(X.astype(np.float64), y, w)
    model_d, history_d = run(X[keep].astype(np.float64), y[keep], None)
    np.testing.assert_allclose(history_w.train_loss, history_d.train_loss, rtol=1e-12)
    np.testing.assert_allclose(history_w.train_acc, history_d.train_acc, rtol=1e-12)
    for name, value in model_w.named_params().items():
        np.testing.assert_allclose(value, model_d.named_params()[name], rtol=1e-10, atol=1e-12)


def test_integer_weights_equal_repeating_the_samples(blobs):
    X, y = blobs
    X = X[:60].astype(np.float64)
    y = y[:60]
    w = np.arange(60) % 3  # 0, 1 or 2 copies

    def run(X, y, sample_weight):
        model = build_mlp(5, [8], 3, rng=0, dtype=np.float64)
        fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.2),
            X,
            y,
            epochs=3,
            batch_size=len(X),
            rng=0,
            sample_weight=sample_weight,
        )
        return model

    model_w = run(X, y, w)
    model_r = run(np.repeat(X, w, axis=0), np.repeat(y, w), None)
    for name, value in model_w.named_params().items():
        np.testing.assert_allclose(value, model_r.named_params()[name], rtol=1e-10, atol=1e-12)


# 3e38: 300 of them overflow a float32 sum, which the check's own sum warned of (an error
# under filterwarnings = error); each weight fits float32, and the loop sums in float64
@pytest.mark.parametrize("weight", [2.5, 3e38])
def test_uniform_weights_change_nothing(blobs, weight):
    X, y = blobs

    def run(sample_weight):
        model = build_mlp(5, [8], 3, rng=0)
        history = fit(
            model,
            CrossEntropyLoss(),
            SGD(lr=0.1),
            X,
            y,
            epochs=2,
            batch_size=40,
            rng=0,
            sample_weight=sample_weight,
        )
        return model, history

    model_a, history_a = run(None)
    model_b, history_b = run(np.full(len(X), weight))
    np.testing.assert_allclose(history_a.train_loss, history_b.train_loss, rtol=1e-6)
    for name, value in model_a.named_params().items():
        np.testing.assert_allclose(value, model_b.named_params()[name], rtol=1e-5, atol=1e-6)


def test_a_batch_of_zero_weights_is_skipped():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
    y = np.array([0, 1, 0, 1])
    model = Sequential(Linear(2, 2, rng=0, dtype=np.float64))
    before = model.layers[0].params["W"].copy()
    # first batch (rows 0, 1) has zero weight: no step; second batch steps
    history = fit(
        model,
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X,
        y,
        epochs=1,
        batch_size=2,
        shuffle=False,
        sample_weight=np.array([0.0, 0.0, 1.0, 1.0]),
    )
    reference = Sequential(Linear(2, 2, rng=0, dtype=np.float64))
    fit(
        reference,
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X[2:],
        y[2:],
        epochs=1,
        batch_size=2,
        shuffle=False,
    )
    assert not np.array_equal(model.layers[0].params["W"], before)
    np.testing.assert_array_equal(model.layers[0].params["W"], reference.layers[0].params["W"])
    assert np.isfinite(history.train_loss[0])


def test_the_validation_split_carries_its_weights(blobs):
    X, y = blobs
    w = np.where(y == 0, 0.0, 1.0)
    history = fit(
        build_mlp(5, [8], 3, rng=0),
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X,
        y,
        epochs=1,
        rng=0,
        validation_fraction=0.3,
        sample_weight=w,
    )
    assert np.isfinite(history.val_loss[0])


@pytest.mark.parametrize("bad", [[-1.0], [np.nan], [np.inf]])
def test_invalid_weights_are_rejected(blobs, bad):
    X, y = blobs
    w = np.ones(len(X))
    w[5] = bad[0]
    with pytest.raises(ValueError, match="sample_weight must be finite, >= 0"):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y, sample_weight=w)


def test_weights_as_strings_are_a_type_error(blobs):
    # np.asarray(["1", ...]).astype(float32) turned text into weights
    X, y = blobs
    w = np.array(["1"] * len(X))
    with pytest.raises(TypeError, match=r"^fit: sample_weight must hold real numbers; got dtype"):
        fit(build_mlp(5, [4], 3, rng=0), CrossEntropyLoss(), SGD(), X, y, sample_weight=w)


@pytest.mark.parametrize(("seed", "side"), [(0, "validation"), (1, "training")])
def test_a_validation_split_that_leaves_a_side_weighing_zero_is_refused(seed, side):
    # one sample of 40 weighs more than 0: the split puts it on one side, and the other side's
    # figures divide by 0 (the validation's was a ZeroDivisionError, the training loss NaN
    # every epoch with no step taken)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    w = np.zeros(40)
    w[0] = 1.0
    with pytest.raises(ValueError, match=rf"^fit: sample_weight must not be all 0 in the {side}"):
        fit(
            build_mlp(3, [4], 2, rng=0, dtype=np.float64),
            CrossEntropyLoss(),
            SGD(lr=0.1),
            X,
            y,
            sample_weight=w,
            validation_fraction=0.5,
            epochs=1,
            rng=seed,
        )


def test_validation_weights_are_checked_by_their_own_name(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match=r"^fit: sample_weight_val must be finite, >= 0 and not"):
        fit(
            build_mlp(5, [4], 3, rng=0),
            CrossEntropyLoss(),
            SGD(),
            X,
            y,
            validation_data=(X[:10], y[:10], np.zeros(10)),
        )
