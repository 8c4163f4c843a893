"""A callback may change the loss between two epochs (or batches). The step plan reads the
loss's settings at every step (``StepPlan.ready``); the public route must read them too, or
the same fit trains one way for a plain MLP and another for any other network."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, LogisticLoss, Sequential, build_mlp
from softgrad.optim import SGD
from softgrad.training import Callback, fit


class _ChangeLoss(Callback):
    """At the end of epoch 1, set ``loss.<name> = value``."""

    def __init__(self, loss, name, value):
        self.loss, self.name, self.value = loss, name, value

    def on_epoch_end(self, state):
        if state.epoch == 1:
            setattr(self.loss, self.name, self.value)


def _fit(fuse, make_loss, n_outputs, change, weighted):
    """Three epochs of float64 SGD through the plan (``fuse=True``) or through the layers'
    public methods (``fuse=False``: the same network, no plan)."""
    generator = np.random.default_rng(5)
    X = generator.normal(size=(60, 3))
    y = generator.integers(0, max(2, n_outputs), size=60)
    model = build_mlp(3, [6], n_outputs, activation="tanh", rng=0, dtype=np.float64)
    if not fuse:
        model = Sequential(*model.layers, fuse=False)
    loss = make_loss()
    history = fit(
        model, loss, SGD(lr=0.3), X, y, epochs=3, batch_size=16, rng=1,
        sample_weight=generator.random(60) if weighted else None,
        callbacks=[_ChangeLoss(loss, *change)],
    )  # fmt: skip
    return model, history


@pytest.mark.parametrize(
    ("make_loss", "n_outputs", "change", "weighted"),
    [
        # the weighted public step used a reduction-"none" copy of the loss made before training
        (LogisticLoss, 1, ("label_smoothing", 0.4), True),
        (LogisticLoss, 1, ("max_sample_loss", 0.3), True),
        # the public step read the reduction once: a loss switched to "sum" was reported as
        # batch totals, not divided by the batch size as fit's docstring says
        (CrossEntropyLoss, 3, ("reduction", "sum"), False),
    ],
    ids=["logistic-smoothing", "logistic-cap", "cross-entropy-sum"],
)
def test_a_loss_changed_by_a_callback_trains_alike_with_and_without_the_plan(
    make_loss, n_outputs, change, weighted
):
    planned, planned_history = _fit(True, make_loss, n_outputs, change, weighted)
    public, public_history = _fit(False, make_loss, n_outputs, change, weighted)
    # 12 float64 steps of the same products, each with a few roundings of its own (the fused
    # loss kernel sums in another order): 8 roundings a step, as test_plan_matches_the_layers
    tol = 8 * 12 * np.finfo(np.float64).eps
    np.testing.assert_allclose(public_history.train_loss, planned_history.train_loss, rtol=tol)
    for key, value in planned.named_params().items():
        np.testing.assert_allclose(public.named_params()[key], value, rtol=tol, atol=tol)


def test_a_loss_switched_to_sum_reports_the_mean_of_its_batches():
    """The changed epochs' loss is still per sample: the same weights give the same figure
    as the mean reduction gives (lr 0: no step moves them)."""
    generator = np.random.default_rng(2)
    X, y = generator.normal(size=(40, 3)), generator.integers(0, 3, size=40)
    model = Sequential(*build_mlp(3, [5], 3, rng=0, dtype=np.float64).layers, fuse=False)
    loss = CrossEntropyLoss()
    history = fit(
        model, loss, SGD(lr=0.0), X, y, epochs=2, batch_size=8,
        callbacks=[_ChangeLoss(loss, "reduction", "sum")],
    )  # fmt: skip
    np.testing.assert_allclose(history.train_loss[1], history.train_loss[0], rtol=1e-14)
