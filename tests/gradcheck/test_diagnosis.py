"""Each wrong node of the gallery is diagnosed as its mistake and no other; the right ones pass.

The gallery (tests/gradcheck/gallery/) holds plain classes written as a student writes them, with
no softgrad import. x has N = 4 samples and C = 10 classes (3 features for the linear nodes), so
that N, C, 2 and their reciprocals are different numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.gradcheck import check_adjoint, gradcheck
from softgrad.gradcheck.mistakes import MISTAKES, Evidence, matching_mistakes

N, C, D = 4, 10, 3

NO_MEAN = ("ce_missing_mean", "x", "without the 1/N")

# (module, class, constructor args, x shape, target kind, mistake key, failed quantity, words)
WRONG = [
    (
        "softmax_nodes",
        "SoftmaxDiagonal",
        (),
        (N, C),
        None,
        "softmax_diagonal",
        "x",
        "g * s * (1 - s)",
    ),
    ("softmax_nodes", "SoftmaxDiagonal", (), (2, 3, 5), None, "softmax_diagonal", "x", "diagonal"),
    (
        "softmax_nodes",
        "SoftmaxWithInput",
        (),
        (N, C),
        None,
        "input_for_output",
        "x",
        "x * (g - sum(g * x))",
    ),
    (
        "activation_nodes",
        "SigmoidWithInput",
        (),
        (N, C),
        None,
        "input_for_output",
        "x",
        "g * x * (1 - x)",
    ),
    (
        "activation_nodes",
        "TanhWithInput",
        (),
        (N, C),
        None,
        "input_for_output",
        "x",
        "g * (1 - x**2)",
    ),
    (
        "softmax_nodes",
        "SoftmaxSignFlipped",
        (),
        (N, C),
        None,
        "sign_flipped",
        "x",
        "minus the right",
    ),
    ("softmax_nodes", "SoftmaxTimesTwo", (), (N, C), None, "constant_factor", "x", "2 times"),
    ("activation_nodes", "Square", (), (N, C), None, "constant_factor", "x", "1/2 times"),
    (
        "loss_nodes",
        "HalfSquaredError",
        (),
        (N, C),
        "values",
        "constant_factor",
        "x",
        "4 (= N, N = 4 the batch size) times",
    ),
    (
        "softmax_nodes",
        "SoftmaxSumOverBatch",
        (),
        (N, C),
        None,
        "wrong_axis",
        "x",
        "over axis 0 (the batch) instead of axis -1 (the classes)",
    ),
    (
        "softmax_nodes",
        "SoftmaxSummedOverAnotherAxis",
        (0, -1),
        (C, N),
        None,
        "wrong_axis",
        "x",
        "over axis -1 (the batch) instead of axis 0 (the classes)",
    ),
    (
        "softmax_nodes",
        "SoftmaxSummedOverAnotherAxis",
        (1, 0),
        (N, C, 3),
        None,
        "wrong_axis",
        "x",
        "over axis 0 (the batch) instead of axis 1 (the classes)",
    ),
    (
        "linear_nodes",
        "LinearBiasWrongAxis",
        (D, 2),
        (N, D),
        None,
        "wrong_axis",
        "b",
        "axis -1 (the features)",
    ),
    (
        "linear_nodes",
        "LinearTransposedDW",
        (D, 2),
        (N, D),
        None,
        "transposed_weight",
        "W",
        "transpose of dW, shape (2, 3)",
    ),
    (
        "linear_nodes",
        "LinearTransposedW",
        (D, D),
        (N, D),
        None,
        "transposed_weight",
        "x",
        "g @ W, with W transposed",
    ),
    (
        "loss_nodes",
        "SoftmaxCrossEntropyNoMean",
        (),
        (N, C),
        "classes",
        "ce_missing_mean",
        "x",
        "without the 1/N",
    ),
    (
        "loss_nodes",
        "SoftmaxCrossEntropyMeanTwice",
        (),
        (N, C),
        "classes",
        "ce_mean_twice",
        "x",
        "/ N / N, N = 4",
    ),
    (
        "loss_nodes",
        "SequenceCrossEntropyOverBatch",
        (),
        (N, 5, C),
        "classes",
        "constant_factor",
        "x",
        "5 times the right gradient: it divides by 4 (axis 0's length) where the mean over all "
        "N = 20 rows of x (4 x 5, every axis but the classes) divides by 20",
    ),
    (
        "loss_nodes",
        "MeanSquaredError",
        (),
        (N, C),
        "values",
        "constant_factor",
        "x",
        "40 (= E, E = 40 the entries of x) times the right gradient; a 1/E (a mean over every "
        "entry, as a mean squared error's) is missing",
    ),
    (
        "loss_nodes",
        "SoftmaxCrossEntropyColumns",
        (),
        (N, C),
        "classes",
        "target_indexing",
        "x",
        "d[:, y] -= 1, which takes 1 from column y of every row, where d[np.arange(N), y] -= 1 "
        "belongs.",
    ),
    (
        "loss_nodes",
        "SoftmaxCrossEntropyIndicesAsOneHot",
        (),
        (N, C),
        "classes",
        "target_indexing",
        "x",
        "softmax(x) - y[:, None], the class indices where their one-hot rows belong.",
    ),
    (
        "linear_nodes",
        "LinearBiasNotSummed",
        (D, 2),
        (N, D),
        None,
        "bias_not_summed",
        "b",
        "grad_y itself",
    ),
    ("activation_nodes", "TanhPlaceholder", (), (N, C), None, "zero_gradient", "x", "all zeros"),
    (
        "linear_nodes",
        "LinearReturnsDW",
        (N, N),
        (N, N),
        None,
        "wrong_argument",
        "x",
        "the gradient with respect to W, not x",
    ),
    (
        "loss_nodes",
        "SoftmaxCrossEntropyByProbs",
        (),
        (N, C),
        "classes",
        "wrong_argument",
        "x",
        "with respect to the probabilities, not the logits x",
    ),
    # log(y + 1e-7) in the loss (the textbook's): recognised as the cross-entropy all the same
    *[
        ("loss_nodes", "SoftmaxWithLossNoMean", (), shape, "classes", *NO_MEAN)
        for shape in [(N, C), (N, 1000)]
    ],
    # float32 forwards: checked at the step and tolerances chosen for float32, still named
    ("float32_nodes", "Softmax32Diagonal", (), (N, C), None, "softmax_diagonal", "x", "diagonal"),
    ("float32_nodes", "Softmax32WithInput", (), (N, C), None, "input_for_output", "x", "with x"),
    ("float32_nodes", "Softmax32SignFlipped", (), (N, C), None, "sign_flipped", "x", "minus"),
    ("float32_nodes", "SoftmaxCrossEntropy32NoMean", (), (N, C), "classes", *NO_MEAN),
    # a float32 forward blurs the fitted factor to ~1e-5: still named as N or 1/N
    (
        "float32_nodes",
        "SoftmaxCrossEntropy32SumDividedByN",
        (),
        (N, C),
        "classes",
        "constant_factor",
        "x",
        "1/4 (= 1/N, N = 4 the batch size) times the right gradient; divided by N once too often",
    ),
    ("float32_nodes", "Softmax32TimesN", (), (N, C), None, "constant_factor", "x", "4 (= N, N = 4"),
]

RIGHT = [
    ("softmax_nodes", "Softmax", (), (N, C), None),
    ("softmax_nodes", "Softmax", (), (2, 3, 5), None),
    ("activation_nodes", "Sigmoid", (), (N, C), None),
    ("activation_nodes", "Tanh", (), (N, C), None),
    ("linear_nodes", "Linear", (D, 2), (N, D), None),
    ("linear_nodes", "LinearGradNames", (D, 2), (N, D), None),
    ("linear_nodes", "LinearParamsDict", (D, 2), (N, D), None),
    ("loss_nodes", "SoftmaxCrossEntropy", (), (N, C), "classes"),
    ("loss_nodes", "SoftmaxWithLoss", (), (N, C), "classes"),
    ("softmax_nodes", "SoftmaxPurePython", (), (C,), None),  # lists in and out
    ("stateful_nodes", "StackedTanh", (), (N, C), None),
    ("stateful_nodes", "NoisyScale", (), (N, C), None),
    ("stateful_nodes", "SoftmaxPreallocated", (), (N, C), None),
    ("float32_nodes", "Softmax32", (), (N, C), None),
    ("float32_nodes", "Softmax32", (), (2, 3, 5), None),
    ("float32_nodes", "Tanh32", (), (N, C), None),
    ("float32_nodes", "Sigmoid32", (), (N, C), None),
    ("float32_nodes", "Linear32", (D, 2), (N, D), None),
    ("float32_nodes", "SoftmaxCrossEntropy32", (), (N, C), "classes"),  # an np.float32 loss
    ("loss_nodes", "SequenceCrossEntropy", (), (N, 5, C), "classes"),
]


def _point(shape, target_kind, rng):
    x = rng.standard_normal(shape)
    if target_kind == "classes":
        return x, rng.integers(0, shape[-1], size=shape[:-1])
    if target_kind == "values":
        return x, rng.standard_normal(shape)
    return x, None


def _id(case):
    return f"{case[1]}-{'x'.join(map(str, case[3]))}"


@pytest.mark.parametrize("case", WRONG, ids=[_id(c) for c in WRONG])
def test_each_wrong_node_is_diagnosed_as_its_mistake_and_no_other(case, gallery, rng):
    module, name, args, shape, target_kind, key, quantity, words = case
    x, target = _point(shape, target_kind, rng)
    result = gradcheck(gallery(module, name, *args), x, target=target, rng=rng)
    assert not result.ok
    assert result.failed() == [quantity], str(result)
    assert result.mistakes == (key,), str(result)
    title = next(m.title for m in MISTAKES if m.key == key)
    assert result.diagnosis.startswith(f"{quantity}: {title}: backward computes "), result.diagnosis
    assert words in result.diagnosis, result.diagnosis
    assert "\ndiagnosis:\n" in str(result) and title in " ".join(str(result).split())


@pytest.mark.parametrize("case", RIGHT, ids=[_id(c) for c in RIGHT])
def test_the_right_nodes_pass(case, gallery, rng):
    module, name, args, shape, target_kind = case
    x, target = _point(shape, target_kind, rng)
    result = gradcheck(gallery(module, name, *args), x, target=target, rng=rng)
    assert result.ok, str(result)
    assert result.diagnosis is None and result.mistakes == ()
    assert "diagnosis" not in str(result)


def test_the_diagnosis_gives_the_right_formula(gallery, rng):
    result = gradcheck(gallery("softmax_nodes", "SoftmaxDiagonal"), rng.standard_normal((N, C)))
    assert result.diagnosis.endswith(
        "\n  The right gradient is s * (g - sum(g * s, axis=-1, keepdims=True)), "
        "from J = diag(s) - s s^T."
    )
    sigmoid = gradcheck(
        gallery("activation_nodes", "SigmoidWithInput"), rng.standard_normal((N, C))
    )
    assert "g * s * (1 - s), with s = sigmoid(x) the output" in sigmoid.diagnosis
    loss = gradcheck(
        gallery("loss_nodes", "SoftmaxCrossEntropyNoMean"),
        rng.standard_normal((N, C)),
        target=rng.integers(0, C, size=N),
    )
    assert "(softmax(x) - onehot(target)) / N, N = 4" in loss.diagnosis
    sequence = gradcheck(
        gallery("loss_nodes", "SequenceCrossEntropyOverBatch"),
        rng.standard_normal((N, 5, C)),
        target=rng.integers(0, C, size=(N, 5)),
    )
    assert sequence.diagnosis.endswith(
        "/ N, N = 20 the rows of x (4 x 5, every axis but the classes)."
    ), sequence.diagnosis


# the table's entries that cannot apply to each forward's input gradient
NOT_FOR = {
    "softmax": (
        "transposed_weight",
        "bias_not_summed",
        "ce_missing_mean",
        "ce_mean_twice",
        "target_indexing",
        "wrong_argument",  # no other argument, and no cross-entropy
        "log_softmax_diagonal",
        "log_softmax_as_softmax",
        "log_for_probabilities",
        "jacobian_untransposed",  # the softmax's Jacobian is symmetric
    ),
    "log_softmax": (
        "softmax_diagonal",
        "input_for_output",
        "transposed_weight",
        "bias_not_summed",
        "ce_missing_mean",
        "ce_mean_twice",
        "target_indexing",
        "wrong_argument",
    ),
}


@pytest.mark.parametrize("forward", ["softmax", "log_softmax"])
def test_each_mistake_of_the_table_is_reproduced_by_its_own_prediction(forward, rng):
    # every wrong backward built from the table matches exactly that table entry
    from softgrad import functional as F
    from softgrad.gradcheck.forward_ops import recognise

    x, g = rng.standard_normal((N, C)), rng.standard_normal((N, C))
    y = F.softmax(x) if forward == "softmax" else F.log_softmax(x)
    s = np.exp(x - x.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    if forward == "softmax":
        right = s * (g - np.sum(g * s, axis=1, keepdims=True))
    else:
        right = g - s * np.sum(g, axis=1, keepdims=True)
    op = recognise(x, y, g, None)
    assert op is not None and op.name == forward and np.allclose(op.right, right)
    for mistake in MISTAKES:
        # the factor is fitted to the user's gradient: give it one that is 3 times too large;
        # "all zeros" is predicted for a gradient that is zeros
        user = {"constant_factor": 3 * right, "zero_gradient": 0 * right}.get(mistake.key, right)
        predictions = mistake.predict(Evidence("x", user, right, x, g, op))
        assert bool(predictions) != (mistake.key in NOT_FOR[forward]), mistake.key
        for predicted, _ in predictions:
            found = matching_mistakes(Evidence("x", predicted, right, x, g, op))
            assert [m.key for m, _ in found] == [mistake.key], (mistake.key, found)


class _RowZeroWrong:
    """A tanh whose backward is wrong in the first sample only (no known mistake)."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_y):
        grad_x = grad_y * (1 - self.out**2)
        grad_x[0] += 0.5 * np.roll(grad_y[0], 1)  # d y[0, j] / d x[0, j+1]: off the diagonal
        return grad_x


