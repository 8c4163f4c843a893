"""scikit-learn's rule for sample weights (check_sample_weight_equivalence), for a loss with
class weights or ignore_index too: unit weights train and score as no weights, and integer
weights as repeated rows. The weighted mean divides sum_n w_n l_n by sum_n w_n cw[y_n] over
the targets the loss does not ignore, in the training step, in evaluate and in fit's
validation figures; accuracy stays sum(w hit) / sum(w) over those targets, without the class
weights. The weighted mean divided by sum(w): a class-weighted run trained on another scale,
and an ignored target still counted."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, LogisticLoss, LogSoftmax, NLLLoss, Sequential, build_mlp
from softgrad.optim import SGD, Adam
from softgrad.training import evaluate, fit

CLASS_WEIGHTS = [1.0, 3.0, 0.5]
EPOCHS, N, BATCH = 3, 60, 16  # 4 steps an epoch, the last one short
# the two runs sum the same terms in another order (a weighted sum times 1, the fused kernel
# or forward then backward): a few roundings a step, carried over EPOCHS * 4 steps
ROUNDINGS = 32
LOSSES = {
    "class weights": lambda: CrossEntropyLoss(weight=CLASS_WEIGHTS),
    "ignore_index": lambda: CrossEntropyLoss(ignore_index=2),
    "class weights and ignore_index": lambda: CrossEntropyLoss(
        weight=CLASS_WEIGHTS, ignore_index=2
    ),
    "smoothing and class weights": lambda: CrossEntropyLoss(
        weight=CLASS_WEIGHTS, label_smoothing=0.2
    ),
    "nll with class weights": lambda: NLLLoss(weight=CLASS_WEIGHTS, ignore_index=0),
    "sum": lambda: CrossEntropyLoss(reduction="sum", weight=CLASS_WEIGHTS, ignore_index=2),
    "logistic sum": lambda: LogisticLoss(reduction="sum"),
    "plain (the step plan)": lambda: CrossEntropyLoss(),
    "logistic": lambda: LogisticLoss(label_smoothing=0.1),
}


def _data(n_outputs, seed=0):
    generator = np.random.default_rng(seed)
    n_classes = max(2, n_outputs)
    y = generator.integers(0, n_classes, size=N)
    centers = generator.normal(scale=1.5, size=(n_classes, 4))
    X = centers[y] + generator.normal(size=(N, 4))
    return X, y


def _model(name, n_outputs):
    model = build_mlp(4, [8], n_outputs, rng=1, dtype=np.float64)
    if name.startswith("nll"):
        model = Sequential(*model.layers, LogSoftmax())
    return model


def _agree(actual, expected, what):
    """Equal to ROUNDINGS roundings of float64 a step, relative to the largest magnitude."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    steps = EPOCHS * -(-N // BATCH)
    tol = ROUNDINGS * steps * np.finfo(np.float64).eps * max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol, err_msg=what)


@pytest.mark.parametrize(
    "optimizer", [lambda scale: SGD(lr=0.1 * scale, momentum=0.9), lambda scale: Adam(1e-2)]
)
@pytest.mark.parametrize("name", list(LOSSES))
def test_unit_weights_train_as_no_weights(name, optimizer):
    n_outputs = 1 if name.startswith("logistic") else 3
    X, y = _data(n_outputs)
    X_val, y_val = _data(n_outputs, seed=1)
    runs = []
    for weighted in (False, True):
        model = _model(name, n_outputs)
        lr_scale = 1 / BATCH if "sum" in name else 1.0  # a sum's gradient is BATCH times larger
        unit = np.ones(N) if weighted else None
        validation = (X_val, y_val) if unit is None else (X_val, y_val, unit)
        history = fit(
            model, LOSSES[name](), optimizer(lr_scale), X, y, epochs=EPOCHS,
            batch_size=BATCH, rng=2, sample_weight=unit, validation_data=validation,
        )  # fmt: skip
        runs.append((history, dict(model.named_params())))
    (plain, plain_params), (unit, unit_params) = runs
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        _agree(getattr(unit, key), getattr(plain, key), key)
    for key, value in plain_params.items():
        _agree(unit_params[key], value, key)


