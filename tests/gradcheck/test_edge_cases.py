"""gradcheck at the edges of its input: a 0-d x, complex values, outputs with no entries."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.gradcheck import check_softmax_jacobian, gradcheck


def test_a_scalar_x_is_checked_like_any_other():
    right = gradcheck(np.sin, 0.5, vjp=lambda x, g: g * np.cos(x))
    assert right.ok and right.checks[0].shape == () and right.max_abs_err < 1e-8
    wrong = gradcheck(np.sin, 0.5, vjp=lambda x, g: -g * np.cos(x))
    assert not wrong.ok and wrong.mistakes == ("sign_flipped",), str(wrong)


def test_a_complex_output_is_refused_not_cut_to_its_real_part():
    with pytest.raises(TypeError, match=r"^gradcheck: f\.forward must return real numbers; got "):
        gradcheck(lambda x: x + 1j, np.ones(3), vjp=lambda x, g: g, name="f")


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
    assert result.notes[0] in str(result)
