"""gradcheck on the user's own objects: what is recognised, that the object is never modified,
and what a backward that returns the wrong kind of thing, or raises, is told."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.errors import SoftgradError, UserCodeError
from softgrad.gradcheck import gradcheck
from softgrad.gradcheck.precision import NARROW
from softgrad.nn.layer import Layer

N, C, D = 4, 10, 3


def _state(obj):
    """Every attribute, arrays, lists and dicts copied, plus the identity of each value."""
    return {
        k: (id(v), v.copy() if isinstance(v, (np.ndarray, list, dict)) else v)
        for k, v in vars(obj).items()
    }


def _assert_unchanged(obj, before):
    after = vars(obj)
    assert set(after) == set(before), f"attributes added or removed: {set(after) ^ set(before)}"
    for key, (identity, value) in before.items():
        assert id(after[key]) == identity, key
        if isinstance(value, np.ndarray):
            assert after[key].dtype == value.dtype, key
            np.testing.assert_array_equal(after[key], value, err_msg=key)
        elif isinstance(value, (list, dict)):
            assert len(after[key]) == len(value), key


@pytest.mark.parametrize(
    ("name", "args", "checked"),
    [
        ("Linear", (D, 2), ["x", "W", "b"]),  # W/dW, b/db
        ("LinearGradNames", (D, 2), ["x", "W", "b"]),  # W/grad_W, float32 weights
        ("LinearParamsDict", (D, 2), ["x", "W", "b"]),  # params/grads dicts
    ],
)
def test_parameters_are_found_in_every_documented_spelling(name, args, checked, gallery, rng):
    node = gallery("linear_nodes", name, *args)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok, str(result)
    assert [c.name for c in result.checks] == checked
    assert result.max_abs_err < 1e-7  # float64 throughout, float32 weights included
    _assert_unchanged(node, before)


CACHES = (
    "arrays whose contents forward changes (replaced or filled in place) were taken as caches, "
)


def test_arrays_that_forward_replaces_are_caches_not_parameters(gallery, rng):
    node = gallery("stateful_nodes", "SoftmaxPreallocated")  # self.x, self.out, self.dx
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, C)))
    assert result.ok and [c.name for c in result.checks] == ["x"], str(result)
    assert result.notes == (CACHES + "not parameters: x, out",)
    _assert_unchanged(node, before)


@pytest.mark.parametrize(
    ("name", "args", "checked", "cache"),
    [
        ("AffineBuffered", (D, 2, N), ["x", "W", "b"], "x"),  # self.x[...] = x, and self.dx
        ("SoftmaxCacheInPlace", (N, C), ["x"], "cache"),  # self.cache[:] = s
    ],
)
def test_arrays_that_forward_fills_in_place_are_caches_not_parameters(
    name, args, checked, cache, gallery, rng
):
    node = gallery("buffered_nodes", name, *args)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, args[0] if len(checked) > 1 else C)))
    assert result.ok and [c.name for c in result.checks] == checked, str(result)
    assert result.notes == (CACHES + f"not parameters: {cache}",)
    _assert_unchanged(node, before)


@pytest.mark.parametrize(
    ("name", "checked"),
    [("LinearCastsWeights", ["x", "W", "b"]), ("LinearWeightsCopied", ["x", "W"])],
)
def test_weights_that_forward_rebinds_to_the_same_values_are_checked(name, checked, gallery, rng):
    # self.W = self.W.astype(x.dtype); np.ascontiguousarray(self.W, dtype=np.float32)
    result = gradcheck(gallery("buffered_nodes", name, D, 2), rng.standard_normal((N, D)))
    assert result.ok and [c.name for c in result.checks] == checked, str(result)
    assert not any("caches" in note for note in result.notes), result.notes


def test_a_wrong_gradient_of_a_weight_that_forward_rebinds_is_found(gallery, rng):
    node = gallery("buffered_nodes", "LinearCastsWeightsWrong", D, 2)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.failed() == ["W"] and result.mistakes == ("constant_factor",), str(result)


def test_a_parameter_named_x_is_checked_apart_from_the_input(gallery, rng):
    result = gradcheck(gallery("linear_nodes", "LearnedOffset", C), rng.standard_normal((N, C)))
    assert result.ok and [(c.name, c.shape) for c in result.checks] == [
        ("x", (N, C)),
        ("self.x", (C,)),
    ]


def test_a_node_without_parameters_checks_only_x(gallery, rng):
    result = gradcheck(gallery("activation_nodes", "Tanh"), rng.standard_normal((N, C)))
    assert result.ok and [c.name for c in result.checks] == ["x"] and result.notes == ()


def test_check_params_false_leaves_the_parameters_out(gallery, rng):
    node = gallery("linear_nodes", "LinearBiasNotSummed", D, 2)
    result = gradcheck(node, rng.standard_normal((N, D)), check_params=False)
    assert result.ok and [c.name for c in result.checks] == ["x"]


def test_the_users_object_is_never_modified(gallery, rng):
    x = rng.standard_normal((N, C))
    for module, name, args in [
        ("softmax_nodes", "SoftmaxDiagonal", ()),
        ("stateful_nodes", "StackedTanh", ()),
        ("linear_nodes", "LinearParamsDict", (C, 2)),
        ("linear_nodes", "LinearGradNames", (C, 2)),
    ]:
        node = gallery(module, name, *args)
        before = _state(node)
        params_before = {k: v.copy() for k, v in getattr(node, "params", {}).items()}
        gradcheck(node, x)
        _assert_unchanged(node, before)
        for key, value in params_before.items():
            np.testing.assert_array_equal(node.params[key], value)
        assert getattr(node, "grads", {}) == {}


def test_state_kept_between_forward_and_backward_starts_afresh_each_time(gallery, rng):
    stacked = gallery("stateful_nodes", "StackedTanh")
    assert gradcheck(stacked, rng.standard_normal((N, C))).ok
    assert stacked.saved == [] and stacked.calls == 0
    noisy = gallery("stateful_nodes", "NoisyScale")
    assert gradcheck(noisy, rng.standard_normal((N, C))).ok  # the same mask in every evaluation
    np.testing.assert_array_equal(
        noisy.rng.uniform(size=3), np.random.default_rng(0).uniform(size=3)
    )


def test_a_node_that_cannot_be_deep_copied_is_checked_on_copies_sharing_only_its_lock(gallery, rng):
    node = gallery("stateful_nodes", "LockedLinearWrong", D, 2)
    before = _state(node)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.failed() == ["W"] and result.mistakes == ("constant_factor",)
    assert "W: off by a constant factor: backward computes 2 times" in result.diagnosis
    (note,) = result.notes
    assert note.startswith("LockedLinearWrong could not be deep-copied (TypeError: cannot pickle")
    assert note.endswith("only what cannot be copied (self.lock): the rest was the copy's own")
    assert note in " ".join(str(result).split())  # wrapped at 100 columns
    _assert_unchanged(node, before)
    assert not node.dW.any()  # the gradient accumulated in place went into copies only
    right = gallery("stateful_nodes", "LockedLinear", D, 2)
    assert gradcheck(right, rng.standard_normal((N, D))).ok


def test_backward_returning_none_is_told_so(gallery, rng):
    result = gradcheck(gallery("broken_nodes", "ReturnsNone"), rng.standard_normal((N, C)))
    assert result.checks[0].note == "backward returned None"
    assert result.diagnosis == (
        "x: backward returned None; it must return grad_x, the gradient with respect to its "
        "input, an array of x's shape (4, 10) (is a `return` missing?)"
    )
    assert "FAIL backward returned None" in str(result)


@pytest.mark.parametrize(
    ("name", "kind", "width"), [("ReturnsTuple", "tuple", D), ("ReturnsList", "list", C)]
)
def test_backward_returning_a_tuple_or_a_list_is_told_so(name, kind, width, gallery, rng):
    result = gradcheck(gallery("broken_nodes", name), rng.standard_normal((N, width)))
    assert result.checks[0].note == f"backward returned a {kind} of 2 items"
    assert result.diagnosis.startswith(
        f"x: backward returned a {kind} of 2 items; it must return grad_x alone, an array of x's "
        f"shape (4, {width})"
    )
    constants = "arrays without a gradient attribute (dP, d_P or grad_P) were taken as constants"
    assert result.notes == ((f"{constants}: W",) if name == "ReturnsTuple" else ())


def test_a_parameter_gradient_that_is_not_numbers_fails_with_a_note(gallery, rng):
    result = gradcheck(gallery("broken_nodes", "LinearBiasGradDict"), rng.standard_normal((N, D)))
    assert [(c.name, c.ok, c.note) for c in result.checks] == [
        ("x", True, ""),
        ("W", True, ""),
        ("b", False, "db is a dict"),
    ]
    assert result.diagnosis == "b: db is a dict; it must be an array of b's shape (3,)"


@pytest.mark.parametrize(
    ("module", "name", "note", "diagnosis"),
    [
        (
            "broken_nodes",
            "ReturnsSummed",
            "shape (10,) != (4, 10)",
            "x: backward returned shape (10,); it must have x's shape (4, 10) "
            "(summed over axis 0 (the batch)?)",
        ),
        (  # it ignores grad_y too, but its shape says more
            "softmax_nodes",
            "SoftmaxReturnsJacobian",
            "shape (4, 10, 10) != (4, 10)",
            "x: backward returned shape (4, 10, 10); it must have x's shape (4, 10)",
        ),
    ],
)
def test_backward_returning_the_wrong_shape_is_told_so(module, name, note, diagnosis, gallery, rng):
    result = gradcheck(gallery(module, name), rng.standard_normal((N, C)))
    assert result.checks[0].note == note
    assert result.diagnosis == diagnosis


def test_a_gradient_never_set_is_named_with_where_it_was_expected(rng):
    class ForgetsBias:
        def __init__(self):
            self.params = {"W": np.ones((D, 2)), "b": np.zeros(2)}
            self.grads = {}

        def forward(self, x):
            self.x = x
            return x @ self.params["W"] + self.params["b"]

        def backward(self, grad_y):
            self.grads["W"] = self.x.T @ grad_y
            return grad_y @ self.params["W"].T

    result = gradcheck(ForgetsBias(), rng.standard_normal((N, D)))
    assert result.failed() == ["b"]
    assert result.diagnosis == "b: backward left no gradient for it; set grads['b']"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "RaisesInBackward",
            "RaisesInBackward.backward raised ValueError: my backward is not written yet",
        ),
        (
            "RaisesInForward",
            "RaisesInForward.forward raised AttributeError: "
            "'RaisesInForward' object has no attribute 'weights'",
        ),
    ],
)
def test_the_users_exception_is_quoted_on_one_line(name, message, gallery, rng):
    with pytest.raises(UserCodeError) as caught:
        gradcheck(gallery("broken_nodes", name), rng.standard_normal((N, C)))
    assert str(caught.value) == f"gradcheck: {message}"
    assert isinstance(caught.value, SoftgradError)
    assert isinstance(caught.value.__cause__, (ValueError, AttributeError))  # the user's traceback


def test_a_loss_node_gets_the_target_and_a_unit_cotangent(gallery, rng):
    x, target = rng.standard_normal((N, C)), rng.integers(0, C, size=N)
    for name in ("SoftmaxCrossEntropy", "SoftmaxCrossEntropyMeanTwice"):  # backward() / backward(g)
        node = gallery("loss_nodes", name)
        result = gradcheck(node, x, target=target)
        assert [c.name for c in result.checks] == ["x"]
        assert result.ok == (name == "SoftmaxCrossEntropy")


def test_a_loss_backward_taking_other_arguments_is_told_how_gradcheck_calls_it(gallery, rng):
    x, target = rng.standard_normal((N, C)), rng.integers(0, C, size=N)
    with pytest.raises(TypeError) as caught:
        gradcheck(gallery("loss_nodes", "NnfsSoftmaxCrossEntropy"), x, target=target)
    assert str(caught.value).startswith(
        "gradcheck: NnfsSoftmaxCrossEntropy.backward must take backward(1.0) or backward() for a "
        "loss (forward returned a scalar), which is how gradcheck calls it; got "
        "backward(dvalues, y_true). A backward that takes other arguments, such as nnfs's "
        "backward(dvalues, y_true), is not a form gradcheck can call"
    ), str(caught.value)
    # the subclass the message points to is checked
    checked = gallery("loss_nodes", "CheckedNnfsSoftmaxCrossEntropy")
    assert gradcheck(checked, x, target=target).ok


def test_a_backward_that_cannot_take_grad_y_is_told_how_gradcheck_calls_it(rng):
    class TakesTwo:
        def forward(self, x):
            return 2 * x

        def backward(self, grad_y, cache):
            return 2 * grad_y

    with pytest.raises(TypeError) as caught:
        gradcheck(TakesTwo(), rng.standard_normal((N, C)))
    assert str(caught.value).startswith(
        "gradcheck: TakesTwo.backward must take backward(grad_y) (forward returned an array), "
        "which is how gradcheck calls it; got backward(grad_y, cache)."
    ), str(caught.value)


def test_forward_returning_none_is_refused(gallery, rng):
    with pytest.raises(TypeError) as caught:
        gradcheck(gallery("broken_nodes", "ForgetsReturn"), rng.standard_normal((N, C)))
    assert str(caught.value) == (
        "gradcheck: ForgetsReturn.forward returned None; it must return its output (is a `return` "
        "missing?)"
    )


def test_forward_returning_a_tuple_is_refused(rng):
    class TwoOutputs:
        def forward(self, x):
            return x, 2 * x

        def backward(self, grad_y):
            return grad_y

    with pytest.raises(
        TypeError, match=r"TwoOutputs.forward must return one array; got a tuple of 2"
    ):
        gradcheck(TwoOutputs(), rng.standard_normal((2, 3)))


@pytest.mark.parametrize(
    ("name", "target_kind"), [("Softmax32", None), ("SoftmaxCrossEntropy32", "classes")]
)
def test_a_float32_forward_is_checked_at_settings_chosen_for_float32(
    name, target_kind, gallery, rng
):
    x = rng.standard_normal((N, C))
    target = rng.integers(0, C, size=N) if target_kind else None  # the loss: an np.float32
    result = gradcheck(gallery("float32_nodes", name), x, target=target)
    chosen = NARROW[np.dtype(np.float32)]
    assert result.ok, str(result)
    assert (result.eps, result.atol, result.rtol) == (chosen.eps, chosen.atol, chosen.rtol)
    assert result.notes == (
        "forward computes in float32: the step and tolerances were chosen for it",
    )
    assert str(result).splitlines()[0] == (
        f"{name}: ok (eps={chosen.eps:g}, atol={chosen.atol:g}, rtol={chosen.rtol:g})"
    )


def test_settings_given_for_a_float32_forward_are_used_as_given(gallery, rng):
    x = rng.standard_normal((N, C))
    # float64's settings: a float32 forward's differences at eps=1e-6 are rounding noise
    result = gradcheck(gallery("float32_nodes", "Softmax32"), x, eps=1e-6, atol=1e-5, rtol=1e-4)
    assert not result.ok and (result.eps, result.atol, result.rtol) == (1e-6, 1e-5, 1e-4)
    assert result.notes == (
        "forward computes in float32: the given eps, atol and rtol were used (leave them out to "
        "choose them)",
    )
    some = gradcheck(gallery("float32_nodes", "Softmax32"), x, eps=2e-2)
    chosen = NARROW[np.dtype(np.float32)]
    assert some.ok and (some.eps, some.atol, some.rtol) == (2e-2, chosen.atol, chosen.rtol)
    assert some.notes == (
        "forward computes in float32: atol and rtol were chosen for it (eps was given)",
    )
    with pytest.raises(ValueError, match="gradcheck: atol must be a finite number >= 0; got -1"):
        gradcheck(gallery("float32_nodes", "Softmax32"), x, atol=-1)


def test_a_float64_forward_keeps_the_float64_settings(gallery, rng):
    result = gradcheck(gallery("softmax_nodes", "Softmax"), rng.standard_normal((N, C)))
    assert (result.eps, result.atol, result.rtol) == (1e-6, 1e-5, 1e-4) and result.notes == ()


FLOAT16_WARNING = (
    "float16 is too coarse for a conclusive check: its rounding takes right gradients to 0.4 of "
    "the tolerance, and a small mistake (the softmax Jacobian reduced to its diagonal) passes; "
    "check the node in float32"
)


def test_a_float16_forward_is_checked_and_warned_to_check_in_float32(gallery, rng):
    result = gradcheck(gallery("float32_nodes", "Tanh16"), rng.standard_normal((2, 3)))
    chosen = NARROW[np.dtype(np.float16)]
    assert result.ok and (result.eps, result.atol, result.rtol) == (
        chosen.eps,
        chosen.atol,
        chosen.rtol,
    )
    assert result.notes == (
        "forward computes in float16: the step and tolerances were chosen for it",
    )
    assert result.warning == FLOAT16_WARNING and result.as_dict()["warning"] == FLOAT16_WARNING
    lines = str(result).splitlines()
    assert lines[0] == "Tanh16: ok, inconclusive (eps=0.1, atol=0.1, rtol=0.1)"
    assert lines[-1] == f"  warning: {FLOAT16_WARNING}"


def test_a_float16_mistake_that_passes_is_said_to_be_inconclusive(gallery):
    # one row of 10 classes near 0, where the softmax is near uniform (s about 0.1): the
    # diagonal-only gradient is off by s * (s . g), about 0.05, within float16's tolerance
    # (0.1, precision.py) and beyond float32's
    x = 0.1 * np.random.default_rng(0).standard_normal((1, C))
    result = gradcheck(gallery("float32_nodes", "Softmax16Diagonal"), x)
    assert result.ok and result.warning == FLOAT16_WARNING
    assert str(result).startswith("Softmax16Diagonal: ok, inconclusive (")
    in_float32 = gradcheck(gallery("float32_nodes", "Softmax32Diagonal"), x)
    assert not in_float32.ok and in_float32.warning is None
    assert in_float32.mistakes[0] == "softmax_diagonal"


def test_wider_precisions_carry_no_warning(gallery, rng):
    x = rng.standard_normal((N, C))
    for module, name in [("softmax_nodes", "Softmax"), ("float32_nodes", "Softmax32")]:
        result = gradcheck(gallery(module, name), x)
        assert result.warning is None and "inconclusive" not in str(result)


def test_a_buffer_already_holding_forwards_values_is_still_a_cache(gallery, rng):
    # the user ran forward(x) before gradcheck(node, x): self.x already holds x
    x = rng.standard_normal((N, D))
    node = gallery("buffered_nodes", "AffineBuffered", D, 2, N)
    node.forward(x)
    result = gradcheck(node, x)
    assert result.ok and [c.name for c in result.checks] == ["x", "W", "b"], str(result)
    assert result.notes == (CACHES + "not parameters: x",)


def test_a_cache_every_copy_shares_holds_the_forward_that_backward_differentiates(gallery, rng):
    # the cache is a class attribute: a forward at another point on another copy (the search for
    # caches among the attributes) between forward at x and backward would leave its input there
    node = gallery("stateful_nodes", "ClassCacheLinear", D, 2)
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert result.ok and [c.name for c in result.checks] == ["x", "W"], str(result)


def test_a_forward_that_rounds_x_to_float32_is_checked_at_float32_settings(gallery, rng):
    # its output is float64 (the check made its weights float64), but x is rounded to float32
    # inside: central differences at float64's step were noise and flagged the right node
    x, target = rng.standard_normal((N, D)), rng.integers(0, C, size=N)
    right = gradcheck(gallery("float32_nodes", "SoftmaxRegression32", D, C), x, target=target)
    chosen = NARROW[np.dtype(np.float32)]
    assert right.ok and [c.name for c in right.checks] == ["x", "W", "b"], str(right)
    assert (right.eps, right.atol, right.rtol) == (chosen.eps, chosen.atol, chosen.rtol)
    assert right.notes == (
        "forward computes in float32: the step and tolerances were chosen for it",
    )
    wrong = gradcheck(gallery("float32_nodes", "SoftmaxRegression32NoMean", D, C), x, target=target)
    assert wrong.failed() == ["x", "W", "b"], str(wrong)
    assert wrong.mistakes == ("constant_factor",) * 3, str(wrong)
    assert "4 (= N, N = 4 the batch size) times the right gradient" in wrong.diagnosis


def test_a_float64_forward_is_not_taken_for_one_that_rounds_its_input():
    from softgrad.gradcheck.precision import input_precision

    x = np.array([[0.3, -1.2, 2.5, 1e-3]])
    assert input_precision(np.tanh, x) is None
    assert input_precision(lambda v: np.zeros(3), x) is None  # constant: no change to see
    assert input_precision(lambda v: np.tanh(v.astype(np.float16)).astype(np.float64), x) == (
        np.float16
    )


class _AttrLinear(Layer):
    """A user's Layer subclass keeping its weight as an attribute pair W/dW, outside params."""

    def __init__(self, factor=1.0):
        super().__init__()
        self.W = np.random.default_rng(4).standard_normal((D, 2)).astype(np.float32)
        self.factor = factor

    def forward(self, x):
        self.inputs = {"x": x}  # a cache under a name of its own, no _cache_attrs
        return x @ self.W

    def backward(self, grad_y, input_grad=True):
        self.dW = self.factor * self.inputs["x"].T @ grad_y
        return grad_y @ self.W.T


