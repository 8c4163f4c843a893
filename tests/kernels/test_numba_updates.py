"""The Numba lane's fused optimizer updates against the NumPy lane (softgrad.optim) and
scikit-learn's own optimizers, step by step on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from softgrad.kernels import numba_updates
from softgrad.kernels.numba_bound import SPLIT_MIN, _split_moves
from softgrad.kernels.numba_ops import NumbaOps
from softgrad.kernels.numba_threads import PARALLEL_MIN
from softgrad.optim import SGD, Adam, AdamW

OPS = NumbaOps()
# the NumPy side of every comparison runs on the NumPy lane, whatever the default
pytestmark = pytest.mark.usefixtures("numpy_lane")
DTYPES = [np.float32, np.float64]
# serial and threaded loops, and the 784-100-10 network's 79,510 parameters
SIZES = [0, 1, 100, PARALLEL_MIN - 1, PARALLEL_MIN, 79_510]
N_STEPS = 3
# roundings per step: a handful of operations per element, N_STEPS steps, and the NumPy lane's
# BLAS axpy may fuse a multiply-add where the kernel rounds twice
N_OPS = 8 * N_STEPS

# one per branch of the kernels: plain, decay without momentum, momentum, Nesterov with decay,
# scikit-learn's velocity without and with Nesterov (each SGD rule is its own kernel), Adam's
# betas, its L2 decay, scikit-learn's folded bias correction, AdamW's decoupled shrink
RULES = [
    (SGD, {"lr": 0.05}),
    (SGD, {"lr": 0.05, "weight_decay": 0.1}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    (SGD, {"lr": 0.02, "momentum": 0.8, "lr_in_velocity": True}),
    (SGD, {"lr": 0.02, "momentum": 0.8, "nesterov": True, "lr_in_velocity": True}),
    (Adam, {"lr": 0.01, "betas": (0.8, 0.99)}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (Adam, {"lr": 0.01, "fold_bias_correction": True}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.3}),
]
IDS = [f"{cls.__name__}-{'-'.join(map(str, cfg.values()))}" for cls, cfg in RULES]


def _numba_step(opt, param, grad, state, step):
    """One step of the optimizer ``opt``'s rule on the Numba lane; ``state`` holds its buffers."""
    if isinstance(opt, SGD):
        OPS.sgd_update(
            param, grad, state[0], [], lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov,
            weight_decay=opt.weight_decay, lr_in_velocity=opt.lr_in_velocity,
            first_step=step == 1,
        )  # fmt: skip
    else:
        OPS.adam_update(
            param, grad, state[0], state[1], [], lr=opt.lr, beta1=opt.beta1, beta2=opt.beta2,
            eps=opt.eps, weight_decay=opt.weight_decay, decoupled=isinstance(opt, AdamW),
            fold_bias_correction=opt.fold_bias_correction, step=step,
        )  # fmt: skip


def _grads(rng, size, dtype, special=False):
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(N_STEPS)]
    if special and size >= 4:
        grads[1][:4] = [np.inf, -np.inf, np.nan, 0.0]
    return grads


def _run_both(cls, config, size, dtype, rng, special=False):
    start = rng.standard_normal(size).astype(dtype)
    grads = _grads(rng, size, dtype, special)
    numpy_params = {"w": start.copy()}
    numpy_opt, numba_opt = cls(**config), cls(**config)
    numba_param = start.copy()
    state = [np.zeros(size, dtype=dtype), np.zeros(size, dtype=dtype)]
    for step, grad in enumerate(grads, start=1):
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in the special case
            numpy_opt.step(numpy_params, {"w": grad})
        _numba_step(numba_opt, numba_param, grad, state, step)
    return numba_param, numpy_params["w"], state


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("cls", "config"), RULES, ids=IDS)
def test_every_rule_matches_the_numpy_lane(cls, config, size, dtype, rng, agree):
    numba_param, numpy_param, _ = _run_both(cls, config, size, dtype, rng)
    agree(numba_param, numpy_param, N_OPS, f"{cls.__name__} after {N_STEPS} steps")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("cls", "config"), RULES, ids=IDS)
