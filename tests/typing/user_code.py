"""A user's program that calls softgrad as README.md and docs/ show it: mypy checks this file
(tests/test_typing.py) and must find nothing wrong. It is never run (pytest does not collect
this folder: tests/conftest.py), so it builds nothing and writes no file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import softgrad
from softgrad import nn, optim
from softgrad.datasets import (
    load_data,
    load_digits,
    load_fashion_mnist,
    load_file,
    load_image_folder,
    load_mnist,
)
from softgrad.functional import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    log_softmax_jacobian,
    log_softmax_vjp,
    logsumexp,
    nll_loss,
    softmax,
    softmax_jacobian,
    softmax_jvp,
    softmax_vjp,
)
from softgrad.gradcheck import GradcheckResult, check_adjoint, check_softmax_jacobian
from softgrad.model import Model
from softgrad.sklearn import MLPClassifier
from softgrad.training import History, fit


def quickstart() -> float:
    """README's Quickstart: a hand-written loop, then save and load."""
    X_train, y_train, X_test, y_test = load_digits()
    X_train, X_test = (X_train / 16).astype(np.float32), (X_test / 16).astype(np.float32)

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(64, 100, rng=rng), nn.ReLU(), nn.Linear(100, 10, rng=rng))
    loss = nn.CrossEntropyLoss()
    opt = optim.Adam(lr=3e-3)

    for _epoch in range(20):
        for idx in np.array_split(rng.permutation(len(X_train)), len(X_train) // 32):
            logits = model.forward(X_train[idx])
            loss.forward(logits, y_train[idx])
            model.backward(loss.backward())
            opt.step(model.named_params(), model.named_grads())

    acc = float((model.forward(X_test).argmax(axis=1) == y_test).mean())
    print(f"test accuracy {acc:.4f}")

    softgrad.save(model, "digits.npz")
    again: Model = softgrad.load("digits.npz")
    predicted: np.ndarray = again.predict(X_test[:8])
    print(predicted, y_test[:8])
    print(np.array_equal(again.network.forward(X_test), model.forward(X_test)))
    return acc


def models_and_files(tmp: Path) -> None:
    """docs/python.md: save with classes and a scaler, paths as str or Path, Model's methods."""
    data = load_data("digits")
    rng = np.random.default_rng(1)
    network = nn.Sequential(
        nn.Linear(data.n_features, 32, rng=rng),
        nn.Tanh(),
        nn.Dropout(0.1, rng=np.int64(7)),
        nn.Linear(32, data.n_classes, rng=1),
    )
    scaler = softgrad.Scaler.for_range(16)
    softgrad.save(network, tmp / "model.npz", classes=list(range(10)), scaler=scaler)
    softgrad.save(network, str(tmp / "model2.npz"), metadata={"epochs": 3, "data": "digits"})
    model = softgrad.load(tmp / "model.npz")
    model.save(tmp / "again.npz")
    model.save(str(tmp / "again2.npz"))
    pixels = data.X_test  # uint8-like raw features, scaled by the model
    probs: np.ndarray = model.predict_proba(pixels)
    logp: np.ndarray = model.predict_log_proba(pixels.astype(np.float64), batch_size=256)
    labels: np.ndarray = model.predict([[0.0] * 64, [16.0] * 64])
    scores: np.ndarray = model.decision_function(np.zeros((2, 64), dtype=np.uint8))
    rows = scaler.inputs(np.zeros((4, 64), dtype=np.uint8))
    print(probs.sum(axis=1), logp.shape, labels, scores.dtype, model.predict(rows))
    top_p, index = model.predict_top(pixels, k=3)
    best = softgrad.metrics.top_k(probs, 2).indices
    argmax: np.ndarray = model.map_logits(pixels, lambda logits: logits.argmax(axis=1))
    print(model.classes[index], top_p.sum(axis=1), best, argmax)
    built = Model(network, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], scaler)
    print(built.n_classes, built.n_features, built.classes)


def training_fit(tmp: Path) -> History:
    """softgrad.training.fit and its History."""
    X_train, y_train, X_test, y_test = load_digits()
    model = nn.Sequential(nn.Linear(64, 100, rng=0), nn.ReLU(), nn.Linear(100, 10, rng=0))
    history = fit(
        model,
        nn.CrossEntropyLoss(label_smoothing=0.1),
        optim.SGD(lr=0.1, momentum=0.9, nesterov=True),
        X_train,
        y_train,
        epochs=5,
        batch_size=32,
        rng=np.random.default_rng(0),
        validation_data=(X_test, y_test),
        early_stopping=True,
        patience=3,
        checkpoint=tmp / "ckpt",
    )
    again = softgrad.fit(
        model,
        nn.CrossEntropyLoss(),
        optim.AdamW(lr=1e-3, betas=(0.9, 0.99)),
        (X_train / 16).astype(np.float32),
        y_train,
        epochs=2,
        rng=0,
        validation_fraction=0.1,
        checkpoint=str(tmp / "ckpt2"),
    )
    schedule = optim.CosineLR(optim.Adam(), 10)
    print(schedule)
    losses: list[float] = history.train_loss + again.val_loss
    best: int | None = history.best_epoch
    print(losses, best, history.epochs, history.stopped_early, history.to_dict())
    return history


