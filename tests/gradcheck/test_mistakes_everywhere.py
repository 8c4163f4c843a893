"""The classic wrong backwards of a softmax node and of a softmax cross-entropy node, over shapes
(one sample, two classes, one class), float32 and float64, logits of scale 1 to 1e3 and random
seeds: a right backward always passes, a wrong one always fails (unless it returns the right
numbers at that point), and when one mistake alone is named it is the one made.

Each node is written as a user writes it: forward in its own dtype, backward from its cache.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from softgrad.gradcheck import gradcheck
from softgrad.gradcheck.check import draw_cotangent


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# name -> (backward(s, x, g), the mistake it is, or None when no single key is the whole story)
SOFTMAX_BACKWARDS = {
    "right": (lambda s, x, g: s * (g - np.sum(g * s, axis=-1, keepdims=True)), None),
    "diagonal": (lambda s, x, g: g * s * (1 - s), "softmax_diagonal"),
    "sign": (lambda s, x, g: -s * (g - np.sum(g * s, axis=-1, keepdims=True)), "sign_flipped"),
    "input": (lambda s, x, g: x * (g - np.sum(g * x, axis=-1, keepdims=True)), "input_for_output"),
    "axis0": (lambda s, x, g: s * (g - np.sum(g * s, axis=0, keepdims=True)), "wrong_axis"),
    "times_n": (
        lambda s, x, g: len(s) * s * (g - np.sum(g * s, axis=-1, keepdims=True)),
        "constant_factor",
    ),
    "no_upstream": (lambda s, x, g: s * (1 - s), "upstream_ignored"),
}


class _Softmax:
    def __init__(self, dtype, mistake):
        self.dtype, self.mistake = dtype, mistake

    def forward(self, x):
        self.x = x.astype(self.dtype)
        self.s = _softmax(self.x)
        return self.s

    def backward(self, g):
        if self.mistake == "in_place":  # the right numbers, in the caller's array
            g -= np.sum(g * self.s, axis=-1, keepdims=True)
            g *= self.s
            return g
        return SOFTMAX_BACKWARDS[self.mistake][0](self.s, self.x, g.astype(self.dtype))


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _log_right(y, g, axis=-1):
    return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)


# name -> (backward(y, g) with y = log_softmax(x), the mistake it is)
LOG_SOFTMAX_BACKWARDS = {
    "right": (_log_right, None),
    "diagonal": (lambda y, g: g * (1 - np.exp(y)), "log_softmax_diagonal"),
    "as_softmax": (
        lambda y, g: np.exp(y) * (g - np.sum(g * np.exp(y), axis=-1, keepdims=True)),
        "log_softmax_as_softmax",
    ),
    "log_for_probs": (
        lambda y, g: g - y * np.sum(g, axis=-1, keepdims=True),
        "log_for_probabilities",
    ),
    "untransposed": (
        lambda y, g: g - np.sum(g * np.exp(y), axis=-1, keepdims=True),
        "jacobian_untransposed",
    ),
    "sign": (lambda y, g: -_log_right(y, g), "sign_flipped"),
    "axis0": (lambda y, g: _log_right(y, g, axis=0), "wrong_axis"),
}


class _LogSoftmax:
    def __init__(self, dtype, mistake):
        self.dtype, self.mistake = dtype, mistake

    def forward(self, x):
        self.y = _log_softmax(x.astype(self.dtype))
        return self.y

    def backward(self, g):
        return LOG_SOFTMAX_BACKWARDS[self.mistake][0](self.y, g.astype(self.dtype))


# name -> (grad(p, onehot, n), the mistake it is)
LOSS_BACKWARDS = {
    "right": (lambda p, onehot, n: (p - onehot) / n, None),
    "no_mean": (lambda p, onehot, n: p - onehot, "ce_missing_mean"),
    "mean_twice": (lambda p, onehot, n: (p - onehot) / n / n, "ce_mean_twice"),
    "sign": (lambda p, onehot, n: (onehot - p) / n, "sign_flipped"),
    "times_n": (lambda p, onehot, n: (p - onehot) * n, "constant_factor"),
    "mean_of_all": (lambda p, onehot, n: (p - onehot) / p.size, "constant_factor"),
    "by_probs": (lambda p, onehot, n: -onehot / (n * p), "wrong_argument"),  # d loss / d p
    # d[:, y] -= 1: column y of every row; and the indices y[:, None] for their one-hot rows
    "columns": (lambda p, onehot, n: (p - onehot.max(axis=0)) / n, "target_indexing"),
    "indices": (lambda p, onehot, n: (p - onehot.argmax(axis=1)[:, None]) / n, "target_indexing"),
}


class _SoftmaxCrossEntropy:
    """The mean cross-entropy of log_softmax(logits), finite for any finite logits."""

    def __init__(self, dtype, mistake):
        self.dtype, self.mistake = dtype, mistake

    def forward(self, logits, target):
        z = logits.astype(self.dtype)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.p, self.target = np.exp(log_p), target
        return -log_p[np.arange(len(target)), target].mean()

    def backward(self):
        onehot = np.eye(self.p.shape[1], dtype=self.dtype)[self.target]
        return LOSS_BACKWARDS[self.mistake][0](self.p, onehot, len(self.target))


def _float64_gradients(make, mistake, x, seed, *args):
    """The wrong and the right backward's gradients at x, in float64, for the cotangent the
    check draws with ``rng=seed`` (none for a loss)."""
    wrong, right = make(np.float64, mistake), make(np.float64, "right")
    wrong.forward(x.copy(), *args)
    y = right.forward(x.copy(), *args)
    g = () if args else (draw_cotangent(np.random.default_rng(seed), y, x),)
    with np.errstate(all="ignore"):
        return wrong.backward(*(v.copy() for v in g)), right.backward(*g)


# what the diagnosis states as seen (NaN in what backward returned), not a mistake it infers
FACTS = ("x_modified", "grad_y_modified", "backward_not_finite", "differences_not_finite")


def _assert_caught(result, key, gradients):
    wrong, right = gradients
    with np.errstate(invalid="ignore"):
        # an entry moved by twice the tolerance is beyond any rounding of the differences
        visible = ~(np.abs(wrong - right) <= 2 * (result.atol + result.rtol * np.abs(right)))
    if not visible.any():  # within the tolerance everywhere: nothing the check can see
        return
    assert not result.ok, str(result)
    named = [k for k in dict.fromkeys(result.mistakes) if k not in FACTS]
    if len(named) == 1 and key is not None:  # one mistake named: never a wrong one
        assert named == [key], str(result)


cases = st.tuples(
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from([(1, 1), (3, 1), (1, 2), (4, 2), (1, 10), (4, 10), (8, 3)]),
    st.sampled_from([1.0, 30.0, 1e3]),
    st.integers(0, 2**32 - 1),
)


# (node, its table, the mistake): the softmax's and the log-softmax's backwards, one draw each
NODE_MISTAKES = [
    *((_Softmax, SOFTMAX_BACKWARDS, m) for m in [*SOFTMAX_BACKWARDS, "in_place"]),
    *((_LogSoftmax, LOG_SOFTMAX_BACKWARDS, m) for m in LOG_SOFTMAX_BACKWARDS),
]


@settings(max_examples=300)
@given(cases, st.sampled_from(NODE_MISTAKES))
# the differences' rounding at logits near 1e3 moved -numeric past the match, and the flip was
# named "-1 times the right gradient" (constant_factor) instead of sign_flipped
@example((np.float64, (1, 2), 1e3, 3072780), (_LogSoftmax, LOG_SOFTMAX_BACKWARDS, "sign"))
def test_the_softmax_mistakes_fail_and_are_never_misnamed(case, node_mistake):
    dtype, shape, scale, seed = case
    node, table, mistake = node_mistake
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    result = gradcheck(node(dtype, mistake), x, rng=seed)
    if mistake == "right":
        assert result.ok, str(result)
        return
    if mistake == "in_place":
        assert result.failed() == ["grad_y"] and result.mistakes == ("grad_y_modified",)
        return
    gradients = _float64_gradients(node, mistake, x, seed)
    _assert_caught(result, table[mistake][1], gradients)


@settings(max_examples=200)
@given(cases, st.sampled_from(list(LOSS_BACKWARDS)))
def test_the_cross_entropy_mistakes_fail_and_are_never_misnamed(case, mistake):
    dtype, shape, scale, seed = case
    rng = np.random.default_rng(seed)
    x, target = rng.standard_normal(shape) * scale, rng.integers(0, shape[1], size=shape[0])
    result = gradcheck(_SoftmaxCrossEntropy(dtype, mistake), x, target=target, rng=seed)
    if mistake == "right":
        assert result.ok, str(result)
        return
    gradients = _float64_gradients(_SoftmaxCrossEntropy, mistake, x, seed, target)
    _assert_caught(result, LOSS_BACKWARDS[mistake][1], gradients)


def test_a_right_float32_cross_entropy_of_logits_near_1e3_passes():
    # the loss is near 1e3, rounded to 6e-5 in float32: its differences at eps=1e-2 were off by
    # 0.0093 at this point, beyond atol=5e-3 + 1e-2 * 0.134
    rng = np.random.default_rng(2)
    x, target = rng.standard_normal((8, 3)) * 1e3, rng.integers(0, 3, size=8)
    result = gradcheck(_SoftmaxCrossEntropy(np.float32, "right"), x, target=target, rng=2)
    assert result.ok, str(result)
    assert result.atol > 5e-3 and any("atol was raised" in note for note in result.notes)


def test_coarse_differences_name_no_mistake_rather_than_a_wrong_one():
    # float32 logits near 1e3: the differences are good to ~0.05 against entries of ~0.1, where
    # a gradient divided by N * C matched "divided by N twice" and "all zeros" alike
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((4, 10)) * 1e3, rng.integers(0, 10, size=4)
    result = gradcheck(_SoftmaxCrossEntropy(np.float32, "mean_of_all"), x, target=target, rng=0)
    assert not result.ok and result.mistakes == (), str(result)
    assert "x: central differences here are good to " in result.diagnosis
    float64 = gradcheck(_SoftmaxCrossEntropy(np.float64, "sign"), x, target=target, rng=0)
    assert float64.mistakes == ("sign_flipped",), str(float64)  # float64 is fine at 1e3


def test_coarse_float16_differences_say_why_and_what_makes_them_finer():
    # a float16 softmax's output is at most 1: the differences are coarse because float16 is,
    # so the advice is float64, and the output's size is given rather than called large
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((4, 10)), rng.integers(0, 10, size=4)
    result = gradcheck(_SoftmaxCrossEntropy(np.float16, "sign"), x, target=target, rng=0)
    assert not result.ok and result.mistakes == (), str(result)
    text = " ".join(result.diagnosis.split())
    assert "(forward's rounding in float16, of an output with ||g * y|| = " in text
    assert (
        "over the step eps = 0.1)" in text and "check the node in float64, or at another x" in text
    )


def test_a_float32_gradient_smaller_than_atol_is_not_called_zero():
    # (p - onehot) / (N * C) at one sample of 10 classes: 1.7e-3 at most, below float32's
    # atol=5e-3, which matched "all zeros" and named it; it is the right gradient over C, whose
    # two entries that matter ([a, -a]) fit any factor, so nothing is named
    rng = np.random.default_rng(18098)
    x, target = rng.standard_normal((1, 10)) * 30, rng.integers(0, 10, size=1)
    result = gradcheck(_SoftmaxCrossEntropy(np.float32, "mean_of_all"), x, target=target, rng=0)
    assert not result.ok and result.mistakes == (), str(result)
    assert "all zeros" not in result.diagnosis
