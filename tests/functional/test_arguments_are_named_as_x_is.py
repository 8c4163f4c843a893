"""Every array argument of every public function in softgrad.functional is checked as x is.

A 0-d array is refused naming its own argument (it said "x" in cross_entropy, nll_loss and
softmax_vjp).
"""

from __future__ import annotations

import numpy as np
import pytest

import softgrad.functional as F

LOGITS = np.array([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
S = F.softmax(LOGITS)
CLASSES = np.array([1, 0])
WEIGHT = np.array([1.0, 2.0, 1.0])
WHERE = np.array([True, True, False])

# each public function: a valid call's array arguments, and whether it takes an axis
CALLS = {
    "softmax": (dict(x=LOGITS, where=WHERE), True),
    "log_softmax": (dict(x=LOGITS, where=WHERE), True),
    "logsumexp": (dict(x=LOGITS, where=WHERE), True),
    "softmax_jacobian": (dict(x=LOGITS), True),
    "log_softmax_jacobian": (dict(x=LOGITS), True),
    "softmax_vjp": (dict(s=S, g=LOGITS), True),
    "softmax_jvp": (dict(s=S, v=LOGITS), True),
    "log_softmax_vjp": (dict(logp=np.log(S), g=LOGITS), True),
    "log_softmax_jvp": (dict(logp=np.log(S), v=LOGITS), True),
    "cross_entropy": (dict(logits=LOGITS, target=CLASSES, weight=WEIGHT), True),
    "cross_entropy_grad": (dict(logits=LOGITS, target=CLASSES, weight=WEIGHT), True),
    "nll_loss": (dict(logp=np.log(S), target=CLASSES, weight=WEIGHT), True),
    "nll_loss_grad": (dict(logp=np.log(S), target=CLASSES, weight=WEIGHT), True),
    "relu": (dict(x=LOGITS), False),
    "relu_vjp": (dict(y=LOGITS, g=LOGITS), False),
    "sigmoid": (dict(x=LOGITS), False),
    "sigmoid_vjp": (dict(s=S, g=LOGITS), False),
    "tanh": (dict(x=LOGITS), False),
    "tanh_vjp": (dict(t=S, g=LOGITS), False),
}


def test_the_table_holds_every_public_function():
    assert sorted(CALLS) == sorted(F.__all__)
    for fn, (kwargs, _) in CALLS.items():
        getattr(F, fn)(**kwargs)  # the table's calls are valid ones


@pytest.mark.parametrize("fn", [fn for fn, (_, has_axis) in CALLS.items() if has_axis])
def test_a_0d_array_is_refused_naming_its_argument(fn):
    kwargs = {name: np.float64(1.0) for name in CALLS[fn][0]}
    kwargs.pop("where", None)
    kwargs.pop("weight", None)
    if "target" in kwargs:
        kwargs["target"] = np.array(0)
    first = next(iter(kwargs))
    with pytest.raises(ValueError, match=rf"^{fn}: {first} must have at least 1 dimension"):
        getattr(F, fn)(**kwargs)
