"""fit trains a plain MLP through the step plan (training.step_plan: preallocated arrays, fused
kernels) and any other network through the layers' public methods. Both must train as a loop
written by hand over the public API does: each layer's forward and backward, the loss's forward
and backward, ``optimizer.step`` on plain dicts (the per-array update, not the flat one), the
same batches in the same order (fit's generator: the validation split first, then one
permutation per epoch), with the validation figures, early stopping and the schedule as fit's
docstring states them.

The cases cover every option listed in ``OPTIONS`` (each value of each option in several
cases, on both routes), and each runs on both kernel lanes. Dropout is compared with identical
masks: the hand-written loop trains a deep copy of the network, whose Dropout layers draw from
copies of the same generators in the same order.

Tolerance (``_agree``): the two computations make the same products on the same operands and
differ only in the order of a few roundings per step (the fused loss kernel sums in another
order than forward then backward; the Numba lane's exp and tanh are libm's; the flat and
per-array updates run the same formula). Each weight, and each figure of the history, may so
take up to ``ROUNDINGS`` roundings of its dtype per step that the two routes do not share;
with small learning rates a step does not amplify the difference carried from the step
before, so after ``S`` steps the two agree to ``ROUNDINGS * S * eps`` relative to the largest
magnitude (at least 1). Float64 cases then compare to ~1e-13, float32 ones to ~5e-5: a missed
term, a wrong scale or another batch moves the weights by ``lr * gradient``, far beyond.
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from softgrad.datasets.split import stratified_split
from softgrad.nn import CrossEntropyLoss, LogisticLoss, build_mlp
from softgrad.optim import (
    SGD,
    Adam,
    AdamW,
    AdaptiveLR,
    CosineLR,
    InvScalingLR,
    ReduceLROnPlateau,
    StepLR,
)
from softgrad.preprocessing import Scaler
from softgrad.training import fit
from softgrad.training.step_plan import StepPlan

ROUNDINGS = 8  # per step: product sums, exp, log, bias add, activation, the update's terms
EPOCHS = 4
N_CASES = 48

OPTIONS = {
    "dtype": (np.float32, np.float64),
    "activation": ("relu", "tanh", "sigmoid", "identity"),
    "hidden": ((), (7,), (6, 5)),
    "optimizer": ("sgd", "momentum", "nesterov", "decay", "sklearn_sgd", "adam", "adamw",
                  "sklearn_adam"),
    "schedule": (None, "step", "cosine", "invscaling", "adaptive", "plateau"),
    "loss": ("ce", "ce_capped", "ce_smoothed", "ce_class_weights", "ce_sum", "logistic",
             "logistic_smoothed"),
    "inputs": ("dense", "csr", "uint8"),
    "sizes": ((45, 8), (30, 40), (40, 10)),  # (N, batch_size): a short last batch, one batch
    "dropout": (0.0, 0.3),
    "weighted": (False, True),
    "validation": (None, "fraction", "data"),
    "early_stopping": (False, True),
    "l2_penalty": (0.0, 0.01),
}  # fmt: skip


def _cases(n_cases: int) -> list[dict]:
    """Each option runs through shuffled rounds of its values, so that every value appears in
    every ``len(values)`` consecutive cases, in combinations that differ from option to option."""
    generator = np.random.default_rng(2024)
    columns = {}
    for name, values in OPTIONS.items():
        rounds = [generator.permutation(len(values)) for _ in range(-(-n_cases // len(values)))]
        columns[name] = [values[i] for i in itertools.chain(*rounds)][:n_cases]
    return [{name: columns[name][i] for name in OPTIONS} | {"seed": i} for i in range(n_cases)]


CASES = _cases(N_CASES)


@pytest.fixture(params=["numpy", "numba"])
def lane(request, monkeypatch):
    """Every kernel call through ``get_ops()`` in this lane, whatever SOFTGRAD_KERNELS says."""
    from softgrad.kernels import registry

    module, cls = registry.KERNELS[request.param].split(":")
    ops = getattr(pytest.importorskip(module), cls)()
    monkeypatch.setattr(registry, "_active", {"ops": ops})
    return request.param


def _loss(case: dict):
    n_classes = 3
    return {
        "ce": lambda: CrossEntropyLoss(),
        "ce_capped": lambda: CrossEntropyLoss(max_sample_loss=1.0),
        "ce_smoothed": lambda: CrossEntropyLoss(label_smoothing=0.1),
        "ce_class_weights": lambda: CrossEntropyLoss(weight=np.linspace(0.5, 2.0, n_classes)),
        "ce_sum": lambda: CrossEntropyLoss(reduction="sum"),
        "logistic": lambda: LogisticLoss(),
        "logistic_smoothed": lambda: LogisticLoss(label_smoothing=0.1, max_sample_loss=2.0),
    }[case["loss"]]()


def _optimizer(case: dict):
    return {
        "sgd": lambda: SGD(lr=0.1),
        "momentum": lambda: SGD(lr=0.05, momentum=0.9),
        "nesterov": lambda: SGD(lr=0.05, momentum=0.9, nesterov=True),
        "decay": lambda: SGD(lr=0.1, momentum=0.5, weight_decay=0.01),
        "sklearn_sgd": lambda: SGD(lr=0.05, momentum=0.9, nesterov=True, lr_in_velocity=True),
        "adam": lambda: Adam(lr=0.01),
        "adamw": lambda: AdamW(lr=0.01, weight_decay=0.1),
        "sklearn_adam": lambda: Adam(lr=0.01, fold_bias_correction=True),
    }[case["optimizer"]]()


def _schedule(case: dict, optimizer, n_samples: int):
    return {
        None: lambda: None,
        "step": lambda: StepLR(optimizer, step_size=1, gamma=0.5),
        "cosine": lambda: CosineLR(optimizer, t_max=EPOCHS),
        "invscaling": lambda: InvScalingLR(optimizer, samples_per_epoch=n_samples),
        "adaptive": lambda: AdaptiveLR(optimizer, tol=0.01, n_iter_no_change=1),
        "plateau": lambda: ReduceLROnPlateau(optimizer, factor=0.5, patience=0),
    }[case["schedule"]]()


def _data(case: dict) -> dict:
    """fit's inputs (an array, a CSR matrix or uint8 rows behind a Scaler) and the same rows
    as the dense floats the hand-written loop reads, for training and validation data."""
    generator = np.random.default_rng(case["seed"])
    n_samples = case["sizes"][0] + 12  # the last 12 rows: validation_data
    n_classes = 2 if case["loss"].startswith("logistic") else 3
    y = np.arange(n_samples) % n_classes
    generator.shuffle(y)
    if case["inputs"] == "uint8":
        raw = generator.integers(0, 256, size=(n_samples, 4)).astype(np.uint8)
        scaler = Scaler.fit_standard(raw)
        given = scaler.inputs(raw, case["dtype"])
        dense = scaler.transform(raw).astype(case["dtype"])
    else:
        dense = (generator.normal(size=(n_samples, 4)) + 0.7 * y[:, None]).astype(case["dtype"])
        if case["inputs"] == "csr":
            dense[generator.random(dense.shape) < 0.4] = 0.0
            given = sp.csr_matrix(dense)
        else:
            given = dense
    weight = None
    if case["weighted"]:
        weight = generator.random(n_samples) * (generator.random(n_samples) > 0.15) + 0.0
        weight[:n_classes] = 1.0  # never 0 on either side of a split
    cut = n_samples - 12
    return {
        "fit": (given[:cut], y[:cut], None if weight is None else weight[:cut]),
        "dense": (dense[:cut], y[:cut], None if weight is None else weight[:cut]),
        "fit_val": (given[cut:], y[cut:]) + (() if weight is None else (weight[cut:],)),
        "dense_val": (dense[cut:], y[cut:], None if weight is None else weight[cut:]),
    }


def _forward(model, x):
    for layer in model.layers:  # the public calls one by one
        x = layer.forward(x)
    return x


def _per_sample(model, loss, x, target):
    """Logits, a reduction-"none" copy of the loss with its per-sample losses, and the hits."""
    logits = _forward(model, x)
    per_sample = copy.copy(loss)
    per_sample.reduction = "none"
    losses = per_sample.forward(logits, target)
    predicted = (logits[:, 0] > 0) if logits.shape[1] == 1 else np.argmax(logits, axis=1)
    return logits, per_sample, losses, predicted == target


def _class_weights(loss, target):
    """cw[y_n] of the loss's class weights, 1 each without them."""
    if getattr(loss, "weight", None) is None:
        return np.ones(len(target))
    return np.asarray(loss.weight, dtype=np.float64)[target]


