"""nn's losses refuse a masked array where softgrad.functional does: NLLLoss.forward's input
and target, and CrossEntropyLoss's class weights. np.asarray dropped the mask, so a masked
sample's hidden class was counted and a masked weight (1e6) applied, without a word."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.nn import CrossEntropyLoss, NLLLoss

LOGP = np.log(np.full((2, 3), 1 / 3))


@pytest.mark.parametrize(
    ("call", "argument", "fix"),
    [
        (lambda: NLLLoss().forward(LOGP, np.ma.array([1, 0], mask=[0, 1])), "target",
         "target.filled(value); for class indices, target.filled(-100) with ignore_index=-100 "
         "leaves its masked samples out"),
        (lambda: NLLLoss().forward(np.ma.array(LOGP), [1, 0]), "x", "x.filled(value)"),
        (lambda: CrossEntropyLoss(weight=np.ma.array([1.0, 1e6, 1.0], mask=[0, 1, 0])),
         "weight", "weight.filled(value)"),
    ],
    ids=["nll-target", "nll-input", "cross-entropy-weight"],
)  # fmt: skip
def test_a_masked_array_is_refused_naming_the_argument(call, argument, fix):
    where = "CrossEntropyLoss" if argument == "weight" else "NLLLoss.forward"
    with pytest.raises(TypeError) as err:
        call()
    assert str(err.value) == (
        f"{where}: {argument} must not be a masked array (its mask would be ignored); pass {fix}"
    )


def test_plain_arrays_are_taken_as_before():
    assert NLLLoss().forward(LOGP, [1, 0]) == pytest.approx(np.log(3))
    loss = CrossEntropyLoss(weight=[1.0, 2.0, 1.0])
    assert loss.forward(np.zeros((2, 3)), [1, 0]) == pytest.approx(np.log(3))
