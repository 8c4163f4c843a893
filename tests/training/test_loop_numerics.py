"""The optimised batch loop (preallocated buffers, np.take(out=, mode="clip"), no input gradient
for the first layer, running sums, activations in place, one flat optimizer update over the
packed parameters, BLAS axpy/scal) computes what a plain textbook loop computes: layer by layer,
fresh arrays, one optimizer update per parameter array."""

import math

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import fit


def _forward(model, x):
    for layer in model.layers:  # public calls one by one: nothing in place
        x = layer.forward(x)
    return x


def _backward(model, grad):
    for layer in reversed(model.layers):
        grad = layer.backward(grad)


def _naive_fit(
    model, loss, optimizer, X, y, epochs, batch_size, seed, sample_weight=None, one_call=False
):
    """Fancy indexing, fresh arrays, full backward, plain dicts (the optimizer's per-array
    path); same permutation stream as fit. The loss is forward then backward, or with
    ``one_call`` (no weights) fit's own call, ``forward_backward``."""
    gen = np.random.default_rng(seed)
    losses, accs = [], []
    for _ in range(epochs):
        order = np.arange(len(X))[gen.permutation(len(X))]
        total = hits = weight_total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = X[idx], y[idx]
            logits = _forward(model, xb)
            if one_call:
                batch_loss, grad, _ = loss.forward_backward(logits, yb)
                w = np.ones(len(idx))
            elif sample_weight is None:
                batch_loss = loss.forward(logits, yb)
                grad = loss.backward()
                w = np.ones(len(idx))
            else:
                w = sample_weight[idx]
                per_sample = CrossEntropyLoss(reduction="none")
                batch_loss = float(np.sum(w * per_sample.forward(logits, yb)) / w.sum())
                grad = per_sample.backward((w / w.sum()).astype(logits.dtype))
            _backward(model, grad)
            optimizer.step(dict(model.named_params()), dict(model.named_grads()))
            total += batch_loss * w.sum()
            hits += float(np.sum(w * (logits.argmax(axis=1) == yb)))
            weight_total += w.sum()
        losses.append(total / weight_total)
        accs.append(hits / weight_total)
    return losses, accs


@pytest.mark.parametrize("make_optimizer", [lambda: SGD(lr=0.1, momentum=0.9), lambda: Adam(1e-2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_matches_the_naive_loop(blobs, make_optimizer, weighted):
    X, y = blobs
    w = np.random.default_rng(1).uniform(0.0, 2.0, size=len(X)) if weighted else None
    model_fast = build_mlp(5, [16, 8], 3, rng=2)
    model_naive = build_mlp(5, [16, 8], 3, rng=2)
    history = fit(
        model_fast,
        CrossEntropyLoss(),
        make_optimizer(),
        X,
        y,
        epochs=3,
        batch_size=64,
        rng=5,
        sample_weight=w,
    )  # 300 = 4 * 64 + 44: a short batch
    losses, accs = _naive_fit(
        model_naive,
        CrossEntropyLoss(),
        make_optimizer(),
        X,
        y,
        3,
        64,
        5,
        sample_weight=None if w is None else w.astype(np.float32),
    )
    # two orders of computation in float32 over 15 steps (3 epochs of 5 batches), products of
    # at most 16 terms: a few roundings apart a step, about 100 epsilons by the end
    tol = 100 * np.finfo(np.float32).eps
    np.testing.assert_allclose(history.train_loss, losses, rtol=tol)
    np.testing.assert_allclose(history.train_acc, accs, rtol=1e-6)  # counts: the same rows right
    for name, value in model_fast.named_params().items():
        assert value.dtype == np.float32
        np.testing.assert_allclose(
            value, model_naive.named_params()[name], rtol=tol, atol=tol / 10, err_msg=name
        )


@pytest.mark.parametrize("fold", [False, True], ids=["unfolded", "folded"])
def test_unweighted_loop_is_bit_identical_to_the_naive_loop(fold, blobs):
    # without sample weights, and with the loss's one call (forward_backward: its loss and
    # gradient are forward's and backward's to a few roundings, tests/nn/test_nn_loss_step.py),
    # the two loops perform the very same float operations; with the gradients folded into
    # SGD's update (softgrad.kernels.sgd_fold) the same up to one rounding per update
    X, y = blobs
    model_fast = build_mlp(5, [16], 3, rng=2)
    model_naive = build_mlp(5, [16], 3, rng=2)
    opt = SGD(lr=0.1, momentum=0.9, fold_gradients=fold)
    fit(model_fast, CrossEntropyLoss(), opt, X, y, epochs=2, batch_size=64, rng=5)
    _naive_fit(
        model_naive, CrossEntropyLoss(), SGD(lr=0.1, momentum=0.9), X, y, 2, 64, 5, one_call=True
    )
    tolerance = 50 * np.finfo(np.float32).eps
    for name, value in model_fast.named_params().items():
        if fold:
            np.testing.assert_allclose(
                value, model_naive.named_params()[name], rtol=tolerance, atol=tolerance
            )
        else:
            assert np.array_equal(value, model_naive.named_params()[name]), name


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda: SGD(lr=0.05, momentum=0.9), lambda: SGD(lr=0.05), lambda: Adam(3e-3)],
    ids=["sgd-momentum", "sgd", "adam"],
)
def test_the_fit_loop_matches_a_pure_numpy_naive_loop_in_float64(blobs_factory, make_optimizer):
    # fit updates the flat store through the kernels; the naive loop runs per-array ufuncs.
    # Two orders of computation (the GEMM kernel, and so its rounding, depends on the CPU), so
    # the comparison runs in float64 with a tolerance derived from its size: each step's
    # rounding is a few eps per operation, the products sum D = 80 terms, and training carries
    # the differences through T = 21 steps; 64 * T * D * eps (2.4e-11) bounds that with room to
    # spare, while a wrong update would differ by far more (>= 1e-4).
    X, y = blobs_factory(400, 80, 4, seed=3)
    epochs, batch_size = 3, 64
    model_fast = build_mlp(80, [96], 4, rng=2, dtype=np.float64)
    model_naive = build_mlp(80, [96], 4, rng=2, dtype=np.float64)
    history = fit(
        model_fast,
        CrossEntropyLoss(),
        make_optimizer(),
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        rng=5,
    )
    losses, _ = _naive_fit(
        model_naive, CrossEntropyLoss(), make_optimizer(), X, y, epochs, batch_size, 5
    )
    n_steps = epochs * -(-len(X) // batch_size)
    rtol = 64 * n_steps * X.shape[1] * np.finfo(np.float64).eps
    np.testing.assert_allclose(history.train_loss, losses, rtol=rtol)
    for name, value in model_fast.named_params().items():
        assert value.dtype == np.float64
        np.testing.assert_allclose(
            value, model_naive.named_params()[name], rtol=rtol, atol=rtol, err_msg=name
        )


def test_train_loss_is_the_mean_of_the_batch_losses_before_each_step(blobs):
    X, y = blobs
    seen = []

    class Watch:
        def on_batch_end(self, state):
            seen.append((state.logs["loss"], state.logs["batch_size"]))

    history = fit(
        build_mlp(5, [8], 3, rng=0),
        CrossEntropyLoss(),
        SGD(lr=0.1),
        X,
        y,
        epochs=1,
        batch_size=128,
        rng=0,
        callbacks=[Watch()],
    )
    assert [n for _, n in seen] == [128, 128, 44]
    expected = sum(loss * n for loss, n in seen) / 300
    assert math.isclose(history.train_loss[0], expected, rel_tol=1e-12)
