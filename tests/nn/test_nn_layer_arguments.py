"""What a layer accepts: Linear's sizes, dtype, bias and initial draw; real inputs only; a
bool training mode."""

from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest

from softgrad.nn import Dropout, Layer, Linear, ReLU, Sequential, build_mlp


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
    ("dtype", "init", "dropout"),
    [(np.float32, "he", 0.0), (np.float64, "glorot", 0.5), (np.float16, "glorot", 0.0)],
)
def test_build_mlp_draws_the_weights_of_one_draw_per_layer_in_order(dtype, init, dropout):
    # build_mlp draws into the store's buffer: the numbers of the generator calls themselves,
    # and those of the same layers built one by one and copied into a Sequential
    sizes = [(30, 2000), (2000, 300), (300, 7)]
    generator = np.random.default_rng(3)
    expected = [_one_draw(generator, shape, init, dtype) for shape in sizes]
    next_expected = generator.random()
    generator = np.random.default_rng(3)
    net = build_mlp(30, [2000, 300], 7, rng=generator, dtype=dtype, init=init, dropout=dropout)
    assert generator.random() == next_expected
    generator = np.random.default_rng(3)
    one_by_one = Sequential(
        *(Linear(*shape, rng=generator, init=init, dtype=dtype) for shape in sizes)
    )
    linears = [layer for layer in net if isinstance(layer, Linear)]
    for layer, other, weights in zip(linears, one_by_one, expected, strict=True):
        assert layer.params["W"].dtype == dtype
        np.testing.assert_array_equal(layer.params["W"], weights)
        np.testing.assert_array_equal(layer.params["W"], other.params["W"])
        np.testing.assert_array_equal(layer.params["b"], 0.0)
    params, grads = net.named_params(), net.named_grads()
    np.testing.assert_array_equal(grads.flat, 0.0)
    assert all(a.base is params.flat for a in params.values())
    assert all(a.base is grads.flat for a in grads.values())


def _construction_peak(build):
    """The network ``build()`` returns, and the peak of what building it allocated."""
    tracemalloc.start()
    try:
        network = build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return network, peak


def test_build_mlp_allocates_the_weights_and_gradients_once():
    # each Linear drew its own W, allocated zero gradients, and the store copied both into its
    # buffers: 4x the weights' bytes at the peak, where 2x (weights + gradients) stay
    net, peak = _construction_peak(lambda: build_mlp(784, [2048, 2048], 10, rng=0))
    size = net.named_params().flat.nbytes  # 23 MB, and one float64 draw block of 2 MB
    assert peak <= 2.05 * size + (3 << 20), f"peak {peak / size:.2f}x the weights' {size} bytes"


def test_a_sequential_built_from_layers_peaks_one_buffer_above_its_layers():
    # the store allocated both its buffers while the layers still held their arrays (4x)
    def build():
        generator = np.random.default_rng(0)
        return Sequential(
            Linear(784, 2048, rng=generator), ReLU(), Linear(2048, 2048, rng=generator)
        )

    net, peak = _construction_peak(build)
    size = net.named_params().flat.nbytes
    assert peak <= 3.05 * size + (3 << 20), f"peak {peak / size:.2f}x the weights' {size} bytes"


def test_weights_too_large_for_memory_say_which_layer_and_how_much():
    with pytest.raises(
        MemoryError,
        match=r"Linear: .* 1000000 weights must fit in memory; got "
        r"3\.73e\+03 GiB of float32",
    ):
        Linear(10**6, 10**6)


def test_a_network_too_large_for_memory_says_how_much_and_its_largest_layer():
    with pytest.raises(
        MemoryError,
        match=r"build_mlp: the 1000010000000 parameters \(the largest layer Linear\(1000000, "
        r"1000000\)\) must fit in memory; got 3\.73e\+03 GiB of float32, and as much for their "
        r"gradients",
    ):
        build_mlp(8, [10**6], 10**6)


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


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_build_mlp_holds_given_weights_exactly_and_draws_nothing(dropout):
    drawn = build_mlp(5, [6, 4], 3, dropout=dropout, rng=1, dtype=np.float64)
    weights = {name: value.copy() for name, value in drawn.named_params().items()}
    generator = np.random.default_rng(7)
    state = generator.bit_generator.state
    held = build_mlp(
        5, [6, 4], 3, dropout=dropout, rng=generator, dtype=np.float64, weights=weights
    )
    assert generator.bit_generator.state == state  # nothing drawn
    assert held.get_config() == drawn.get_config()
    for name, value in weights.items():
        np.testing.assert_array_equal(held.named_params()[name], value, err_msg=name)
        assert held.named_params()[name] is not value  # copied into the store: no alias


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda w: w.pop("2.b"), r"^build_mlp: weights must name \['0\.W', '0\.b', '2\.W'"),
        (
            lambda w: w.update({"0.W": np.ones((4, 6))}),
            r"weights\['0\.W'\] must be an array of shape \(5, 6\)",
        ),
        (
            lambda w: w.update({"0.b": np.ones(6, np.float32)}),
            r"weights\['0\.b'\] .* float64; got shape \(6,\), float32",
        ),
        (lambda w: w.update({"2.W": [[1.0]]}), r"weights\['2\.W'\] .*; got list$"),
    ],
)
def test_build_mlp_refuses_weights_that_are_not_its_own(edit, message):
    weights = dict(build_mlp(5, [6], 3, rng=0, dtype=np.float64).named_params())
    edit(weights)
    with pytest.raises(ValueError, match=message):
        build_mlp(5, [6], 3, dtype=np.float64, weights=weights)


class _SkipsInit(Layer):
    """A user layer whose __init__ forgets super().__init__()."""

    def __init__(self):
        self.W = np.ones((2, 2))

    def forward(self, x):
        return x @ self.W


@pytest.mark.parametrize(
    ("call", "missing"),
    [
        (lambda layer: layer.astype(np.float32), "params"),
        (lambda layer: layer.training, "training"),
        (lambda layer: layer.grads, "grads"),
    ],
)
def test_a_subclass_that_skipped_layer_init_is_told_to_call_it(call, missing):
    # it was a bare "'_SkipsInit' object has no attribute 'params'" from inside softgrad
    layer = _SkipsInit()
    with pytest.raises(AttributeError, match=r"must call super\(\).__init__\(\)") as error:
        call(layer)
    assert error.value.name == missing and error.value.obj is layer
    assert f"no attribute {missing!r}" in str(error.value)
    assert not hasattr(layer, "params")  # still an AttributeError to hasattr and getattr


def test_other_missing_attributes_keep_python_s_message():
    with pytest.raises(AttributeError, match=r"^'_SkipsInit' object has no attribute 'nope'$"):
        _SkipsInit().nope  # noqa: B018
    assert getattr(Linear(2, 2), "nope", 7) == 7
