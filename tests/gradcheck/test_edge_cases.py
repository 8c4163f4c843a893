"""gradcheck at the edges of its input: a 0-d x, complex values, outputs with no entries, an x
drawn as grad_y is, and the ways of passing the checked thing wrongly."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import functional as F
from softgrad.errors import UserCodeError
from softgrad.gradcheck import check_softmax_jacobian, gradcheck


def test_a_scalar_x_is_checked_like_any_other():
    right = gradcheck(np.sin, 0.5, vjp=lambda x, g: g * np.cos(x))
    assert right.ok and right.checks[0].shape == () and right.max_abs_err < 1e-8
    wrong = gradcheck(np.sin, 0.5, vjp=lambda x, g: -g * np.cos(x))
    assert not wrong.ok and wrong.mistakes == ("sign_flipped",), str(wrong)


class _Tanh:
    """A tanh node whose backward is ``wrong(x, y, g)``."""

    def __init__(self, wrong):
        self.wrong = wrong

    def forward(self, x):
        self.x, self.y = x, np.tanh(x)
        return self.y

    def backward(self, g):
        return self.wrong(self.x, self.y, g)


@pytest.mark.parametrize("x", [0.7, [[0.7]]], ids=["0-d", "1x1"])
def test_one_entry_names_no_factor_it_happens_to_fit_and_says_to_check_more_entries(x):
    # one wrong number is always c times the right one: "off by a constant factor 0.623"
    # named a mistake the node never made (its backward is g * (1 - s), not a multiple)
    result = gradcheck(_Tanh(lambda x, y, g: g * (1 - y)), np.array(x))
    assert not result.ok and result.mistakes == (), str(result)
    assert result.diagnosis.startswith("no known mistake matches; wrong: x."), result.diagnosis
    assert "check at an x of several entries, e.g. shape (4, 10)" in result.diagnosis
    assert "backward's " in result.diagnosis  # the one value shown, a 0-d x's without an index


@pytest.mark.parametrize("x", [0.7, [[0.7]]], ids=["0-d", "1x1"])
def test_one_entry_still_names_a_factor_a_mistake_writes_and_a_formula_it_reproduces(x):
    doubled = gradcheck(_Tanh(lambda x, y, g: 2 * g * (1 - y**2)), np.array(x))
    assert doubled.mistakes == ("constant_factor",), str(doubled)
    assert "backward computes 2 times the right gradient" in doubled.diagnosis
    # the input for the output: that formula, not "also 0.803 times the right gradient"
    swapped = gradcheck(_Tanh(lambda x, y, g: g * (1 - x**2)), np.array(x))
    assert swapped.mistakes == ("input_for_output",), str(swapped)


class _Square:
    def forward(self, x):
        self.x = x
        return x**2

    def backward(self, g):
        return g + 0 * self.x  # d(x**2)/dx is 2x, not 1


@pytest.mark.parametrize("x", [0.0, np.zeros((2, 3))], ids=["0-d", "2x3"])
def test_a_forward_that_equals_tanh_only_at_the_point_is_not_diagnosed_as_tanh(x):
    # x**2 and tanh(x) are both 0 at x = 0: the output alone named "the input x where the
    # output s belongs ... s = tanh(x)" for a node that has no tanh; its slope (0, not 1) differs
    result = gradcheck(_Square(), np.asarray(x, dtype=float))
    assert not result.ok and result.mistakes == (), str(result)
    assert "tanh" not in result.diagnosis, result.diagnosis


def test_a_complex_output_is_refused_not_cut_to_its_real_part():
    with pytest.raises(TypeError, match=r"^gradcheck: f\.forward must return real numbers; got "):
        gradcheck(lambda x: x + 1j, np.ones(3), vjp=lambda x, g: g, name="f")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_an_integer_output_is_refused_not_checked_as_float16(dtype):
    # its flat steps passed the precision probe for float16 rounding: "forward computes in
    # float16", and a pass at float16's tolerances
    def f(x):
        return (np.round(10 * x)).astype(dtype)

    expected = f"^gradcheck: f\\.forward must return floats; got dtype {np.dtype(dtype)}, whose"
    with pytest.raises(TypeError, match=expected):
        gradcheck(f, np.linspace(0.1, 0.9, 4), vjp=lambda x, g: 10 * g, name="f")


def test_a_complex_x_is_refused():
    with pytest.raises(TypeError, match=r"^gradcheck: x must be real; got dtype complex128$"):
        gradcheck(np.sin, [1 + 1j], vjp=lambda x, g: g)
    with pytest.raises(TypeError, match=r"^check_softmax_jacobian: x must be real; got dtype"):
        check_softmax_jacobian(np.ones(3, dtype=complex))


class _ComplexWeightGradient:
    def __init__(self):
        self.W = np.ones((3, 2))

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_y):
        self.dW = self.x.T @ grad_y + 0j  # right real part, complex dtype
        return grad_y @ self.W.T


def test_a_complex_gradient_fails_naming_its_dtype():
    result = gradcheck(_ComplexWeightGradient(), np.ones((4, 3)))
    assert result.failed() == ["W"]
    assert result.checks[1].note == "dW is an array of dtype complex128"
    assert result.diagnosis == (
        "W: dW is an array of dtype complex128; it must be an array of real numbers of W's "
        "shape (3, 2)"
    )
    vjp = gradcheck(np.sin, np.ones(3), vjp=lambda x, g: g * np.cos(x) + 0j)
    assert vjp.checks[0].note == "vjp returned an array of dtype complex128"


@pytest.mark.parametrize("x_shape", [(0, 10), (0,)])
def test_an_output_with_no_entries_says_the_pass_means_little(x_shape):
    result = gradcheck(np.tanh, np.zeros(x_shape), vjp=lambda x, g: g * (1 - np.tanh(x) ** 2))
    assert result.ok
    assert result.notes == (
        f"forward's output has no entries (shape {x_shape}, at x of shape {x_shape}): every "
        "right gradient is 0, so a pass shows only that backward returned zeros",
    )
    assert result.notes[0] in " ".join(str(result).split())  # wrapped at 100 columns


def test_a_factor_the_size_of_a_linear_layers_features_is_not_called_the_classes():
    # x of shape (4, 3) into a Linear: 3 is the number of features, not of classes
    w = np.arange(6.0).reshape(3, 2) / 6

    def vjp(x, g):
        return 3 * g @ w.T

    result = gradcheck(lambda x: x @ w, np.ones((4, 3)), vjp=vjp, rng=0)
    assert result.mistakes == ("constant_factor",), str(result)
    assert "backward computes 3 times the right gradient" in result.diagnosis
    assert "classes" not in result.diagnosis
    # a softmax's last axis does hold the classes
    softmax = gradcheck(
        lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
        np.linspace(-1.0, 1.0, 12).reshape(4, 3),
        vjp=lambda x, g: 3 * F.softmax_vjp(F.softmax(x), g),
        rng=0,
    )
    assert "3 (= C, C = 3 the classes) times" in softmax.diagnosis, str(softmax)


def test_a_backward_reading_x_for_grad_y_fails_at_an_x_from_the_checks_own_seed(gallery):
    # np.random.default_rng(0), the usual way to make a test x, is where the check draws grad_y
    # from by default: drawn as is, grad_y would be x, and the mistake would pass
    x = np.random.default_rng(0).standard_normal((4, 10))
    result = gradcheck(gallery("softmax_nodes", "SoftmaxInputForUpstream"), x)
    assert not result.ok and result.mistakes == ("upstream_ignored",), str(result)
    assert gradcheck(gallery("softmax_nodes", "Softmax"), x).ok


def test_a_nodes_class_is_refused_saying_to_pass_an_object(gallery):
    cls = type(gallery("softmax_nodes", "Softmax"))
    with pytest.raises(TypeError) as caught:
        gradcheck(cls, np.ones((2, 3)))
    assert str(caught.value) == (
        "gradcheck: f is the class Softmax, not one of its objects; pass an instance: "
        "gradcheck(Softmax(...), x)"
    )


def test_a_vjp_of_the_wrong_signature_is_refused_before_it_runs(gallery):
    node = gallery("softmax_nodes", "Softmax")
    with pytest.raises(TypeError) as caught:
        gradcheck(node.forward, np.ones((2, 3)), vjp=node.backward)
    assert str(caught.value) == (
        "gradcheck: vjp is called as vjp(x, g) and must take both; Softmax.backward takes (g); "
        "to check your node's backward, pass the node itself: gradcheck(Softmax(), x)"
    )
    with pytest.raises(TypeError, match=r"^gradcheck: vjp is called as vjp\(x, g\) and must take "):
        gradcheck(np.sin, np.ones(3), vjp=lambda g: g)
    with pytest.raises(TypeError, match=r"^gradcheck: f is called as f\(x\) and must take one "):
        gradcheck(lambda: 1.0, np.ones(3), vjp=lambda x, g: g)


def test_a_plain_functions_exception_is_quoted_as_a_nodes_is():
    def vjp(x, g):
        raise KeyError("not written yet")

    with pytest.raises(UserCodeError) as caught:
        gradcheck(np.sin, np.ones(3), vjp=vjp)
    assert str(caught.value) == "gradcheck: vjp (sin) raised KeyError: 'not written yet'"
    assert isinstance(caught.value.__cause__, KeyError)