class _MixesSamples:
    """A tanh whose backward leaks a little of every sample into the others."""

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_y):
        grad_x = grad_y * (1 - self.out**2)
        return grad_x + 0.3 * grad_x.mean(axis=0)


def test_when_nothing_matches_the_hints_say_where_the_error_is(rng):
    x = rng.standard_normal((N, 5))
    result = gradcheck(_RowZeroWrong(), x, rng=rng)
    assert result.mistakes == ()
    text = result.diagnosis
    assert text.startswith("no known mistake matches; wrong: x. Where the error is:")
    assert "x: worst entries [0, " in text and "wrong in rows 0 of 4" in text
    # the error is off the diagonal, inside sample 0, never across samples
    assert "on the diagonal 0 of 20, off the diagonal within a sample 5 of 80" in text
    assert "across samples (backward mixes the batch) 0 of 300" in text
    mixed = gradcheck(_MixesSamples(), x, rng=rng).diagnosis
    assert "wrong in every row (all 4)" in mixed
    assert "across samples (backward mixes the batch) 0 of" not in mixed


def test_the_hints_name_parameters_and_input_apart(rng):
    class SkewedLinear:
        def __init__(self):
            self.W = np.arange(6.0).reshape(3, 2) / 6

        def forward(self, x):
            self.x = x
            return x @ self.W

        def backward(self, grad_y):
            self.dW = self.x.T @ grad_y
            self.dW[1, 0] += 1.0
            return grad_y @ self.W.T

    result = gradcheck(SkewedLinear(), rng.standard_normal((N, 3)), rng=rng)
    assert result.failed() == ["W"] and result.mistakes == ()
    assert "wrong: W; right: x." in result.diagnosis
    assert (
        "W: worst entries [1, 0]" in result.diagnosis and "wrong in rows 1 of 3" in result.diagnosis
    )