class _ScaledSoftmax(Layer):
    """A user's Layer subclass with a float32 private constant and a list cache."""

    def __init__(self, diagonal=False):
        super().__init__()
        self._temperature = np.full(C, 2.0, dtype=np.float32)
        self.diagonal = diagonal

    def forward(self, x):
        z = x / self._temperature
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        self.saved = [e / e.sum(axis=-1, keepdims=True)]
        return self.saved[0]

    def backward(self, grad_y, input_grad=True):
        (s,) = self.saved
        if self.diagonal:
            return grad_y * s * (1 - s) / self._temperature
        return s * (grad_y - np.sum(grad_y * s, axis=-1, keepdims=True)) / self._temperature


def test_a_layer_subclass_keeping_w_outside_params_has_it_checked(rng):
    x = rng.standard_normal((N, D))
    right = _AttrLinear()
    before = _state(right)
    result = gradcheck(right, x, rng=rng)
    assert result.ok and [c.name for c in result.checks] == ["x", "W"], str(result)
    _assert_unchanged(right, before)
    wrong = gradcheck(_AttrLinear(factor=3.0), x, rng=rng)
    assert wrong.failed() == ["W"] and wrong.mistakes == ("constant_factor",), str(wrong)
    assert "W: off by a constant factor: backward computes 3 times the right" in wrong.diagnosis


