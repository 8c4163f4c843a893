"""gradcheck, check_adjoint and check_softmax_jacobian: they pass correct derivatives and catch
deliberately broken ones, pointing at the right quantity."""

from __future__ import annotations

import json

import numpy as np
import pytest

import softgrad.gradcheck.identities as identities_module
from softgrad import functional as F
from softgrad.gradcheck import GradcheckResult, check_adjoint, check_softmax_jacobian, gradcheck
from softgrad.nn import CrossEntropyLoss, Linear, ReLU, Sequential, Softmax, Tanh


class WrongSignReLU(ReLU):
    def backward(self, grad_y, input_grad=True):
        return -super().backward(grad_y, input_grad)


class DiagonalSoftmax(Softmax):
    """Uses only the Jacobian's diagonal s_i (1 - s_i): the classic mistake."""

    def backward(self, grad_y, input_grad=True):
        return grad_y * self._y * (1.0 - self._y)


class NoBiasGradLinear(Linear):
    def backward(self, grad_y, input_grad=True):
        grad_x = super().backward(grad_y, input_grad)
        self.grads["b"][...] = 0.0
        return grad_x


class HalfWeightGradLinear(Linear):
    def backward(self, grad_y, input_grad=True):
        grad_x = super().backward(grad_y, input_grad)
        self.grads["W"] *= 0.5
        return grad_x


class ForgetfulLinear(Linear):
    def backward(self, grad_y, input_grad=True):
        grad_x = super().backward(grad_y, input_grad)
        del self.grads["b"]
        return grad_x


def test_correct_layer_passes_and_reports_every_quantity(rng):
    result = gradcheck(Linear(3, 2, rng=rng), rng.standard_normal((4, 3)), rng=rng)
    assert isinstance(result, GradcheckResult)
    assert result.ok and result.name == "Linear"
    assert [(c.name, c.shape) for c in result.checks] == [("x", (4, 3)), ("W", (3, 2)), ("b", (2,))]
    assert result.max_abs_err < 1e-7 and result.max_rel_err < 1e-5
    name, index = result.worst_index
    assert len(index) == {"x": 2, "W": 2, "b": 1}[name]  # an index into that array


def test_wrong_sign_is_caught_at_the_input(rng):
    result = gradcheck(WrongSignReLU(), rng.standard_normal((3, 4)) + 0.1, rng=rng)
    assert not result.ok
    assert result.failed() == ["x"]
    check = result.checks[0]
    assert check.actual == pytest.approx(-check.expected, rel=1e-6)


def test_diagonal_only_softmax_jacobian_is_caught(rng):
    x = rng.standard_normal((3, 5))
    assert gradcheck(Softmax(), x, rng=rng).ok
    result = gradcheck(DiagonalSoftmax(), x, rng=rng)
    assert not result.ok and result.failed() == ["x"]
    assert result.max_abs_err > 1e-3


def test_missing_bias_gradient_is_caught_and_pointed_at(rng):
    x = rng.standard_normal((4, 3))
    result = gradcheck(NoBiasGradLinear(3, 2, rng=rng), x, rng=rng)
    assert not result.ok
    assert result.failed() == ["b"]
    assert result.worst_index[0] == "b"
    assert "FAIL" in str(result) and "b " in str(result)


def test_a_wrong_weight_gradient_points_at_w(rng):
    result = gradcheck(HalfWeightGradLinear(3, 2, rng=rng), rng.standard_normal((4, 3)), rng=rng)
    assert result.failed() == ["W"] and result.worst_index[0] == "W"


def test_a_gradient_that_was_never_computed_is_reported(rng):
    result = gradcheck(ForgetfulLinear(3, 2, rng=rng), rng.standard_normal((4, 3)), rng=rng)
    assert result.failed() == ["b"]
    assert "no gradient was computed" in str(result)


def test_broken_layer_inside_a_network_is_named_by_its_qualified_name(rng):
    net = Sequential(Linear(3, 4, rng=rng), Tanh(), NoBiasGradLinear(4, 2, rng=rng))
    result = gradcheck(net, rng.standard_normal((5, 3)), rng=rng)
    assert result.failed() == ["2.b"]
    assert result.worst_index[0] == "2.b"
    assert [c.name for c in result.checks] == ["x", "0.W", "0.b", "2.W", "2.b"]


def test_check_params_false_checks_only_the_input(rng):
    result = gradcheck(NoBiasGradLinear(3, 2, rng=rng), np.ones((2, 3)), check_params=False)
    assert result.ok and [c.name for c in result.checks] == ["x"]


