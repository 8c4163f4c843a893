"""Calls softgrad's annotations must refuse: mypy must report an error on every line marked
``# wrong`` (tests/test_typing.py), so that the annotations are known to check something.
Never run (pytest does not collect this folder: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import softgrad
from softgrad import nn, optim
from softgrad.datasets import load_data, load_digits
from softgrad.functional import cross_entropy, cross_entropy_grad, softmax, softmax_vjp
from softgrad.sklearn import MLPClassifier
from softgrad.training import fit


def wrong(X: np.ndarray, y: np.ndarray, tmp: Path) -> None:
    model = nn.Sequential(nn.Linear(64, 10, rng=0))
    loss = nn.CrossEntropyLoss()
    softgrad.load(3)  # wrong: a path is a str or os.PathLike
    softgrad.save(model, None)  # wrong: no path
    saved: str = softgrad.load(tmp / "model.npz")  # wrong: load returns a Model
    softgrad.load(tmp / "model.npz").predict(X, batchsize=10)  # wrong: batch_size
    softmax(None)  # wrong: not array_like
    softmax([1.0, 2.0], axis="last")  # wrong: axis is an int
    softmax_vjp(softmax(X), {"g": 1})  # wrong: a dict is not array_like
    softgrad.softmax(X, dim=1)  # wrong: torch's keyword
    cross_entropy_grad(X, y, reduction=None)  # wrong: reduction is a str
    len(cross_entropy(X, y))  # wrong: a mean is a scalar, not the rows' losses
    row_losses: np.floating = cross_entropy(X, y, reduction="none")  # wrong: an array
    print(row_losses)
    nn.Linear(64, 10, rgn=0)  # wrong: rng
    cross_entropy(X, y, -1, "sum")  # wrong: the options after axis are keyword-only
    softmax(X, -1, X > 0)  # wrong: where is keyword-only
    nn.CrossEntropyLoss(np.ones(10))  # wrong: torch's positional weight; keyword-only here
    optim.Adam(1e-3, (0.9, 0.999), 1e-8, 0.0, True)  # wrong: torch's amsgrad; keyword-only
    optim.SGD(0.1, 0.9, 0.0, 1e-4)  # wrong: torch's dampening and weight_decay by position
    optim.Adam(learning_rate=0.1)  # wrong: lr
    fit(model, loss, optim.SGD(), X, y, epoch=3)  # wrong: epochs
    history = softgrad.fit(model, loss, optim.SGD(), X, y, checkpoint=3)  # wrong: a path
    print(history.train_losses)  # wrong: train_loss
    load_digits("digits")  # wrong: load_digits takes no argument
    load_data("digits", root=3)  # wrong: root is a path
    softgrad.gradcheck(model, X, tol=1e-3)  # wrong: atol / rtol
    softgrad.gradcheck.check_adjoint(softmax, softmax)  # wrong: x_shape missing
    softgrad.export_onnx(model, 3)  # wrong: a path
    softgrad.set_kernels(2)  # wrong: a name
    MLPClassifier(hidden_layers=(10,))  # wrong: hidden_layer_sizes
    model.backward(loss.backward(input_grad=False))  # wrong: None when input_grad=False
    MLPClassifier().to_model().sav(tmp / "m.npz")  # wrong: save
    load_digits().fit_scaler().transfrom(X)  # wrong: transform
    nn.Linear(64, 10, rng=0.5)  # wrong: a float is no seed
    softgrad.gradcheck(model, X, rng=np.random.RandomState(0))  # wrong: a Generator
    softgrad.load(tmp / "m.npz").predict_top(X, top=3)  # wrong: k
    softgrad.metrics.top_k(X)  # wrong: k missing
    print(saved)
