"""Gradient folding (softgrad.training.folded_step, softgrad.kernels.sgd_fold): the trusted steps
of an SGD with fold_gradients=True (its default) fold each gradient into the update through
BLAS's beta. Training then equals unfolded training to a rounding per step,
the epoch's last full batch leaves the gradients written, and every setting that reads the
gradient itself keeps them written at every step."""

import numpy as np
import pytest

from softgrad.errors import DivergenceError
from softgrad.kernels import sgd_fold
from softgrad.nn import CrossEntropyLoss, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import Callback, fit
from softgrad.training.folded_step import GradientFold

FOLDED = {
    "torch momentum": lambda **fold: SGD(lr=0.05, momentum=0.9, **fold),
    "sklearn velocity": lambda **fold: SGD(lr=0.05, momentum=0.9, lr_in_velocity=True, **fold),
    "no momentum": lambda **fold: SGD(lr=0.1, **fold),
    "torch momentum, weight decay": lambda **fold: SGD(
        lr=0.05, momentum=0.9, weight_decay=0.01, **fold
    ),
    "sklearn velocity, weight decay": lambda **fold: SGD(
        lr=0.05, momentum=0.9, lr_in_velocity=True, weight_decay=0.01, **fold
    ),
    "no momentum, weight decay": lambda **fold: SGD(lr=0.1, weight_decay=0.01, **fold),
    "torch nesterov": lambda **fold: SGD(lr=0.05, momentum=0.9, nesterov=True, **fold),
    "sklearn nesterov": lambda **fold: SGD(
        lr=0.05, momentum=0.9, nesterov=True, lr_in_velocity=True, **fold
    ),
    "torch nesterov, weight decay": lambda **fold: SGD(
        lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, **fold
    ),
    "sklearn nesterov, weight decay": lambda **fold: SGD(
        lr=0.05, momentum=0.9, nesterov=True, lr_in_velocity=True, weight_decay=0.01, **fold
    ),
}
UNFOLDED = {"adam": lambda fold_gradients: Adam(lr=0.01)}  # Adam has no fold to turn on


@pytest.fixture
def folds(monkeypatch):
    """The number of folded steps (GradientFold.step calls) so far, in a one-item list."""
    count = [0]
    real = GradientFold.step

    def counted(self, turn):
        count[0] += 1
        return real(self, turn)

    monkeypatch.setattr(GradientFold, "step", counted)
    return count


def _train(X, y, make_opt, dtype=np.float32, fold=True, hidden=(16,), **kwargs):
    model = build_mlp(X.shape[1], list(hidden), 3, rng=0, dtype=dtype)
    opt = make_opt(fold_gradients=fold)
    history = fit(
        model, CrossEntropyLoss(), opt, X.astype(dtype), y, epochs=3, batch_size=32, rng=1,
        **kwargs,
    )  # fmt: skip
    return model, opt, history


def _close(a, b, dtype):
    """Folded and unfolded training: the same steps, one rounding apart in each update."""
    tolerance = 50 * np.finfo(dtype).eps
    (model_a, opt_a, hist_a), (model_b, opt_b, hist_b) = a, b
    np.testing.assert_allclose(hist_a.train_loss, hist_b.train_loss, rtol=tolerance)
    for dicts in ((model_a.named_params(), model_b.named_params()),
                  (model_a.named_grads(), model_b.named_grads())):  # fmt: skip
        for key, value in dicts[1].items():
            np.testing.assert_allclose(
                dicts[0][key], value, rtol=tolerance, atol=tolerance, err_msg=key
            )
    assert opt_a._steps == opt_b._steps
    for key, slots in opt_b._slots.items():
        for name, value in slots.items():
            np.testing.assert_allclose(
                opt_a._slots[key][name], value, rtol=tolerance, atol=tolerance, err_msg=key
            )