@pytest.mark.parametrize(
    ("module", "name", "key", "words"),
    [
        ("softmax_nodes", "SoftmaxNoUpstream", "upstream_ignored", "backward does not use grad_y"),
        ("activation_nodes", "TanhAddsUpstream", "not_linear", "backward is not linear in grad_y"),
    ],
)
def test_a_backward_not_linear_in_grad_y_is_said_so_without_a_jacobian(
    module, name, key, words, gallery, rng
):
    result = gradcheck(gallery(module, name), rng.standard_normal((N, C)))
    assert result.failed() == ["x"] and result.mistakes == (key,)
    assert result.diagnosis.startswith(f"x: {words}: backward(2 * grad_y) "), result.diagnosis
    assert "Jacobian entries" not in result.diagnosis and "mixes the batch" not in result.diagnosis
    if key == "upstream_ignored":  # the forward is recognised: the right formula follows
        assert result.diagnosis.endswith(
            "s * (g - sum(g * s, axis=-1, keepdims=True)), from J = diag(s) - s s^T."
        )


def test_a_forward_that_overflows_fails_without_differences_and_names_the_causes(gallery, rng):
    x = rng.standard_normal((N, C))
    x[1, 3] = 800.0  # exp(800) is inf in float64: softmax without its max shift gives NaN
    result = gradcheck(gallery("softmax_nodes", "SoftmaxNoShift"), x)
    assert not result.ok and result.mistakes == ("forward_not_finite",)
    assert result.eps == 0.0  # no finite differences were taken
    assert result.checks[0].note == "forward is not finite at x"
    assert result.diagnosis.startswith(
        f"forward returned NaN or inf at the checked point (1 NaN of {N * C} entries, the first "
        "at [1, 3]), so there is no gradient to check."  # inf / inf there, finite / inf elsewhere
    )
    assert "an exp that overflows (subtract each row's max first" in result.diagnosis
    assert gradcheck(gallery("softmax_nodes", "SoftmaxNoShift"), x / 800).ok  # finite: right