def _batch_step(model, loss, optimizer, x, target, weight, l2_penalty):
    """One step by hand: ``(batch loss, batch weight, weighted hits)`` (fit's docstring: the
    loss's mean, or with sample weights ``sum(w l) / sum(w cw[y])``, cw the class weights,
    and for reduction "sum" ``sum(w l)``; the L2 term on every W, over ``sum(w)``)."""
    dtype = x.dtype
    w = np.ones(len(target), dtype) if weight is None else weight.astype(dtype)
    total = float(np.sum(w, dtype=np.float64))
    logits, per_sample, losses, hits = _per_sample(model, loss, x, target)
    if total == 0:  # a batch that weighs nothing moves no weight
        return 0.0, 0.0, float(np.dot(w, hits))
    if weight is None:
        batch_loss, grad = loss.forward(logits, target), loss.backward()
        batch_loss /= len(target) if loss.reduction == "sum" else 1
    elif loss.reduction == "sum":  # the weighted sum, reported per unit of weight
        batch_loss = float(np.dot(w, losses)) / total
        grad = per_sample.backward(w)
    else:
        divisor = float(np.dot(w.astype(np.float64), _class_weights(loss, target)))
        batch_loss = float(np.dot(w, losses)) / divisor
        grad = per_sample.backward(w / np.asarray(divisor, dtype))
    for layer in reversed(model.layers):
        grad = layer.backward(grad)
    params = dict(model.named_params())
    grads = {key: value.copy() for key, value in model.named_grads().items()}
    for key in [key for key in params if key.endswith(".W") and l2_penalty]:
        grads[key] += (l2_penalty / total) * params[key]
        batch_loss += 0.5 * l2_penalty * float(np.sum(params[key].astype(np.float64) ** 2)) / total
    optimizer.step(params, grads)
    return batch_loss, total, float(np.dot(w, hits))


