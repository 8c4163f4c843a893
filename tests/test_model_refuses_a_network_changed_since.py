"""A Model whose network was changed in place after it was made (a new head of another number
of outputs) refuses to predict, where it answered with the labels of its old classes (fewer
outputs) or failed in an IndexError (more)."""

import numpy as np
import pytest

import softgrad
from softgrad import nn

CALLS = {
    "predict": lambda model, X: model.predict(X),
    "predict_proba": lambda model, X: model.predict_proba(X),
    "predict_log_proba": lambda model, X: model.predict_log_proba(X),
    "decision_function": lambda model, X: model.decision_function(X),
    "predict_top": lambda model, X: model.predict_top(X, 2),
}


@pytest.mark.parametrize("outputs", [2, 4])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_new_head_of_another_width_is_refused(call, outputs, tmp_path):
    X = np.random.default_rng(0).standard_normal((300, 4)).astype(np.float32)
    net = nn.Sequential(nn.Linear(4, 5, rng=1), nn.ReLU(), nn.Linear(5, 3, rng=2))
    softgrad.Model(net, classes=np.array(["cat", "dog", "cow"])).save(tmp_path / "m.npz")
    model = softgrad.load(tmp_path / "m.npz")
    model.network.layers[2] = nn.Linear(5, outputs, rng=3)
    where = {"predict_top": "Model.predict_top"}.get(call, f"Model.{call}")
    match = (
        rf"^{where}: the network must give one output per class \(3\); got {outputs} \(its "
        r"layers changed since the Model was made\? make a new Model\(network, classes=\.\.\.\)\)$"
    )
    with pytest.raises(ValueError, match=match):
        CALLS[call](model, X)


def test_a_new_head_of_the_same_width_predicts_with_it(tmp_path):
    X = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    net = nn.Sequential(nn.Linear(4, 5, rng=1), nn.ReLU(), nn.Linear(5, 3, rng=2))
    model = softgrad.Model(net, classes=np.array(["cat", "dog", "cow"]))
    head = nn.Linear(5, 3, rng=9)
    model.network.layers[2] = head
    hidden = np.maximum(X @ net.layers[0].params["W"] + net.layers[0].params["b"], 0)
    logits = hidden @ head.params["W"] + head.params["b"]
    scores = model.decision_function(X)
    np.testing.assert_allclose(scores, logits, rtol=1e-5, atol=1e-5)  # float32, another order
    np.testing.assert_array_equal(model.predict(X), model.classes[np.argmax(scores, axis=1)])