def test_the_checked_layer_is_not_modified(rng):
    layer = Linear(3, 2, rng=rng)  # float32
    before = {k: v.copy() for k, v in layer.params.items()}
    gradcheck(layer, rng.standard_normal((2, 3)), rng=rng)
    for name, value in before.items():
        assert layer.params[name].dtype == np.float32
        np.testing.assert_array_equal(layer.params[name], value)


def test_plain_function_with_its_vjp(rng):
    x = rng.standard_normal((3, 4))
    good = gradcheck(F.softmax, x, vjp=lambda x, g: F.softmax_vjp(F.softmax(x), g), rng=rng)
    assert good.ok and good.name == "softmax"
    bad = gradcheck(F.softmax, x, vjp=lambda x, g: g * F.softmax(x), rng=rng)
    assert not bad.ok and bad.failed() == ["x"]
    wrong_shape = gradcheck(np.sin, x, vjp=lambda x, g: np.cos(x).ravel() * g.ravel())
    assert not wrong_shape.ok and "shape" in wrong_shape.checks[0].note


def test_loss_layer_takes_a_target(rng):
    logits, target = rng.standard_normal((4, 3)), np.array([0, 1, 2, 0])
    result = gradcheck(CrossEntropyLoss(), logits, target=target, rng=rng)
    assert result.ok and [c.name for c in result.checks] == ["x"]


def test_the_report_is_reproducible_and_depends_on_rng(rng):
    x = rng.standard_normal((3, 4))
    layer = Linear(4, 2, rng=0)
    assert gradcheck(layer, x).max_abs_err == gradcheck(layer, x).max_abs_err
    assert (
        gradcheck(layer, x, rng=1).checks[0].actual != gradcheck(layer, x, rng=2).checks[0].actual
    )


def test_str_is_a_table_and_as_dict_is_json_safe(rng):
    result = gradcheck(NoBiasGradLinear(3, 2, rng=rng), np.ones((2, 3)), rng=rng)
    lines = str(result).splitlines()
    assert lines[0].startswith("NoBiasGradLinear: FAILED (eps=1e-06, atol=1e-05, rtol=0.0001)")
    assert lines[1].split() == [
        "check",
        "shape",
        "max_abs_err",
        "max_rel_err",
        "worst_index",
        "actual",
        "expected",
        "status",
    ]
    assert [line.split()[0] for line in lines[2:5]] == ["x", "W", "b"]
    assert lines[4].rstrip().endswith("FAIL") and lines[2].rstrip().endswith("ok")
    assert lines[5] == "diagnosis:" and lines[6].startswith("  b: ")
    data = json.loads(json.dumps(result.as_dict()))
    assert data["ok"] is False and [c["ok"] for c in data["checks"]] == [True, True, False]


def test_argument_validation(rng):
    layer = Linear(2, 2, rng=0)
    x = np.ones((1, 2))
    with pytest.raises(ValueError, match="gradcheck: eps must be a positive finite number; got 0"):
        gradcheck(layer, x, eps=0)
    with pytest.raises(ValueError, match="atol must be a finite number >= 0; got -1"):
        gradcheck(layer, x, atol=-1)
    with pytest.raises(TypeError, match="rtol must be a real number"):
        gradcheck(layer, x, rtol="1e-4")
    with pytest.raises(ValueError, match="x must be finite"):
        gradcheck(layer, np.array([[np.nan, 1.0]]))
    with pytest.raises(TypeError, match="x must be a numeric array"):
        gradcheck(layer, "abc")
    with pytest.raises(ValueError, match="target must be given for a loss layer"):
        gradcheck(CrossEntropyLoss(), x)
    with pytest.raises(ValueError, match="target must be None unless f is a loss layer"):
        gradcheck(layer, x, target=np.array([0]))
    with pytest.raises(ValueError, match="vjp must be None for a layer"):
        gradcheck(layer, x, vjp=lambda x, g: g)
    with pytest.raises(TypeError, match="vjp must be a callable"):
        gradcheck(np.sin, x)
    with pytest.raises(TypeError, match="f must be a Layer, an object with forward"):
        gradcheck(42, x, vjp=lambda x, g: g)


def test_check_adjoint_passes_a_true_pair_and_catches_a_false_one(rng):
    a = rng.standard_normal((4, 3))  # not symmetric: J = A maps (3,) to (4,)
    good = check_adjoint(lambda v: a @ v, lambda u: a.T @ u, (3,), rng=rng)
    assert good.ok and [c.name for c in good.checks] == ["trial 0", "trial 1", "trial 2"]
    square = rng.standard_normal((3, 3))
    bad = check_adjoint(lambda v: square @ v, lambda u: square @ u, (3,), rng=rng)
    assert not bad.ok
    wrong_shape = check_adjoint(lambda v: a @ v, lambda u: a @ np.ones(3), (3,), n_trials=1)
    assert not wrong_shape.ok and "vjp gave shape (4,)" in wrong_shape.checks[0].note


