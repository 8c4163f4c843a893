"""What a layer accepts: Linear's sizes, dtype, bias and initial draw; real inputs only; a
bool training mode."""

from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest

from softgrad.nn import Dropout, Linear, ReLU, Sequential, build_mlp


def _one_draw(generator, shape, init, dtype):
    """W as one draw of the whole shape in float64, then cast (what Linear drew before)."""
    if init == "he":
        weights = generator.standard_normal(shape) * math.sqrt(2.0 / shape[0])
    else:
        limit = math.sqrt(6.0 / (shape[0] + shape[1]))
        weights = generator.uniform(-limit, limit, size=shape)
    return weights.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("init", ["he", "glorot"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (2000, 700), (5, 300_000)])
def test_the_block_draw_gives_the_weights_and_generator_state_of_one_draw(shape, init, dtype):
    generator = np.random.default_rng(1)
    expected, next_expected = _one_draw(generator, shape, init, dtype), generator.random()
    generator = np.random.default_rng(1)
    weights = Linear(*shape, rng=generator, init=init, dtype=dtype).params["W"]
    assert weights.dtype == dtype
    np.testing.assert_array_equal(weights, expected)
    assert generator.random() == next_expected  # the next layer draws the same numbers


def test_a_float32_linear_never_holds_a_float64_copy_of_its_weights():
    # the whole float64 draw and its scaled copy peaked at 5 times W (160 MB for these 32 MB)
    tracemalloc.start()
    try:
        layer = Linear(4096, 2048, rng=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = layer.params["W"].nbytes  # W, its gradient, and two float64 blocks of 8 MB
    assert peak <= 2.5 * size + (1 << 20), f"peak {peak / 2**20:.1f} MiB for W of {size >> 20} MiB"


@pytest.mark.parametrize(
    "make", [lambda: Linear(10**6, 10**6), lambda: build_mlp(8, [10**6], 10**6)]
)
def test_weights_too_large_for_memory_say_which_layer_and_how_much(make):
    with pytest.raises(
        MemoryError,
        match=r"Linear: .* 1000000 weights must fit in memory; got "
        r"3\.73e\+03 GiB of float32",
    ):
        make()


@pytest.mark.parametrize("bias", [0, 1, "no", None, np.array(True)])
def test_bias_must_be_a_bool(bias):
    with pytest.raises(TypeError, match=re.escape(f"Linear: bias must be a bool; got {bias!r}")):
        Linear(3, 2, bias=bias)


def test_bias_takes_a_numpy_bool():
    assert Linear(3, 2, bias=np.False_).params.keys() == {"W"}


def test_dtype_none_is_refused_not_read_as_float64():
    # np.dtype(None) is float64: Linear(dtype=None) gave float64 weights, the default being float32
    with pytest.raises(
        TypeError, match="Linear: dtype must be one of float16, float32, float64; got None"
    ):
        Linear(3, 2, dtype=None)
    with pytest.raises(TypeError, match=r"build_mlp: dtype must be one of .*; got None"):
        build_mlp(3, [2], 2, dtype=None)


@pytest.mark.parametrize("dtype", [">f4", "<f8", np.dtype(">f2")])
def test_a_byte_order_is_dropped(dtype):
    # '>f4' weights failed in the compiled kernels (TypingError) and could not share a store
    # with float32 ones
    net = Sequential(
        Linear(3, 4, rng=0, dtype=dtype), ReLU(), Linear(4, 2, dtype=np.dtype(dtype).type)
    )
    assert net.named_params().flat.dtype.isnative
    y = net.forward(np.ones((2, 3), dtype=np.dtype(dtype).type))
    assert y.dtype == np.dtype(dtype).type and y.shape == (2, 2)


_NOT_REAL = {
    "complex": np.ones((2, 3)) * 1j,
    "str": np.array([["a", "b", "c"]] * 2),
    "object": np.array([[1.0, 2.0, None]] * 2),
}


@pytest.mark.parametrize("kind", list(_NOT_REAL))
def test_linear_refuses_inputs_that_are_not_real(kind):
    # complex was cast with a ComplexWarning (the imaginary part dropped), None became NaN,
    # and text met NumPy's own "could not convert string to float"
    layer = Linear(3, 3, rng=0)
    with pytest.raises(TypeError, match=r"Linear.forward: x must be a real array"):
        layer.forward(_NOT_REAL[kind])
    layer.forward(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"Linear.backward: grad_y must be a real array"):
        layer.backward(_NOT_REAL[kind])


@pytest.mark.parametrize("kind", list(_NOT_REAL))
def test_dropout_refuses_inputs_that_are_not_real(kind):
    layer = Dropout(0.5, rng=0)
    with pytest.raises(TypeError, match=r"Dropout.forward: x must be a real array"):
        layer.forward(_NOT_REAL[kind])
    layer.forward(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"Dropout.backward: grad_y must be a real array"):
        layer.backward(_NOT_REAL[kind])


@pytest.mark.parametrize("mode", ["eval", "no", 0, None])
def test_train_takes_a_bool_mode(mode):
    # train("eval") put the layer in training mode: every non-empty string is true
    for layer, where in ((Dropout(0.5), "Dropout"), (Sequential(Dropout(0.5)), "Sequential")):
        with pytest.raises(TypeError, match=f"{where}.train: mode must be a bool; got {mode!r}"):
            layer.train(mode)
    assert Sequential(Dropout(0.5)).train(np.False_)[0].training is False