def test_the_first_line_shows_no_step_where_no_differences_were_taken(gallery, rng):
    x = rng.standard_normal((N, C))
    x[1, 3] = 800.0
    result = gradcheck(gallery("softmax_nodes", "SoftmaxNoShift"), x)
    assert str(result).splitlines()[0] == "SoftmaxNoShift: FAILED (atol=1e-05, rtol=0.0001)"
    assert gradcheck(gallery("softmax_nodes", "SoftmaxNoShift"), x / 800).eps == 1e-6
    adjoint = check_adjoint(lambda v: 2 * v, lambda u: 2 * u, (3,), rng=rng)
    assert str(adjoint).splitlines()[0].startswith(f"{adjoint.name}: ok (atol=")


def test_a_log_of_logits_says_the_loss_is_not_finite(gallery, rng):
    x, target = -np.abs(rng.standard_normal((N, C))), rng.integers(0, C, size=N)
    result = gradcheck(gallery("loss_nodes", "CrossEntropyOfLogits"), x, target=target)
    assert result.mistakes == ("forward_not_finite",)
    assert "(1 NaN), so there is no gradient" in result.diagnosis  # the loss is one number
    assert "a log of 0 or of a negative number (a log of logits where probabilities belong)" in (
        result.diagnosis
    )


def test_a_backward_returning_inf_is_told_where(gallery, rng):
    x, target = rng.standard_normal((N, C)), rng.integers(0, C, size=N)
    never_seen = sorted(set(range(C)) - set(target.tolist()))
    result = gradcheck(gallery("loss_nodes", "SoftmaxCrossEntropyByCounts"), x, target=target)
    assert result.failed() == ["x"] and result.mistakes == ("backward_not_finite",)
    assert result.diagnosis.startswith(
        f"x: backward returned NaN or inf ({N * len(never_seen)} inf of {N * C} entries, the "
        f"first at [0, {never_seen[0]}]) where forward is finite: look for a division by"
    )
    assert result.max_rel_err == np.inf