def functions() -> None:
    """README's math: softmax and its derivatives, on lists and on float32 / float64 arrays."""
    x64 = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    x32 = x64.astype(np.float32)
    s: np.ndarray = softmax([1.0, 2.0, 3.0])
    s32: np.ndarray = softmax(x32, axis=1, where=x32 > 0.5)
    logp: np.ndarray = log_softmax(x64, axis=0)
    lse: np.ndarray = logsumexp([[1, 2], [3, 4]], keepdims=True)
    J: np.ndarray = softmax_jacobian([1, 2, 3])
    JL: np.ndarray = log_softmax_jacobian(x32)
    g = np.ones_like(x64)
    vjp: np.ndarray = softmax_vjp(softmax(x64), g)
    jvp: np.ndarray = softmax_jvp(softmax(x64), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    lvjp: np.ndarray = log_softmax_vjp(logp, g, axis=0)
    loss: np.floating[Any] = cross_entropy(x64, [2, 0], label_smoothing=0.1)
    losses: np.ndarray = cross_entropy(x32, np.array([2, 0]), reduction="none", weight=[1, 2, 1])
    total = float(cross_entropy(x32, [2, 0], 1, reduction="sum"))
    total += float(nll_loss(logp, [2, 0, 1], 0))
    per_row: np.ndarray = nll_loss(logp, [2, 0, 1], 0, reduction="none")
    either = cross_entropy(x64, [2, 0], reduction=str(sys.argv[-1]))  # chosen at run time
    print(total, per_row, either.shape)  # a NumPy scalar has a shape too: ()
    grad: np.ndarray = cross_entropy_grad(x64, [2, 0], ignore_index=-100)
    top: np.ndarray = softgrad.softmax(x32)
    print(s, s32, lse, J, JL, vjp, jvp, lvjp, loss, losses, grad, top)
    print(softgrad.log_softmax_vjp(logp, g), softgrad.cross_entropy(x64, [1, 1]))


class MySoftmax:
    """README's "Check your own backward": a node with no softgrad base class."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.s: np.ndarray = e / e.sum(axis=-1, keepdims=True)
        return self.s

    def backward(self, g: np.ndarray) -> np.ndarray:
        return self.s * (g - np.sum(g * self.s, axis=-1, keepdims=True))


def checks() -> None:
    """softgrad.gradcheck on a layer, a user node, a loss node and a function with its VJP."""
    x = np.random.default_rng(0).standard_normal((4, 10))
    result: GradcheckResult = softgrad.gradcheck(MySoftmax(), x)
    print(result.ok, result.max_abs_err, result.max_rel_err, result.diagnosis, result.mistakes)
    print(result)
    layer = softgrad.gradcheck(nn.Linear(10, 3, rng=0), x, rng=np.random.default_rng(1))
    loss = softgrad.gradcheck(nn.CrossEntropyLoss(), x, target=[0, 1, 2, 3])
    fn = softgrad.gradcheck(
        softmax, x, vjp=lambda x, g: softmax_vjp(softmax(x), g), eps=1e-6, atol=1e-5, rtol=1e-4
    )
    mine = softgrad.gradcheck(MySoftmax(), x.astype(np.float32), rng=3)
    print(layer.ok and loss.ok and fn.ok and mine.ok)
    s = softmax(x)
    adjoint = check_adjoint(lambda v: softmax_jvp(s, v), lambda u: softmax_vjp(s, u), (4, 10))
    jac = check_softmax_jacobian([[1.0, 2.0, 3.0]], axis=-1, rng=0)
    print(adjoint.ok, jac.ok, softgrad.check_adjoint, softgrad.check_softmax_jacobian)


def datasets(tmp: Path) -> None:
    """The loaders, given str and pathlib.Path paths."""
    for data in (
        load_data("fashion-mnist", root=tmp / "fashion"),
        load_data(tmp / "table.csv", hold_out=False, csv_dtype=np.float32),
        load_data(str(tmp / "arrays.npz")),
        load_file(tmp / "table.csv"),
        load_file(str(tmp / "arrays.npz"), hold_out=False),
        load_fashion_mnist(),
        load_fashion_mnist(str(tmp)),
        load_mnist(tmp / "mnist"),
        load_image_folder(tmp / "pngs", name="pngs"),
        load_image_folder(str(tmp / "pngs")),
        softgrad.load_data("digits"),
    ):
        X_train, y_train, X_test, y_test = data
        images: np.ndarray = data.X_train
        print(X_train.shape, y_train[:3], X_test.dtype, y_test.size, images.shape)
        print(data.class_names, data.n_classes, data.n_features, data.image_shape)
        scaler: softgrad.Scaler = data.fit_scaler()
        print(scaler.transform(images).dtype)


def scikit_learn(tmp: Path) -> float:
    """docs/sklearn.md: the estimator alone and in a Pipeline, then to a model file."""
    X, y, _, _ = load_digits()
    X_train = X / 16
    clf = MLPClassifier(hidden_layer_sizes=(100,), solver="adam", max_iter=20, random_state=0)
    clf.fit(X_train, y)
    score: float = clf.score(X_train, y)
    predicted: np.ndarray = clf.predict(X_train)
    probs: np.ndarray = clf.predict_proba(X_train.astype(np.float32))
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=5, random_state=0))
    pipe.fit(X.astype(np.float64), y)
    print(score, predicted, probs, pipe.score(X, y), clf.to_sklearn())
    clf.to_model().save(tmp / "model.npz")
    as_model: Model = clf.to_model()
    again: MLPClassifier = MLPClassifier.from_sklearn(clf.to_sklearn(), max_iter=5)
    print(as_model.predict(X_train), again.predict(X_train))
    softgrad.export_onnx(clf, tmp / "clf.onnx")
    out: Path = softgrad.export_onnx(softgrad.load(tmp / "model.npz"), str(tmp / "model.onnx"))
    print(out.stat().st_size)
    return score


def kernels() -> None:
    """Choose the kernel lane and the threads from Python."""
    softgrad.set_kernels("numpy")
    softgrad.set_kernels("numba")
    softgrad.set_threads(1)
    softgrad.set_threads(None)
