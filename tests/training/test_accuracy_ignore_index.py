"""Accuracy with ignore_index: hits among the counted targets over the (weighted) count of the
counted targets. An ignored target is neither a hit nor counted, so ignoring 30% of the targets
(padding) no longer caps the accuracy at 0.7; a class weight of 0 still counts.

With lr 0 the weights never move, so every epoch's train_acc and val_acc is the accuracy of the
initial network, computed here by hand from its logits."""

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, LogSoftmax, NLLLoss, Sequential, build_mlp
from softgrad.optim import SGD
from softgrad.training import evaluate, fit
from softgrad.training.step_plan import StepPlan

N, D, C, IGNORED = 60, 4, 3, 2
# float64 figures summed in two orders (per batch, then over batches): a few roundings each
RTOL = N * np.finfo(np.float64).eps


def _problem():
    generator = np.random.default_rng(11)
    X = generator.normal(size=(N, D))
    y = generator.integers(0, C, size=N)
    assert 0.2 < np.mean(y == IGNORED) < 0.5  # a sizeable share of ignored targets
    return X, y, generator.uniform(0.0, 2.0, size=N)


def _by_hand(model, X, y, w, ignore_index):
    """sum(w_i [pred_i == y_i]) / sum(w_i) over the samples whose target is not ignored."""
    pred = np.argmax(model.forward(X), axis=1)
    counted = y != ignore_index
    return float(np.sum(w * ((pred == y) & counted)) / np.sum(w * counted))


def _planned_steps(monkeypatch):
    """A list that records each training step the step plan runs."""
    calls = []
    forward_loss = StepPlan.forward_loss

    def spy(plan, *args):
        calls.append(len(args[0]))
        return forward_loss(plan, *args)

    monkeypatch.setattr(StepPlan, "forward_loss", spy)
    return calls