def test_differences_that_are_not_finite_are_said_so():
    # log is finite at 1e-7 but not at 1e-7 - eps: the difference there is NaN
    result = gradcheck(np.log, np.array([1e-7, 1.0]), vjp=lambda x, g: g / x)
    assert result.failed() == ["x"] and result.mistakes == ("differences_not_finite",)
    assert result.diagnosis == (
        "x: central differences are NaN or inf (1 NaN of 2 entries, the first at [0]): forward is "
        "not finite within eps=1e-06 of the checked point (an exp that overflows, a log of 0 or "
        "of a negative number)."
    )


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_the_table_of_mistakes_matches_nothing_to_nan_or_inf(bad, rng):
    x, g = rng.standard_normal((N, C)), rng.standard_normal((N, C))
    right = 2 * x * g
    for analytic, numeric in [(np.where(x > 0, bad, right), right), (3 * right, right + bad)]:
        assert matching_mistakes(Evidence("x", analytic, numeric, x, g)) == []


@pytest.mark.parametrize(
    ("name", "failed", "mistakes"),
    [
        ("SoftmaxInPlace", ["grad_y"], ("grad_y_modified",)),
        ("SoftmaxDiagonalInPlace", ["x", "grad_y"], ("grad_y_modified", "softmax_diagonal")),
    ],
)
def test_a_backward_that_changes_grad_y_in_place_fails_even_with_the_right_gradient(
    name, failed, mistakes, gallery, rng
):
    result = gradcheck(gallery("softmax_nodes", name), rng.standard_normal((N, C)), rng=rng)
    assert not result.ok and result.failed() == failed, str(result)
    assert result.mistakes == mistakes, str(result)
    assert result.diagnosis.startswith("grad_y: backward changed grad_y in place"), str(result)
    assert "grad_x = grad_y * ..., not grad_y *= ..." in result.diagnosis


