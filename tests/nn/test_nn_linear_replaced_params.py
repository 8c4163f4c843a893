"""A Linear's params replaced by the user after it was built are checked where forward and
backward read them: on either lane the same answer or the same refusal, naming the array. An
integer W truncated x to integers (3.1 came out 1), a masked W raised a bare broadcast error,
and a byte-swapped or float16 bias stopped the Numba lane with a typing error."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad import nn

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")


def _layer():
    return nn.Linear(3, 2, rng=0)


REFUSED = {
    "integer W": ("W", lambda W, b: np.ones((3, 2), np.int64), TypeError, r"'<i8'"),
    "matrix W": ("W", lambda W, b: np.asmatrix(W), TypeError, r"got matrix"),
    "masked W": ("W", lambda W, b: np.ma.masked_array(W), TypeError, r"got MaskedArray"),
    "W of another shape": ("W", lambda W, b: np.ones((3, 1), W.dtype), ValueError, r"\(3, 1\)"),
    "byte-swapped b": ("b", lambda W, b: b.astype(">f4"), TypeError, r"'>f4'"),
    "float16 b": ("b", lambda W, b: b.astype(np.float16), TypeError, r"'<f2'"),
    "matrix b": ("b", lambda W, b: np.asmatrix(b), TypeError, r"got matrix"),
    "b of another shape": ("b", lambda W, b: np.zeros((2, 1), b.dtype), ValueError, r"\(2, 1\)"),
    "list b": ("b", lambda W, b: [0.0, 0.0], TypeError, r"got list"),
}


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("call", ["forward", "forward_activated", "sequential", "backward"])
def test_a_replaced_parameter_the_layer_cannot_read_is_named(kernel_lane, case, call):
    name, make, error, got = REFUSED[case]
    network = nn.Sequential(_layer(), nn.ReLU())  # its Linear is fused with the ReLU
    layer = network.layers[0] if call == "sequential" else _layer()
    x = np.ones((4, 3), np.float32)
    if call == "backward":
        layer.forward(x)
    layer.params[name] = make(layer.params["W"], layer.params["b"])
    wanted = "W's dtype float32 and shape \\(2,\\)" if name == "b" else "a native float dtype"
    where = {"sequential": "forward(_activated)?"}.get(call, call)  # fused or not
    pattern = rf"^Linear\.{where}: params\['{name}'\] must be an ndarray of {wanted}.*{got}"
    with pytest.raises(error, match=pattern):
        if call == "forward":
            layer.forward(x)
        elif call == "forward_activated":
            layer.forward_activated(x, "relu")
        elif call == "sequential":
            network.forward(x)
        else:
            layer.backward(np.ones((4, 2), np.float32))


def test_replaced_parameters_of_the_right_kind_are_read(kernel_lane, tmp_path):
    layer = _layer()
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    W = np.arange(6, dtype=np.float32).reshape(3, 2) / 10
    np.save(tmp_path / "W.npy", W)
    layer.params["W"] = np.load(tmp_path / "W.npy", mmap_mode="r")  # saved weights, mapped
    layer.params["b"] = np.asfortranarray(np.array([0.5, -0.5], np.float32))
    expected = x @ W + np.array([0.5, -0.5], np.float32)
    tol = 4 * float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        layer.forward_activated(x, "relu"), np.maximum(expected, 0), rtol=tol, atol=tol
    )