@pytest.mark.parametrize("name", list(FOLDED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_folded_training_equals_unfolded_training_to_rounding(
    name, dtype, blobs, folds, kernel_lane
):
    X, y = blobs  # 300 rows: 9 full batches of 32 and a short one per epoch
    folded = _train(X, y, FOLDED[name], dtype)
    # batch 1 is checked (it binds), 9 is the last full one (unfolded), 10 the short one
    assert folds[0] == 7 * 3
    _close(folded, _train(X, y, FOLDED[name], dtype, fold=False), dtype)


@pytest.mark.parametrize("name", list(FOLDED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_l2_penalty_folds_into_every_rule(name, dtype, blobs, folds):
    # scikit-learn's alpha on the weights (not the biases), its term in the reported loss
    X, y = blobs
    folded = _train(X, y, FOLDED[name], dtype, l2_penalty=0.5)
    assert folds[0] == 7 * 3
    unfolded = _train(X, y, FOLDED[name], dtype, fold=False, l2_penalty=0.5)
    _close(folded, unfolded, dtype)
    plain = _train(X, y, FOLDED[name], dtype, fold=False)  # the penalty moved the weights
    assert not np.allclose(folded[0].named_params()["0.W"], plain[0].named_params()["0.W"])


@pytest.mark.parametrize("name", ["sklearn nesterov", "torch momentum"])
def test_one_logistic_output_folds_too(name, blobs, folds):
    # the estimator's binary layout: one logistic output, a capped loss, an L2 penalty
    from softgrad.nn import LogisticLoss

    X, y = blobs
    runs = []
    for fold in (True, False):
        model, opt = build_mlp(5, [16], 1, rng=0), FOLDED[name](fold_gradients=fold)
        loss = LogisticLoss(max_sample_loss=0.3)
        history = fit(model, loss, opt, X, y % 2, epochs=3, batch_size=32, rng=1,
                      l2_penalty=1e-2)  # fmt: skip
        runs.append((model, opt, history))
    assert folds[0] == 7 * 3
    _close(runs[0], runs[1], np.float32)


@pytest.mark.parametrize("name", ["torch momentum", "torch nesterov"])
def test_a_deeper_network_folds_every_layer(name, blobs, folds):
    X, y = blobs
    folded = _train(X, y, FOLDED[name], hidden=(16, 8))
    assert folds[0] == 21
    _close(folded, _train(X, y, FOLDED[name], hidden=(16, 8), fold=False), np.float32)


def _no_bias_net():
    from softgrad.nn import ReLU, Sequential
    from softgrad.nn.linear import Linear

    return Sequential(Linear(5, 16, bias=False, rng=0), ReLU(), Linear(16, 3, rng=1))


def test_a_layer_without_bias_folds_its_weights_alone(blobs, folds):
    X, y = blobs
    runs = []
    for fold in (True, False):
        model, opt = _no_bias_net(), FOLDED["torch momentum"](fold_gradients=fold)
        history = fit(model, CrossEntropyLoss(), opt, X, y, epochs=3, batch_size=32, rng=1)
        runs.append((model, opt, history))
    assert folds[0] == 21
    _close(runs[0], runs[1], np.float32)


def test_the_last_batch_leaves_the_gradients_written_when_every_batch_is_full(blobs, folds):
    X, y = blobs
    X, y = X[:288], y[:288]  # 9 full batches, no short one: the 9th runs unfolded
    folded = _train(X, y, FOLDED["torch momentum"])
    assert folds[0] == 7 * 3
    _close(folded, _train(X, y, FOLDED["torch momentum"], fold=False), np.float32)


def test_a_folded_step_writes_no_gradient(blobs, folds, monkeypatch):
    # what the gradients would hold if the last full batch folded too: batch 1's (checked)
    X, y = blobs
    X, y = X[:288], y[:288]
    seen = []
    real = GradientFold.step

    def watched(self, turn):
        before = self.state.store.grads.copy()
        penalty = real(self, turn)
        seen.append(np.array_equal(before, self.state.store.grads))
        return penalty

    monkeypatch.setattr(GradientFold, "step", watched)
    _train(X, y, FOLDED["torch momentum"])
    assert len(seen) == 21 and all(seen)


@pytest.mark.parametrize("name", list(UNFOLDED))
def test_settings_that_read_the_gradient_keep_it_written(name, blobs, folds):
    X, y = blobs
    _train(X, y, UNFOLDED[name])
    assert folds[0] == 0


def test_folding_off_keeps_the_gradients_written(blobs, folds):
    X, y = blobs
    _train(X, y, FOLDED["torch momentum"], fold=False)
    assert folds[0] == 0


class _ReadsLosses(Callback):
    batch_hook_reads_only = True
    batch_hook_reads_grads = False

    def on_batch_end(self, state):
        pass


class _ReadsGrads(Callback):
    batch_hook_reads_only = True  # and may read the gradients: the default

    def __init__(self):
        self.norms = []

    def on_batch_end(self, state):
        grads = state.model.named_grads()
        self.norms.append(float(np.linalg.norm(grads["0.W"])))


def test_a_batch_hook_that_may_read_the_gradients_keeps_them_written(blobs, folds):
    X, y = blobs
    hook = _ReadsGrads()
    _train(X, y, FOLDED["torch momentum"], callbacks=[hook])
    assert folds[0] == 0
    again = _ReadsGrads()
    _train(X, y, FOLDED["torch momentum"], fold=False, callbacks=[again])
    assert hook.norms == again.norms  # every batch's own gradient, as without folding


def test_a_batch_hook_that_reads_no_gradient_keeps_the_folding(blobs, folds):
    X, y = blobs
    _train(X, y, FOLDED["torch momentum"], callbacks=[_ReadsLosses()])
    assert folds[0] == 21


@pytest.mark.parametrize("name", list(FOLDED))
def test_without_numpys_blas_training_folds_through_np_matmul(name, blobs, folds, monkeypatch):
    # whether a step folds is the optimizer's setting alone, never the BLAS found: the same
    # calls in np.matmul and NumPy's passes, the same training to a rounding per step
    from softgrad.kernels.routines import MatmulRoutines

    monkeypatch.setattr(sgd_fold, "blas_routines", lambda: MatmulRoutines("not found"))
    X, y = blobs
    folded = _train(X, y, FOLDED[name], np.float64, l2_penalty=0.5)
    assert folds[0] == 7 * 3
    _close(folded, _train(X, y, FOLDED[name], np.float64, fold=False, l2_penalty=0.5), np.float64)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_divergence_in_a_folded_step_is_reported_as_unfolded(momentum, blobs, folds):
    X, y = blobs
    X = X * 100  # the loss overflows within the first epoch, after some folded steps
    errors = []
    for fold in (True, False):
        with pytest.raises(DivergenceError) as info:
            _train(X, y, lambda **kw: SGD(lr=10.0, momentum=momentum, **kw), fold=fold)
        errors.append((str(info.value), info.value.epoch, info.value.batch))
    assert folds[0] >= 2 and errors[0] == errors[1]


def test_fold_gradients_is_a_bool_the_optimizer_keeps_and_shows():
    assert SGD().fold_gradients is True
    # shown where it is not the default, as lr_in_velocity
    assert "fold_gradients" not in repr(SGD(lr=0.1))
    off = SGD(lr=0.1, fold_gradients=False)
    assert repr(off) == (
        "SGD(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0, fold_gradients=False)"
    )
    assert off.get_config()["fold_gradients"] is False
    for bad in (1, "no", None):
        with pytest.raises(TypeError, match=r"^SGD: fold_gradients must be a bool"):
            SGD(fold_gradients=bad)
    with pytest.raises(TypeError, match=r"^SGD: fold_gradients must be a bool"):
        off.fold_gradients = 0


def test_a_state_saved_before_fold_gradients_existed_loads_folding(blobs):
    X, y = blobs
    saved = _train(X, y, FOLDED["torch momentum"], fold=False)[1].state_dict()
    assert saved["fold_gradients"] is False
    opt = SGD(lr=0.05, momentum=0.9, fold_gradients=False)
    opt.load_state_dict({key: value for key, value in saved.items() if key != "fold_gradients"})
    assert opt.fold_gradients is True
    again = SGD(lr=0.05, momentum=0.9)
    again.load_state_dict(saved)  # a saved setting is the optimizer's once loaded
    assert again.fold_gradients is False


def test_turning_folding_off_between_epochs_writes_the_gradients_from_then_on(blobs, folds):
    X, y = blobs

    class TurnOff(Callback):
        def on_epoch_end(self, state):
            state.optimizer.fold_gradients = False

    _train(X, y, FOLDED["torch momentum"], callbacks=[TurnOff()])
    assert folds[0] == 7  # the first epoch's, then none


@pytest.mark.parametrize("name", ["torch momentum", "no momentum", "torch nesterov"])
def test_a_batch_taller_than_one_gemv_folds_its_bias_sum_by_blocks(name, folds):
    # batches over COLUMN_BLOCK rows sum the bias gradient a block at a time (the fold's
    # alpha and beta applied after it): the same training to a rounding per step
    from softgrad.kernels.rows import COLUMN_BLOCK

    rng = np.random.default_rng(0)
    X = rng.standard_normal((5 * (COLUMN_BLOCK + 200), 4))
    y = rng.integers(0, 3, size=len(X))

    def train(fold):
        model = build_mlp(4, [8], 3, rng=0, dtype=np.float64)
        opt = FOLDED[name](fold_gradients=fold)
        history = fit(
            model, CrossEntropyLoss(), opt, X, y, epochs=2, batch_size=COLUMN_BLOCK + 200,
            rng=1,
        )  # fmt: skip
        return model, opt, history

    folded = train(True)
    assert folds[0] > 0
    _close(folded, train(False), np.float64)
