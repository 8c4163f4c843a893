"""The Numba lane's fused optimizer updates against the NumPy lane (softgrad.optim) and
scikit-learn's own optimizers, step by step on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

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