def test_non_finite_gradients_land_where_the_numpy_lane_puts_them(cls, config, dtype, rng, agree):
    numba_param, numpy_param, _ = _run_both(cls, config, 300, dtype, rng, special=True)
    assert not np.isfinite(numpy_param[:3]).any()  # the case is exercised
    agree(numba_param, numpy_param, N_OPS, f"{cls.__name__} with inf/NaN gradients")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [100, 79_510])
@pytest.mark.parametrize("nesterov", [False, True])
def test_lr_in_velocity_is_scikit_learns_sgd(nesterov, size, dtype, rng, agree):
    start = rng.standard_normal(size).astype(dtype)
    ours, theirs = start.copy(), [start.copy()]
    velocity = np.zeros(size, dtype=dtype)
    sk = SGDOptimizer(theirs, learning_rate_init=0.1, momentum=0.9, nesterov=nesterov)
    for step, grad in enumerate(_grads(rng, size, dtype), start=1):
        sk.update_params(theirs, [grad])
        OPS.sgd_update(
            ours, grad, velocity, [], lr=0.1, momentum=0.9, nesterov=nesterov,
            weight_decay=0.0, lr_in_velocity=True, first_step=step == 1,
        )  # fmt: skip
    agree(ours, theirs[0], N_OPS, "scikit-learn's SGD")
    agree(velocity, sk.velocities[0], N_OPS, "velocity")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [100, 79_510])
def test_fold_bias_correction_is_scikit_learns_adam(size, dtype, rng, agree):
    start = rng.standard_normal(size).astype(dtype)
    ours, theirs = start.copy(), [start.copy()]
    m, v = np.zeros(size, dtype=dtype), np.zeros(size, dtype=dtype)
    sk = AdamOptimizer(theirs, learning_rate_init=0.01)
    for step, grad in enumerate(_grads(rng, size, dtype), start=1):
        sk.update_params(theirs, [grad])
        OPS.adam_update(
            ours, grad, m, v, [], lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
            decoupled=False, fold_bias_correction=True, step=step,
        )  # fmt: skip
    agree(ours, theirs[0], N_OPS, "scikit-learn's Adam")
    # the kernel keeps scikit-learn's (and torch's) moments themselves
    agree(m, sk.ms[0], N_OPS, "first moment")
    agree(v, sk.vs[0], N_OPS, "second moment")


@pytest.mark.parametrize(("cls", "config"), RULES, ids=IDS)
def test_the_same_inputs_give_bit_identical_results(cls, config):
    # threaded size: the split over threads must not change a bit
    first = _run_both(cls, config, 79_510, np.float32, np.random.default_rng(7), special=True)
    again = _run_both(cls, config, 79_510, np.float32, np.random.default_rng(7), special=True)
    for a, b in zip((first[0], *first[2]), (again[0], *again[2]), strict=True):
        np.testing.assert_array_equal(a, b)


ADAM_RULES = [(cls, config) for cls, config in RULES if cls is not SGD]
ADAM_IDS = [name for name, (cls, _) in zip(IDS, RULES, strict=True) if cls is not SGD]


def _bound_adam(opt, size, dtype, grads, start, blas_threads, scratch=True):
    """(param, m, v) after ``grads`` through the Numba lane's bound Adam update (the flat
    store's path) under ``blas_threads`` BLAS threads, with a temporary in ``scratch`` or none;
    also how many times the split update's kernel ran."""
    from threadpoolctl import threadpool_limits

    param, grad = start.copy(), np.empty(size, dtype=dtype)
    m, v = np.zeros(size, dtype=dtype), np.zeros(size, dtype=dtype)
    temporaries = [np.empty(size, dtype=dtype)] if scratch else []
    run = OPS.bind_adam_update(
        param, grad, m, v, temporaries, beta1=opt.beta1, beta2=opt.beta2, eps=opt.eps,
        weight_decay=opt.weight_decay, decoupled=isinstance(opt, AdamW),
        fold_bias_correction=opt.fold_bias_correction,
    )  # fmt: skip
    calls = [0]
    direction = numba_updates.adam_direction

    def counted(*args):
        calls[0] += 1
        return direction(*args)

    numba_updates.adam_direction = counted
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            for step, g in enumerate(grads, start=1):
                np.copyto(grad, g)
                with np.errstate(invalid="ignore", over="ignore"):
                    run(opt.lr, step)
    finally:
        numba_updates.adam_direction = direction
    return param, m, v, calls[0]