@pytest.mark.parametrize(
    ("name", "failed", "mistakes"),
    [
        ("SoftmaxOverwritesOutput", ["output"], ("output_modified",)),
        # dx = self.s; dx *= g: the output changed, and s * g used where s belongs
        ("SoftmaxAliased", ["x", "output"], ("output_modified", "not_linear")),
    ],
)
def test_a_backward_that_changes_forwards_output_in_place_fails_even_with_the_right_gradient(
    name, failed, mistakes, gallery, rng
):
    x = rng.standard_normal((N, C))
    result = gradcheck(gallery("softmax_nodes", name), x)
    assert result.failed() == failed and result.mistakes == mistakes, str(result)
    assert result.diagnosis.startswith(
        "output: backward changed in place the array forward returned (self.s *= ..., then "
        "return self.s)"
    ), result.diagnosis
    assert "grad_x = self.s * (...), not self.s *= ..." in result.diagnosis
    if "not_linear" in mistakes:
        assert "\nx: backward is not linear in grad_y: backward(2 * grad_y) " in result.diagnosis


def test_the_caller_of_a_right_node_keeps_its_output(gallery, rng):
    # the check compares the array forward returned before and after backward: a right node
    # that returns its cache (self.s) and reads it in backward must not fail it
    result = gradcheck(gallery("softmax_nodes", "Softmax"), rng.standard_normal((N, C)))
    assert result.ok and [check.name for check in result.checks] == ["x"], str(result)


@pytest.mark.parametrize(
    ("node", "check", "told", "advice"),
    [
        (
            "SoftmaxShiftsInPlace",
            "forward_x",
            "forward changed x in place (x -= x.max(...)",
            "z = x - x.max(...), not x -= ...",
        ),
        # forward kept self.x = x, backward zeroed self.x: the layer below's output
        (
            "SoftmaxZeroesItsInput",
            "backward_x",
            "backward changed x in place (self.x *= 0",
            "rebind it (self.x = None), not self.x *= 0",
        ),
    ],
)
def test_a_node_that_changes_x_in_place_fails_even_with_the_right_gradient(
    gallery, rng, node, check, told, advice
):
    x = rng.standard_normal((N, C))
    given = x.copy()
    result = gradcheck(gallery("softmax_nodes", node), x, rng=rng)
    assert result.failed() == [check] and result.mistakes == ("x_modified",), str(result)
    assert result.diagnosis.startswith(f"{check}: {told}")
    assert advice in result.diagnosis
    np.testing.assert_array_equal(x, given)  # the check ran on copies: the user's x is kept


def test_x_changed_by_forward_and_by_backward_is_one_mistake_told_twice(rng):
    class DoublesThenZeroes:
        def forward(self, x):
            self.x = x
            x *= 2  # the caller's array, changed
            return x.copy()

        def backward(self, g):
            self.x *= 0  # and changed again
            return 2 * g

    result = gradcheck(DoublesThenZeroes(), rng.standard_normal((N, C)), rng=rng)
    assert result.failed() == ["forward_x", "backward_x"], str(result)
    assert result.mistakes == ("x_modified",), str(result)
    assert "\nbackward_x: backward changed x in place" in result.diagnosis


def test_a_vjp_that_changes_x_in_place_fails(rng):
    def vjp(x, g):
        x[...] = np.cos(x)
        return g * x

    result = gradcheck(np.sin, rng.standard_normal((N, C)), vjp=vjp, rng=rng)
    assert result.failed() == ["backward_x"] and result.mistakes == ("x_modified",), str(result)


