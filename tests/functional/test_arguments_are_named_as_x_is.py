"""Every array argument of every public function in softgrad.functional is checked as x is.

A masked array is refused, naming the function and the argument (np.asarray dropped the mask of
a target=, weight= or where= and read what it hid: a masked sample's hidden class counted, a
masked weight of 1e6 applied). Nested lists of unequal lengths are refused by name (a ragged
target= or where= raised NumPy's bare "setting an array element with a sequence"). A 0-d array
is refused naming its own argument (it said "x" in cross_entropy, nll_loss and softmax_vjp).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import softgrad.functional as F

LOGITS = np.array([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0]])
S = F.softmax(LOGITS)
CLASSES = np.array([1, 0])
PROBS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
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
ARRAY_ARGUMENTS = [(fn, arg) for fn, (kwargs, _) in CALLS.items() for arg in kwargs]
# probability targets go the other way through the checks than class indices
ARRAY_ARGUMENTS += [("cross_entropy", "probs"), ("cross_entropy_grad", "probs")]


def _call(fn: str, arg: str, value) -> None:
    kwargs = dict(CALLS[fn][0])
    if arg == "probs":
        arg, kwargs["target"] = "target", PROBS
    kwargs[arg] = value(kwargs[arg])
    getattr(F, fn)(**kwargs)


def test_the_table_holds_every_public_function():
    assert sorted(CALLS) == sorted(F.__all__)
    for fn, (kwargs, _) in CALLS.items():
        getattr(F, fn)(**kwargs)  # the table's calls are valid ones


@pytest.mark.parametrize(("fn", "arg"), ARRAY_ARGUMENTS)
def test_a_masked_array_is_refused_by_name(fn, arg):
    name = "target" if arg == "probs" else arg
    with pytest.raises(
        TypeError, match=rf"^{fn}: {name} must not be a masked array \(its mask would be ignored\)"
    ):
        _call(fn, arg, lambda a: np.ma.masked_array(a, mask=np.zeros(np.shape(a), bool)))


@pytest.mark.parametrize(("fn", "arg"), ARRAY_ARGUMENTS)
def test_nested_lists_of_unequal_lengths_are_named(fn, arg):
    name = "target" if arg == "probs" else arg

    def ragged(a):
        rows = np.asarray(a).tolist()
        return [rows[0], [*rows[0], rows[0][0]]] if np.ndim(a) > 1 else [[a[0]], a.tolist()]

    pattern = (
        rf"^{fn}: {name} must be a rectangular array of numbers; got nested lists of unequal "
        rf"lengths: {re.escape(name)}\[1\] is a list of"
    )
    with pytest.raises(ValueError, match=pattern):
        _call(fn, arg, ragged)


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


def test_masked_targets_weights_and_masks_are_no_longer_read_unmasked():
    # the audit's cases: each gave a number computed from what the mask hid
    masked_target = np.ma.masked_array([1, 0], mask=[False, True])
    with pytest.raises(TypeError, match=r"ignore_index=-100 leaves its masked samples out"):
        F.cross_entropy(LOGITS, masked_target, reduction="none")
    masked_weight = np.ma.masked_array([1.0, 1e6, 1.0], mask=[False, True, False])
    with pytest.raises(TypeError, match=r"^cross_entropy: weight must not be a masked array"):
        F.cross_entropy(LOGITS, CLASSES, weight=masked_weight)
    masked_where = np.ma.masked_array([True, True, True], mask=[False, True, False])
    with pytest.raises(TypeError, match=r"pass where\.filled\(False\)"):
        F.softmax(LOGITS[0], where=masked_where)


def test_the_suggested_fixes_give_what_the_masks_meant():
    target = np.ma.masked_array([1, 0], mask=[False, True])
    kept = F.cross_entropy(LOGITS, target.filled(-100), ignore_index=-100, reduction="none")
    np.testing.assert_array_equal(kept[1], 0.0)
    where = np.ma.masked_array([True, True, True], mask=[False, True, False])
    np.testing.assert_array_equal(F.softmax(LOGITS[0], where=where.filled(False)), [0.5, 0.0, 0.5])
