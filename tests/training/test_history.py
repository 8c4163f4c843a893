import json
import math

import pytest

from softgrad.training import History


def _history():
    h = History()
    h.append(train_loss=1.5, train_acc=0.4, lr=0.1, epoch_time=0.25, val_loss=1.6, val_acc=0.35)
    h.append(train_loss=0.9, train_acc=0.7, lr=0.05, epoch_time=0.2, val_loss=1.1, val_acc=0.6)
    h.best_epoch = 2
    h.stopped_early = True
    h.stop_reason = "early_stopping"
    return h


def test_to_dict_is_strict_json_and_round_trips():
    h = _history()
    text = json.dumps(h.to_dict(), allow_nan=False)
    back = History.from_dict(json.loads(text))
    assert back == h
    assert back.epochs == 2
    assert back.monitored_loss == [1.6, 1.1]


def test_monitored_loss_is_train_loss_without_validation():
    h = History()
    h.append(train_loss=0.5, train_acc=0.9, lr=0.1, epoch_time=0.1)
    assert h.val_loss == [] and h.val_acc == []
    assert h.monitored_loss == [0.5]


def test_non_finite_values_become_none_then_nan():
    h = History()
    h.append(train_loss=math.inf, train_acc=0.1, lr=0.1, epoch_time=0.1)
    d = h.to_dict()
    assert d["train_loss"] == [None]
    json.dumps(d, allow_nan=False)
    assert math.isnan(History.from_dict(d).train_loss[0])


def test_from_dict_rejects_bad_input():
    with pytest.raises(TypeError, match=r"History\.from_dict: d must be a dict"):
        History.from_dict([1, 2])
    with pytest.raises(ValueError, match="must have the keys"):
        History.from_dict({"train_loss": []})
    d = _history().to_dict()
    d["stop_reason"] = "bored"
    with pytest.raises(ValueError, match="stop_reason must be one of"):
        History.from_dict(d)