# the routes a training step takes: the step plan (fused CrossEntropyLoss), the public forward
# and backward (fuse=False) with the fused loss kernel, the loss's separate passes (label
# smoothing, class weights), and a loss without forward_backward (NLLLoss)
ROUTES = {
    "plan": (lambda: CrossEntropyLoss(ignore_index=IGNORED), True, False),
    "public": (lambda: CrossEntropyLoss(ignore_index=IGNORED), False, False),
    "smoothing": (lambda: CrossEntropyLoss(ignore_index=IGNORED, label_smoothing=0.1), True, False),
    "class_weights": (
        lambda: CrossEntropyLoss(weight=[0.0, 1.0, 2.0], ignore_index=IGNORED),
        True,
        False,
    ),
    "nll": (lambda: NLLLoss(ignore_index=IGNORED), False, True),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_fit_accuracy_counts_only_the_targets_the_loss_does_not_ignore(
    monkeypatch, route, weighted
):
    make_loss, fuse, log_softmax = ROUTES[route]
    X, y, w = _problem()
    if not weighted:
        w = np.ones(N)
    model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
    scored = Sequential(*model.layers, fuse=fuse)
    network = Sequential(*scored.layers, LogSoftmax()) if log_softmax else scored
    planned = _planned_steps(monkeypatch)
    history = fit(
        network, make_loss(), SGD(lr=0.0), X, y, epochs=2, batch_size=16,
        sample_weight=w if weighted else None,
        validation_data=(X, y, w) if weighted else (X, y),
    )  # fmt: skip
    # the plan runs exactly on the fused route, with or without sample weights
    assert bool(planned) == (route == "plan")
    expected = _by_hand(scored, X, y, w, IGNORED)
    # the ignored third of the samples capped the accuracy at 1 - 0.37 before
    np.testing.assert_allclose(history.train_acc, [expected] * 2, rtol=RTOL)
    np.testing.assert_allclose(history.val_acc, [expected] * 2, rtol=RTOL)


def test_a_class_weight_of_zero_still_counts_for_accuracy():
    X, y, _ = _problem()
    model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(weight=[0.0, 1.0, 1.0])  # class 0 weighs nothing, none ignored
    history = fit(model, loss, SGD(lr=0.0), X, y, epochs=1, batch_size=16, validation_data=(X, y))
    expected = float(np.mean(np.argmax(model.forward(X), axis=1) == y))
    np.testing.assert_allclose(history.train_acc, [expected], rtol=RTOL)
    np.testing.assert_allclose(history.val_acc, [expected], rtol=RTOL)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_evaluate_divides_the_hits_by_the_counted_targets(weighted):
    X, y, w = _problem()
    if not weighted:
        w = np.ones(N)
    model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(ignore_index=IGNORED)
    _, accuracy = evaluate(model, X, y, loss, batch_size=16, sample_weight=w if weighted else None)
    np.testing.assert_allclose(accuracy, _by_hand(model, X, y, w, IGNORED), rtol=RTOL)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_with_every_target_ignored_the_accuracy_is_nan(weighted):
    # nothing to count: NaN, as for an epoch with no sample (not 0.0, which reads as "all
    # wrong"); the history stores it as None in JSON
    X, _, w = _problem()
    y = np.full(N, IGNORED)
    model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
    loss = CrossEntropyLoss(ignore_index=IGNORED)
    history = fit(
        model, loss, SGD(lr=0.1), X, y, epochs=1, batch_size=16,
        sample_weight=w if weighted else None,
        validation_data=(X, y, w) if weighted else (X, y),
    )  # fmt: skip
    assert np.isnan(history.train_acc[0]) and np.isnan(history.val_acc[0])
    assert history.to_dict()["train_acc"] == [None] and history.to_dict()["val_acc"] == [None]
    # the loss of an all-ignored set is 0, as the loss's own mean gives it
    assert history.train_loss == [0.0] and history.val_loss == [0.0]
    _, accuracy = evaluate(model, X, y, loss, sample_weight=w if weighted else None)
    assert np.isnan(accuracy)


def test_an_unignored_loss_keeps_the_accuracy_over_every_sample():
    X, y, _ = _problem()
    model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
    history = fit(
        model, CrossEntropyLoss(), SGD(lr=0.0), X, y, epochs=1, batch_size=16,
        validation_data=(X, y),
    )  # fmt: skip
    expected = float(np.mean(np.argmax(model.forward(X), axis=1) == y))
    np.testing.assert_allclose(history.train_acc, [expected], rtol=RTOL)
    np.testing.assert_allclose(history.val_acc, [expected], rtol=RTOL)


class _AloneOf:
    """Rank ``rank`` of ``size`` in an mpi4py stand-in whose Allreduce adds nothing: each
    step's figures are this rank's shard's alone."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def Allreduce(self, sendbuf, recvbuf, op):
        pass


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_the_ranks_shards_count_their_own_targets(weighted):
    # what the Allreduce sums: each rank's hits and counted weight over its shard; together
    # the global batch's figures (tests/distributed/test_mpi.py runs them under mpiexec)
    from softgrad.training.distributed import Communicator
    from softgrad.training.sharded import ShardedRunner

    X, y, w = _problem()
    idx = np.arange(N)
    figures = []
    for rank in range(3):
        model = build_mlp(D, [5], C, rng=0, dtype=np.float64)
        comm = Communicator(_AloneOf(rank, 3), object(), object())
        loss = CrossEntropyLoss(ignore_index=IGNORED)
        args = (model, loss, SGD(lr=0.0), X, y, w if weighted else None, N, 0.0)
        figures.append(ShardedRunner(comm, *args)._sharded_step(idx, 1, 1))
    _, weights, hits, counted = np.sum(figures, axis=0)
    if not weighted:
        w = np.ones(N)
    np.testing.assert_allclose(weights, 3 * np.sum(w), rtol=RTOL)  # each rank's: the batch's
    np.testing.assert_allclose(counted, np.sum(w * (y != IGNORED)), rtol=RTOL)
    np.testing.assert_allclose(hits / counted, _by_hand(model, X, y, w, IGNORED), rtol=RTOL)