def test_a_layer_subclass_without_cache_attrs_is_checked_afresh_each_time(rng):
    x = rng.standard_normal((N, C))
    assert gradcheck(_ScaledSoftmax(), x, rng=rng).ok
    wrong = gradcheck(_ScaledSoftmax(diagonal=True), x, rng=rng)
    assert wrong.failed() == ["x"], str(wrong)


def test_a_node_with_slots_has_its_parameters_checked(gallery, rng):
    node = gallery("linear_nodes", "LinearSlots", D, 2)
    weights = node.W.copy()
    result = gradcheck(node, rng.standard_normal((N, D)), rng=rng)
    assert [c.name for c in result.checks] == ["x", "W"], str(result)
    assert result.failed() == ["W"] and result.mistakes == ("constant_factor",), str(result)
    assert node.W.dtype == np.float32 and np.array_equal(node.W, weights)
    assert not hasattr(node, "dW")


class _TanhIntegerGradient:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_y):
        return (grad_y * (1 - self.y**2)).astype(np.int64)  # the fractions cut off


def test_a_gradient_in_integers_is_said_to_be_one(rng):
    result = gradcheck(_TanhIntegerGradient(), rng.standard_normal((N, C)), rng=rng)
    assert result.failed() == ["x"], str(result)
    assert result.diagnosis.startswith(
        "x: backward returned an array of dtype int64: a gradient holds real numbers, which "
        "integers cut off"
    ), result.diagnosis
    # integers that are the right numbers are right: d sum(x) / dx is 1 for a cotangent of 1
    ones = gradcheck(lambda x: x.sum(), np.ones(3), vjp=lambda x, g: np.ones(3, dtype=int))
    assert ones.ok, str(ones)