def _validate(model, loss, x, target, weight):
    """evaluate's figures: per-sample losses over the loss's own mean divisor, weighted
    (``sum(w cw[y])``, the targets' class weights for a class-weighted loss, as the training
    loss), and hits averaged over the samples' weights."""
    model.eval()
    _, _, losses, hits = _per_sample(model, loss, x, target)
    model.train()
    w = np.ones(len(target)) if weight is None else weight.astype(x.dtype).astype(np.float64)
    divisor = np.dot(w, _class_weights(loss, target))
    return float(np.dot(w, losses)) / divisor, float(np.dot(w, hits)) / w.sum()


def _reference_fit(case, model, loss, optimizer, schedule, data) -> dict:
    """fit by hand: the split and the permutations from fit's generator, the validation
    figures after each epoch, early stopping (patience 1) and the schedule on the monitored
    loss, the best weights restored at the end."""
    generator = np.random.default_rng(case["seed"])
    X, y, weight = data["dense"]
    train_idx, validation = np.arange(len(y)), None
    if case["validation"] == "fraction":
        train_idx, val_idx = stratified_split(y, 0.2, generator)
        validation = (X[val_idx], y[val_idx], None if weight is None else weight[val_idx])
    elif case["validation"] == "data":
        validation = data["dense_val"]
    history = {key: [] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}
    best, best_epoch, best_params, wait = math.inf, None, None, 0
    batch_size = case["sizes"][1]
    for epoch in range(1, EPOCHS + 1):
        history["lr"].append(optimizer.lr)
        order = train_idx[generator.permutation(len(train_idx))]
        sums = np.zeros(3)  # loss * weight, weight, hits
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            step = _batch_step(
                model, loss, optimizer, X[idx], y[idx],
                None if weight is None else weight[idx], case["l2_penalty"],
            )  # fmt: skip
            sums += (step[0] * step[1], step[1], step[2])
        history["train_loss"].append(sums[0] / sums[1])
        history["train_acc"].append(sums[2] / sums[1])
        monitored = history["train_loss"][-1]
        if validation is not None:
            val_loss, val_acc = _validate(model, loss, *validation)
            history["val_loss"].append(val_loss)
            history["val_acc"].append(val_acc)
            monitored = val_loss
        wait = wait + 1 if not monitored < best else 0
        if wait == 0:
            best, best_epoch = monitored, epoch
            best_params = {key: value.copy() for key, value in model.named_params().items()}
        stop = case["early_stopping"] and wait >= 1
        if schedule is not None:
            schedule.step(monitored)
            stop = stop or getattr(schedule, "should_stop", False) is True
        if stop:
            break
    if case["early_stopping"]:
        for key, value in model.named_params().items():
            np.copyto(value, best_params[key])
    return history | {"best_epoch": best_epoch, "steps": epoch * -(-len(train_idx) // batch_size)}


def _agree(actual, expected, steps, dtype, what):
    """Equal to ``ROUNDINGS * steps`` roundings of ``dtype``, relative to the largest magnitude
    (at least 1): the module docstring derives it."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if not expected.size:
        return
    tol = ROUNDINGS * steps * np.finfo(dtype).eps * max(1.0, float(np.max(np.abs(expected))))
    err = np.abs(actual - expected)
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    assert err[worst] <= tol, (
        f"{what}: expected {expected[worst]!r}, got {actual[worst]!r} at {worst} "
        f"(error {err[worst]:.3g} > {ROUNDINGS} x {steps} steps roundings = {tol:.3g})"
    )


def _train_both(case):
    """fit, and the hand-written loop on a deep copy of the same network (its Dropout layers'
    generators copied too: the same masks); returns both networks, fit's History, the loop's
    history and whether fit took the step plan."""
    data = _data(case)
    n_outputs = 1 if case["loss"].startswith("logistic") else 3
    model = build_mlp(
        4, case["hidden"], n_outputs, activation=case["activation"], dropout=case["dropout"],
        rng=case["seed"], dtype=case["dtype"],
    )  # fmt: skip
    by_hand = copy.deepcopy(model)
    loss, optimizer = _loss(case), _optimizer(case)
    X, y, weight = data["fit"]
    planned = StepPlan.build(model, loss, case["dtype"], case["sizes"][1], weight) is not None
    history = fit(
        model, loss, optimizer, X, y, epochs=EPOCHS, batch_size=case["sizes"][1],
        rng=case["seed"], sample_weight=weight, l2_penalty=case["l2_penalty"],
        validation_fraction=0.2 if case["validation"] == "fraction" else 0.0,
        validation_data=data["fit_val"] if case["validation"] == "data" else None,
        early_stopping=case["early_stopping"], patience=1,
        lr_schedule=_schedule(case, optimizer, len(y)),
    )  # fmt: skip
    loss, optimizer = _loss(case), _optimizer(case)
    schedule = _schedule(case, optimizer, len(y))
    expected = _reference_fit(case, by_hand, loss, optimizer, schedule, data)
    return model, by_hand, history, expected, planned


def _name(case):
    return "-".join(str(case[key]) for key in ("seed", "loss", "optimizer", "inputs"))


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_fit_trains_as_the_public_layers_by_hand(case, lane):
    model, by_hand, history, expected, _ = _train_both(case)
    dtype, steps = case["dtype"], expected["steps"]
    assert history.epochs == len(expected["train_loss"])
    assert history.best_epoch == expected["best_epoch"]
    assert history.lr == expected["lr"]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        recorded = [np.nan if value is None else value for value in getattr(history, key)]
        if case["validation"] is None and key.startswith("val"):
            assert all(np.isnan(recorded)), (key, recorded)
        else:
            _agree(recorded, expected[key], steps, dtype, key)
    for key, value in by_hand.named_params().items():
        _agree(model.named_params()[key], value, steps, dtype, key)


def test_the_cases_cover_every_option_on_both_routes():
    for name, values in OPTIONS.items():
        for value in values:
            assert sum(case[name] == value for case in CASES) >= 2, (name, value)
    routes = [_train_both(case)[4] for case in CASES]
    assert sum(routes) >= 8 and len(routes) - sum(routes) >= 8, sum(routes)