@pytest.mark.parametrize(
    ("jvp", "vjp", "words"),
    [
        # None was read as NaN: every trial failed with no word of why
        (lambda v: None, lambda u: u, "jvp must return an array of real numbers; got None"),
        (lambda v: v, lambda u: None, "vjp must return an array of real numbers; got None"),
        # a complex product was cut to its real part, so a wrong pair could pass
        (lambda v: v * 1j, lambda u: u, "jvp must return an array of real numbers; got dtype c"),
        (lambda v: v, lambda u: np.array(["a"] * 3), "vjp must return an array of real numbers"),
    ],
)
def test_check_adjoint_names_a_product_that_is_not_real_numbers(jvp, vjp, words):
    with pytest.raises(TypeError, match=f"^check_adjoint: {words}"):
        check_adjoint(jvp, vjp, (3,))


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
def test_check_adjoint_on_the_softmax_pairs_over_every_axis(shape, rng):
    x = rng.standard_normal(shape)
    for axis in range(-len(shape), len(shape)):
        s, logp = F.softmax(x, axis=axis), F.log_softmax(x, axis=axis)
        result = check_adjoint(
            lambda v, s=s, axis=axis: F.softmax_jvp(s, v, axis=axis),
            lambda u, s=s, axis=axis: F.softmax_vjp(s, u, axis=axis),
            shape,
            rng=rng,
            rtol=1e-12,
        )
        assert result.ok, str(result)
        result = check_adjoint(
            lambda v, lp=logp, axis=axis: F.log_softmax_jvp(lp, v, axis=axis),
            lambda u, lp=logp, axis=axis: F.log_softmax_vjp(lp, u, axis=axis),
            shape,
            rng=rng,
            rtol=1e-12,
        )
        assert result.ok, str(result)


def test_check_adjoint_validates_arguments():
    with pytest.raises(TypeError, match="x_shape must be a tuple of ints"):
        check_adjoint(np.negative, np.negative, 3)
    with pytest.raises(ValueError, match="n_trials must be a positive int; got 0"):
        check_adjoint(np.negative, np.negative, (3,), n_trials=0)
    with pytest.raises(TypeError, match="jvp and vjp must be callables"):
        check_adjoint(None, np.negative, (3,))


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_softmax_jacobian_invariants_hold_on_every_axis(shape, rng):
    x = 3 * rng.standard_normal(shape)
    for axis in range(-len(shape), len(shape)):
        result = check_softmax_jacobian(x, axis=axis, rng=rng)
        assert result.ok, str(result)
    assert check_softmax_jacobian(x.astype(np.float32)).ok


def test_check_softmax_jacobian_catches_a_diagonal_only_jacobian(monkeypatch, rng):
    def diagonal_only(x, axis=-1):
        s = np.moveaxis(F.softmax(x, axis=axis), axis, -1)
        return s[..., :, None] * np.eye(s.shape[-1]) * (1 - s[..., None, :])

    monkeypatch.setattr(identities_module.F, "softmax_jacobian", diagonal_only)
    result = check_softmax_jacobian(rng.standard_normal((2, 4)), rng=rng)
    assert not result.ok
    assert set(result.failed()) == {
        "rows sum to 0",
        "diag(s) - s s^T",
        "vjp == g @ J",
        "jvp == J @ v",
    }


def test_check_softmax_jacobian_validates_arguments():
    with pytest.raises(ValueError, match="x must have at least 1 dimension"):
        check_softmax_jacobian(1.0)
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 2\); got 2"):
        check_softmax_jacobian(np.ones((2, 2)), axis=2)
    with pytest.raises(ValueError, match="x must be finite"):
        check_softmax_jacobian(np.array([np.inf, 1.0]))


def test_softgrad_gradcheck_is_callable_whatever_was_imported_first(rng):
    import softgrad
    import softgrad.gradcheck as module

    layer, x = Linear(2, 2, rng=0), rng.standard_normal((3, 2))
    assert module(layer, x).ok  # the module object delegates to the function
    assert softgrad.gradcheck(layer, x).ok


def test_a_vjp_returning_none_is_told_so():
    result = gradcheck(np.sin, np.array([0.5, 1.0]), vjp=lambda x, g: None)
    assert result.checks[0].note == "vjp returned None"
    assert result.diagnosis.startswith("x: vjp returned None; it must return grad_x")
