"""The options of softgrad's functions, losses and optimizers that PyTorch places elsewhere
are keyword-only: a PyTorch habit of passing them by position fails at the call, naming it,
instead of binding to another option (``Adam(lr, betas, eps, weight_decay, True)`` is
torch's ``amsgrad=True``, and was softgrad's ``fold_bias_correction=True``)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from softgrad import functional as F
from softgrad import nn, optim

# the parameters each may take by position: torch's where softgrad's match them (x, target,
# axis for the functions; lr, momentum for SGD; lr, betas, eps, weight_decay for Adam/AdamW)
POSITIONAL = {
    F.softmax: ("x", "axis"),
    F.log_softmax: ("x", "axis"),
    F.logsumexp: ("x", "axis"),
    F.softmax_vjp: ("s", "g", "axis"),
    F.softmax_jvp: ("s", "v", "axis"),
    F.log_softmax_vjp: ("logp", "g", "axis"),
    F.log_softmax_jvp: ("logp", "v", "axis"),
    F.cross_entropy: ("logits", "target", "axis"),
    F.cross_entropy_grad: ("logits", "target", "axis"),
    F.nll_loss: ("logp", "target", "axis"),
    F.nll_loss_grad: ("logp", "target", "axis"),
    nn.CrossEntropyLoss: (),
    nn.NLLLoss: (),
    nn.LogisticLoss: (),
    optim.SGD: ("lr", "momentum"),
    optim.Adam: ("lr", "betas", "eps", "weight_decay"),
    optim.AdamW: ("lr", "betas", "eps", "weight_decay"),
}


@pytest.mark.parametrize("func", list(POSITIONAL), ids=lambda f: f.__name__)
def test_only_the_leading_parameters_take_a_position(func):
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "self"]
    positional = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    assert positional == POSITIONAL[func]
    rest = [p for p in params if p.kind is not p.POSITIONAL_OR_KEYWORD]
    assert rest and all(p.kind is p.KEYWORD_ONLY for p in rest), rest


def test_torchs_positional_habits_fail_at_the_call():
    x, t = np.zeros((2, 3)), np.array([0, 2])
    with pytest.raises(TypeError, match=r"cross_entropy\(\) takes from 2 to 3 positional"):
        F.cross_entropy(x, t, -1, "sum")
    with pytest.raises(TypeError, match=r"__init__\(\) takes 1 positional argument but 2"):
        nn.CrossEntropyLoss(np.ones(3))  # torch's CrossEntropyLoss(weight)
    with pytest.raises(TypeError, match=r"__init__\(\) takes from 1 to 5 positional"):
        optim.Adam(1e-3, (0.9, 0.999), 1e-8, 0.0, True)  # torch's amsgrad
    with pytest.raises(TypeError, match=r"__init__\(\) takes from 1 to 3 positional"):
        optim.SGD(0.1, 0.9, 0.0, 1e-4)  # torch's dampening, weight_decay


def test_the_options_by_keyword_compute_what_they_did():
    x = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    t = np.array([1, 2])
    got = F.cross_entropy(x, t, 1, reduction="sum", weight=[1.0, 2.0, 0.5])
    logp = F.log_softmax(x, 1)
    np.testing.assert_allclose(got, -(2.0 * logp[0, 1] + 0.5 * logp[1, 2]), rtol=1e-15)
    assert optim.Adam(1e-3, (0.8, 0.9), 1e-6, 0.1, fold_bias_correction=True).fold_bias_correction
