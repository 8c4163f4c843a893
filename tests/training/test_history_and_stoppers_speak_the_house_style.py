"""History.from_dict names the entry it refuses, in the form every message takes (a list of a
string ended in Python's "could not convert string to float: 'a'", naming nothing); the
early-stopping rules show their settings as their repr."""

import numpy as np
import pytest

from softgrad.training.history import History


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (["a"], "must be a list of numbers (None for NaN); got ['a']"),
        (5, "must be a list of numbers (None for NaN); got 5"),
        ([[1.0]], "must be a list of numbers (None for NaN); got [[1.0]]"),
        (np.zeros((1, 1)), "must be a 1-D float array; got float64 of shape (1, 1)"),
        (["x" * 100], "must be a list of numbers (None for NaN); got ['" + "x" * 75 + "..."),
    ],
)
def test_a_malformed_entry_is_named(value, got):
    saved = History(train_loss=[1.0], train_acc=[0.5], lr=[0.1], epoch_time=[0.1]).to_dict()
    saved["train_loss"] = value
    with pytest.raises(ValueError) as refused:
        History.from_dict(saved)
    assert str(refused.value) == f"History.from_dict: d['train_loss'] {got}"


def test_the_stoppers_show_their_settings():
    # the house's rule for a repr: the constructor's arguments (both showed <object at 0x...>)
    from softgrad.training.early_stopping import EarlyStopping, NoImprovementStopping

    stopper = EarlyStopping(patience=3, min_delta=0.5, restore_best=False)
    assert (
        repr(stopper)
        == "EarlyStopping(patience=3, min_delta=0.5, restore_best=False, enabled=True)"
    )
    assert repr(eval(repr(stopper), {"EarlyStopping": EarlyStopping})) == repr(stopper)
    sklearn_rule = NoImprovementStopping(1e-4, 10, monitor="val_score", mode="max")
    assert repr(sklearn_rule) == (
        "NoImprovementStopping(tol=0.0001, n_iter_no_change=10, monitor='val_score', mode='max', "
        "adaptive_lr=False)"
    )