def test_a_vjp_that_changes_g_in_place_fails(rng):
    def vjp(x, g):
        g *= np.cos(x)
        return g

    result = gradcheck(np.sin, rng.standard_normal((N, C)), vjp=vjp, rng=rng)
    assert result.failed() == ["grad_y"] and result.mistakes == ("grad_y_modified",)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("name", "target_kind", "words"),
    [
        ("SoftmaxCrossEntropy32SumDividedByN", "classes", "1/4 (= 1/N, N = 4 the batch size)"),
        ("Softmax32TimesN", None, "4 (= N, N = 4 the batch size)"),
    ],
)
def test_a_float32_factor_of_the_batch_size_is_named_at_any_point(
    name, target_kind, words, seed, gallery
):
    # the factor fitted through float32 differences is 1/4 to ~1e-5, not 1e-6: it was named
    # "0.25" or "4" on some points and "1/N" or "N" on others
    rng = np.random.default_rng(seed)
    x, target = _point((N, C), target_kind, rng)
    result = gradcheck(gallery("float32_nodes", name), x, target=target, rng=rng)
    assert result.mistakes == ("constant_factor",), str(result)
    assert f"backward computes {words} times the right gradient" in result.diagnosis


@pytest.mark.parametrize(
    ("name", "key", "says"),
    [
        (
            "LogSoftmaxDiagonal",
            "log_softmax_diagonal",
            "the log-softmax Jacobian reduced to its diagonal: backward computes g * (1 - s), "
            "s = exp(y).",
        ),
        (
            "LogSoftmaxWithSoftmaxBackward",
            "log_softmax_as_softmax",
            "the softmax's backward where the log-softmax's belongs: backward computes "
            "s * (g - sum(g * s)).",
        ),
        (
            "LogSoftmaxLogForProbabilities",
            "log_for_probabilities",
            "the output y = log(s) written where the probabilities s = exp(y) belong: backward "
            "computes g - y * sum(g), with y = log(s).",
        ),
        (
            "LogSoftmaxUntransposed",
            "jacobian_untransposed",
            "the Jacobian applied untransposed (J g where backward owes J^T g): backward "
            "computes g - sum(g * s), which is J g.",
        ),
        (
            "LogSoftmaxSumOverBatch",
            "wrong_axis",
            "summed over the wrong axis: backward computes sum(g) over axis 0 (the batch) "
            "instead of axis -1 (the classes).",
        ),
        ("LogSoftmaxSignFlipped", "sign_flipped", "the sign is flipped"),
    ],
)
def test_the_log_softmax_mistakes_are_named_with_the_right_formula(name, key, says, gallery, rng):
    # the log-softmax is recognised from its output as the softmax is: before, only the flipped
    # sign was named and every other mistake read "no known mistake matches"
    result = gradcheck(gallery("log_softmax_nodes", name), rng.standard_normal((N, C)), rng=rng)
    assert result.failed() == ["x"] and result.mistakes == (key,), str(result)
    assert result.diagnosis.startswith(f"x: {says}"), result.diagnosis
    assert result.diagnosis.endswith(
        "The right gradient is g - exp(y) * sum(g, axis=-1, keepdims=True), with y = "
        "log_softmax(x) the output, from J = I - 1 s^T (s = exp(y)): J^T g."
    ), result.diagnosis


def test_a_right_log_softmax_passes(gallery, rng):
    for x in (rng.standard_normal((N, C)), 30 * rng.standard_normal((N, C))):
        assert gradcheck(gallery("log_softmax_nodes", "LogSoftmax"), x, rng=rng).ok


class _SummedOverEveryAxis:
    """A softmax (or log_softmax) node whose backward sums over the whole array, ``np.sum``
    without ``axis``, where the classes' axis belongs."""

    def __init__(self, log):
        self.log = log

    def forward(self, x):
        shifted = x - x.max(axis=-1, keepdims=True)
        self.s = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
        return np.log(self.s) if self.log else self.s

    def backward(self, g):
        if self.log:
            return g - self.s * np.sum(g)
        return self.s * (g - np.sum(g * self.s))


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_a_sum_over_every_axis_is_named_the_wrong_axis(log, rng):
    result = gradcheck(_SummedOverEveryAxis(log), rng.standard_normal((N, C)))
    text = " ".join(str(result).split())
    assert result.mistakes == ("wrong_axis",), f"expected ('wrong_axis',), got {result}"
    assert "over every axis (one total) instead of axis -1 (the classes)" in text, text