def _blas_reporting_threads():
    from softgrad.kernels.blas import numpy_blas

    blas = numpy_blas()
    if blas is None or blas.threads() is None:
        pytest.skip("no BLAS here that reports its threads: Adam's update is never split")


@pytest.mark.parametrize("special", [False, True], ids=["finite", "inf-nan"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("cls", "config"), ADAM_RULES, ids=ADAM_IDS)
def test_the_split_adam_update_is_the_fused_kernels(cls, config, dtype, special, rng, agree):
    # the first-layer-sized buffer the split is for: moments bit for bit (the same operations)
    # unless the L2 decay reads the parameters, the parameters to the axpy's fused
    # multiply-add, NaN and inf where the kernel puts them
    _blas_reporting_threads()
    size = 79_510
    start = rng.standard_normal(size).astype(dtype)
    grads = _grads(rng, size, dtype, special)
    *split, split_calls = _bound_adam(cls(**config), size, dtype, grads, start, 2)
    *fused, fused_calls = _bound_adam(cls(**config), size, dtype, grads, start, 2, scratch=False)
    assert (split_calls, fused_calls) == (N_STEPS, 0)
    if cls is AdamW or not config.get("weight_decay"):
        np.testing.assert_array_equal(split[1], fused[1])
        np.testing.assert_array_equal(split[2], fused[2])
    else:  # the L2 decay reads the parameters, a rounding apart from the second step on
        agree(split[1], fused[1], 2 * N_STEPS, "first moment")
        agree(split[2], fused[2], 2 * N_STEPS, "second moment")
    agree(split[0], fused[0], 2 * N_STEPS, f"{cls.__name__} split after {N_STEPS} steps")
    if special:
        assert not np.isfinite(fused[0][:3]).any()  # the case is exercised
    numpy_params = {"w": start.copy()}
    numpy_opt = cls(**config)
    for grad in grads:
        with np.errstate(invalid="ignore", over="ignore"):
            numpy_opt.step(numpy_params, {"w": grad})
    agree(split[0], numpy_params["w"], N_OPS, f"{cls.__name__} split against the NumPy lane")


def test_the_split_adam_update_runs_only_where_it_pays(rng):
    # two BLAS threads or more, a buffer from SPLIT_MIN to PARALLEL_MIN, a temporary apart
    _blas_reporting_threads()
    opt, dtype = Adam(lr=0.01), np.float32

    def calls(size, threads, scratch=True):
        grads = _grads(rng, size, dtype)
        start = rng.standard_normal(size).astype(dtype)
        return _bound_adam(opt, size, dtype, grads, start, threads, scratch)[3]

    assert calls(79_510, 2) == N_STEPS
    assert calls(SPLIT_MIN, 2) == N_STEPS
    assert calls(SPLIT_MIN - 1, 2) == 0  # OpenBLAS runs so short an axpy on one thread
    assert calls(79_510, 1) == 0  # one thread: the axpy would be one more pass on it
    assert calls(79_510, 2, scratch=False) == 0
    assert calls(PARALLEL_MIN, 2) == 0  # the fused kernel on Numba's threads


@pytest.mark.parametrize(("cls", "config"), ADAM_RULES, ids=ADAM_IDS)
def test_the_split_update_gives_the_same_bits_run_to_run(cls, config):
    # the axpy splits the elements between the BLAS threads, each element's result its own
    _blas_reporting_threads()
    size, dtype = 79_510, np.float32
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(11)
        grads, start = (
            _grads(rng, size, dtype, special=True),
            rng.standard_normal(size).astype(dtype),
        )
        runs.append(_bound_adam(cls(**config), size, dtype, grads, start, 2))
    assert runs[0][3] == N_STEPS
    for a, b in zip(runs[0][:3], runs[1][:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_zero_learning_rate_carries_nan_into_the_parameters_as_the_fused_kernel(rng):
    # a BLAS axpy by 0 returns without reading its vector: the split must not run then
    _blas_reporting_threads()
    opt, dtype, size = Adam(lr=0.0), np.float32, 79_510
    grads, start = _grads(rng, size, dtype, special=True), rng.standard_normal(size).astype(dtype)
    *split, calls = _bound_adam(opt, size, dtype, grads, start, 2)
    fused = _bound_adam(opt, size, dtype, grads, start, 2, scratch=False)
    assert calls == 0 and np.isnan(fused[0][:4]).any()
    for a, b in zip(split, fused[:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_split_step_under_one_thread_is_the_fused_kernel_bit_for_bit(rng):
    # which path runs is decided at each step from the BLAS's threads
    _blas_reporting_threads()
    opt, dtype, size = AdamW(lr=0.01), np.float32, 79_510
    grads, start = _grads(rng, size, dtype), rng.standard_normal(size).astype(dtype)
    one = _bound_adam(opt, size, dtype, grads, start, 1)
    fused = _bound_adam(opt, size, dtype, grads, start, 2, scratch=False)
    for a, b in zip(one[:3], fused[:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_temporary_sharing_memory_with_the_buffers_is_not_used(rng):
    _blas_reporting_threads()
    size, dtype = 79_510, np.float32
    param, grad = np.ones(size, dtype), np.ones(size, dtype)
    m, v = np.zeros(size, dtype), np.zeros(size, dtype)
    hyper = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    hyper.update(decoupled=False, fold_bias_correction=False)
    for temporary in (grad, m, param[::-1].copy().reshape(-1)[:0], np.empty(size, np.float64)):
        assert _split_moves((param, grad, m, v), [temporary], False) is None
    assert _split_moves((param, grad, m, v), [np.empty(size, dtype)], False) is not None


def test_routines_whose_axpy_runs_on_one_thread_split_no_update(monkeypatch):
    # np.matmul's stand-in for a BLAS not found: the split would bind axpys never run
    from softgrad.kernels import numba_bound
    from softgrad.kernels.routines import MatmulRoutines

    monkeypatch.setattr(numba_bound, "blas_routines", lambda: MatmulRoutines("not found"))
    size, dtype = 79_510, np.float32
    arrays = tuple(np.zeros(size, dtype) for _ in range(4))
    assert _split_moves(arrays, [np.empty(size, dtype)], False) is None


@pytest.mark.parametrize("scratch", [False, True], ids=["fused", "split"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_moments_are_stored_as_zero(dtype, scratch, rng, agree):
    # a parameter whose gradient stops: m decays by beta1 a step into the subnormal range,
    # where the CPU computes slowly; the kernel stores it as 0 and the parameters do not notice
    _blas_reporting_threads()
    size, tiny = 79_510, np.finfo(dtype).tiny
    start = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(2)]
    grads[1][::7] = 0.0  # gradients that stop after the first step
    opt = Adam(lr=0.01)
    param, m, v, _ = _bound_adam(opt, size, dtype, grads[:1], start, 2, scratch)
    m[::7] = 1.05 * tiny  # normal now, subnormal after one more decay by 0.9
    v[::7] = 1.0005 * tiny  # likewise after one by 0.999
    expected = {"w": param.copy()}
    numpy_opt = Adam(lr=0.01)
    numpy_opt.step({"w": start.copy()}, {"w": grads[0]})  # its step count and slots
    numpy_opt._slots["w"]["m"][...], numpy_opt._slots["w"]["v"][...] = m, v
    numpy_opt.step(expected, {"w": grads[1]})
    run = OPS.bind_adam_update(
        param, grads[1], m, v, [np.empty(size, dtype)] if scratch else [], beta1=0.9,
        beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, fold_bias_correction=False,
    )  # fmt: skip
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):  # the split where there is a temporary
        run(0.01, 2)
    numpy_m = numpy_opt._slots["w"]["m"]
    assert np.all((numpy_m[::7] != 0) & (np.abs(numpy_m[::7]) < tiny))  # the case is exercised
    assert np.all(m[::7] == 0) and np.all(v[::7] == 0)
    assert np.all(np.abs(m[m != 0]) >= tiny)
    agree(param, expected["w"], N_OPS, "parameters beside the NumPy lane's subnormal moments")


def test_with_eps_zero_no_moment_is_flushed(rng):
    # a v flushed to 0 would divide by zero: with eps 0 the moments stay subnormal, steps finite
    dtype, tiny = np.float32, np.finfo(np.float32).tiny
    param, grad = np.ones(100, dtype), np.zeros(100, dtype)
    m, v = np.full(100, 1.05 * tiny, dtype), np.full(100, 1.0005 * tiny, dtype)
    OPS.adam_update(
        param, grad, m, v, [], lr=0.01, beta1=0.9, beta2=0.999, eps=0.0, weight_decay=0.0,
        decoupled=False, fold_bias_correction=False, step=2,
    )  # fmt: skip
    assert np.all((m > 0) & (m < tiny)) and np.all((v > 0) & (v < tiny))
    assert np.all(np.isfinite(param))


def test_float32_stays_float32_on_the_kernel_path():
    # the scalars are cast to the parameters' dtype, so the update rounds as float32 does
    param = np.array([1.0, 2.0], dtype=np.float32)
    buf = np.zeros(2, dtype=np.float32)
    OPS.sgd_update(
        param, np.array([0.5, -1.0], dtype=np.float32), buf, [], lr=0.1, momentum=0.9,
        nesterov=False, weight_decay=0.0, lr_in_velocity=False, first_step=True,
    )  # fmt: skip
    np.testing.assert_array_equal(param, np.array([0.95, 2.1], dtype=np.float32))
    assert param.dtype == np.float32 and buf.dtype == np.float32


def test_a_matrix_parameter_without_a_momentum_buffer(rng, agree):
    # the NumPy lane's call for one weight matrix and plain SGD: any shape, buf None
    param = rng.standard_normal((784, 100)).astype(np.float32)
    grad = rng.standard_normal((784, 100)).astype(np.float32)
    expected = {"W": param.copy()}
    SGD(lr=0.1, weight_decay=0.01).step(expected, {"W": grad})
    OPS.sgd_update(
        param, grad, None, [], lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.01,
        lr_in_velocity=False, first_step=True,
    )  # fmt: skip
    agree(param, expected["W"], N_OPS, "SGD on a (784, 100) matrix")


def test_a_first_sgd_step_compiles_the_kernel_of_its_rule_alone(first_compiles):
    # one kernel per SGD rule, the rule a constant: torch's momentum rule compiles its own
    # calling-thread twin, no other rule's kernel and no threaded compile
    compiled = first_compiles(
        "import numpy as np\n"
        "from softgrad.optim import SGD\n"
        "import softgrad.kernels.numba_ops\n"
        "p, g = np.ones(50, np.float32), np.ones(50, np.float32)\n"
        "SGD(lr=0.1, momentum=0.9).step({'w': p}, {'w': g})\n"
    )
    from softgrad.kernels.numba_updates import SGD_RULES

    assert "sgd_momentum_serial" in compiled
    names = {k.__name__ + twin for k in SGD_RULES for twin in ("", "_serial")}
    assert compiled & names == {"sgd_momentum_serial"}