@pytest.mark.parametrize("name", ["class weights", "class weights and ignore_index"])
def test_integer_weights_take_the_full_batch_step_of_repeated_rows(name):
    X, y = _data(3)
    counts = np.random.default_rng(3).integers(0, 4, size=N)
    rows = np.repeat(np.arange(N), counts)
    models = []
    for inputs, targets, weight in ((X, y, counts.astype(float)), (X[rows], y[rows], None)):
        model = _model(name, 3)
        fit(
            model, LOSSES[name](), SGD(lr=0.5), inputs, targets, epochs=1,
            batch_size=len(targets), sample_weight=weight, rng=0,
        )  # fmt: skip
        models.append(dict(model.named_params()))
    for key, value in models[1].items():
        # one step from the same weights: the gradient's sums in another order
        np.testing.assert_allclose(models[0][key], value, rtol=0, atol=N * 8 * 2.0**-52)


@pytest.mark.parametrize(
    "name", ["class weights", "ignore_index", "class weights and ignore_index"]
)
def test_evaluate_with_unit_and_integer_weights(name):
    X, y = _data(3)
    model = _model(name, 3)
    loss = LOSSES[name]()
    tol = N * 4 * 2.0**-52  # float64 sums of N terms in another order
    plain = evaluate(model, X, y, loss=loss)
    np.testing.assert_allclose(
        evaluate(model, X, y, loss=loss, sample_weight=np.ones(N)), plain, rtol=tol
    )
    counts = np.random.default_rng(3).integers(0, 4, size=N)
    rows = np.repeat(np.arange(N), counts)
    np.testing.assert_allclose(
        evaluate(model, X, y, loss=loss, sample_weight=counts.astype(float)),
        evaluate(model, X[rows], y[rows], loss=loss),
        rtol=tol,
    )


def test_evaluate_divides_by_the_weighted_class_weights_and_counts_hits_without_them():
    X, y = _data(3)
    model = _model("class weights and ignore_index", 3)
    loss = CrossEntropyLoss(weight=CLASS_WEIGHTS, ignore_index=2)
    w = np.random.default_rng(4).uniform(0.0, 2.0, size=N)
    per_sample = CrossEntropyLoss(weight=CLASS_WEIGHTS, ignore_index=2, reduction="none")
    logits = model.forward(X)
    kept = y != 2
    divisor = np.sum(w * np.asarray(CLASS_WEIGHTS)[np.where(kept, y, 0)] * kept)
    hits = (np.argmax(logits, axis=1) == y) & kept
    value, accuracy = evaluate(model, X, y, loss=loss, sample_weight=w)
    tol = N * 4 * 2.0**-52
    np.testing.assert_allclose(value, np.dot(w, per_sample.forward(logits, y)) / divisor, rtol=tol)
    # accuracy: the weighted hits over the weight of the counted targets, no class weight
    np.testing.assert_allclose(accuracy, np.dot(w, hits) / np.dot(w, kept), rtol=tol)


def test_train_accuracy_counts_weighted_hits_without_the_class_weights():
    # lr 0 keeps the initial weights: every epoch's accuracy is theirs
    X, y = _data(3)
    model = _model("class weights and ignore_index", 3)
    w = np.random.default_rng(4).uniform(0.0, 2.0, size=N)
    kept = y != 2
    hits = (np.argmax(model.forward(X), axis=1) == y) & kept
    history = fit(
        model, CrossEntropyLoss(weight=CLASS_WEIGHTS, ignore_index=2), SGD(lr=0.0), X, y,
        epochs=2, batch_size=BATCH, sample_weight=w, rng=0,
    )  # fmt: skip
    expected = np.dot(w, hits) / np.dot(w, kept)
    np.testing.assert_allclose(history.train_acc, [expected] * 2, rtol=N * 4 * 2.0**-52)
