"""Adam and AdamW: hand-computed steps, torch.optim as oracle, in-place/dtype contract, errors."""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.optim import Adam, AdamW

# float32 rounds each op at ~6e-8 relative; after 40 steps the libraries (different but
# algebraically equal operation orders) differ by a few ulps of the parameter scale
TOL = {np.float32: {"rtol": 1e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}


def run_steps(opt, w0, grads):
    params = {"0.W": np.array(w0, dtype=np.float64)}
    out = []
    for g in grads:
        opt.step(params, {"0.W": np.array(g, dtype=np.float64)})
        out.append(float(params["0.W"][0]))
    return out


def test_adam_by_hand():
    # lr = 0.1, betas = (0.9, 0.999), eps = 0, W = 1.0, grads 0.5 then -1.0
    # step 1: m = 0.1 * 0.5 = 0.05, v = 0.001 * 0.25 = 0.00025
    #         m_hat = 0.05 / 0.1 = 0.5, v_hat = 0.00025 / 0.001 = 0.25
    #         W = 1.0 - 0.1 * 0.5 / sqrt(0.25) = 0.9
    # step 2: m = 0.9 * 0.05 + 0.1 * -1.0 = -0.055, v = 0.999 * 0.00025 + 0.001 = 0.00124975
    #         m_hat = -0.055 / (1 - 0.81) = -0.28947368421052631
    #         v_hat = 0.00124975 / (1 - 0.998001) = 0.62518759379689845, sqrt = 0.79068805087524
    #         W = 0.9 + 0.1 * 0.28947368421052631 / 0.79068805087524 = 0.93661035270358
    steps = run_steps(Adam(lr=0.1, eps=0.0), [1.0], [[0.5], [-1.0]])
    np.testing.assert_allclose(steps, [0.9, 0.9366103527035846], rtol=1e-13)


def test_adam_weight_decay_goes_into_the_gradient():
    # lr = 0.1, weight_decay = 0.5, eps = 0, W = 2.0, grads 0 and 0: g = 0.5 * W
    # step 1: g = 1.0 -> m_hat = v_hat = ... -> W = 2.0 - 0.1 = 1.9
    # step 2: g = 0.95 ; m = 0.9 * 0.1 + 0.1 * 0.95 = 0.185, m_hat = 0.185 / 0.19
    #         v = 0.999 * 0.001 + 0.001 * 0.9025 = 0.0019015, v_hat = 0.0019015 / 0.001999
    #         W = 1.9 - 0.1 * 0.97368421052632 / sqrt(0.95122561280640) = 1.80016648561031
    steps = run_steps(Adam(lr=0.1, eps=0.0, weight_decay=0.5), [2.0], [[0.0], [0.0]])
    np.testing.assert_allclose(steps, [1.9, 1.8001664856103086], rtol=1e-13)


def test_adamw_decay_is_decoupled():
    # lr = 0.1, weight_decay = 0.5, eps = 0, W = 2.0, grads 1.0 and 1.0
    # step 1: W = 2.0 * (1 - 0.1 * 0.5) = 1.9 ; m_hat = v_hat = 1 -> W = 1.9 - 0.1 = 1.8
    # step 2: W = 1.8 * 0.95 = 1.71 ; m = 0.19, m_hat = 0.19 / 0.19 = 1
    #         v = 0.999 * 0.001 + 0.001 = 0.001999, v_hat = 1 -> W = 1.71 - 0.1 = 1.61
    steps = run_steps(AdamW(lr=0.1, eps=0.0, weight_decay=0.5), [2.0], [[1.0], [1.0]])
    np.testing.assert_allclose(steps, [1.8, 1.61], rtol=1e-14)


def test_eps_keeps_a_zero_gradient_finite():
    # first step with g = 0: m = v = 0, update 0 / (0 + eps) = 0, W unchanged (no NaN)
    params = {"W": np.array([3.0], dtype=np.float32)}
    Adam(lr=0.1).step(params, {"W": np.zeros(1, dtype=np.float32)})
    np.testing.assert_array_equal(params["W"], [3.0])


def test_first_step_is_lr_times_sign():
    # step 1: m_hat = g, v_hat = g * g -> W -= lr * g / (|g| + eps), for any betas
    params = {"W": np.zeros(4)}
    g = np.array([1e-3, -2.0, 50.0, -1e-4])
    Adam(lr=0.01, betas=(0.5, 0.6), eps=0.0).step(params, {"W": g})
    np.testing.assert_allclose(params["W"], -0.01 * np.sign(g), rtol=1e-14)


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_in_place_and_keeps_dtype(cls, dtype, rng):
    params = {"0.W": rng.standard_normal((5, 2)).astype(dtype), "0.b": np.ones(2, dtype)}
    live = dict(params)
    grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
    grads_before = {k: v.copy() for k, v in grads.items()}
    opt = cls(lr=0.01, weight_decay=0.1)
    for _ in range(3):
        opt.step(params, grads)
    state = opt.state_dict()
    for key in params:
        assert params[key] is live[key]
        assert params[key].dtype == dtype
        assert state[f"m.{key}"].dtype == dtype and state[f"v.{key}"].dtype == dtype
        np.testing.assert_array_equal(grads[key], grads_before[key])


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("Adam", {"lr": 0.01}),
        ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
        ("Adam", {"lr": 0.003, "betas": (0.5, 0.9), "eps": 1e-3}),
        ("Adam", {"lr": 0.01, "betas": (0.0, 0.0)}),
        ("AdamW", {"lr": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "betas": (0.8, 0.99)}),
    ],
)
def test_matches_torch(name, config, dtype, lane, make_params, rng):
    torch = pytest.importorskip("torch")
    params, grads = make_params(lane, dtype, rng)
    shapes = {k: v.shape for k, v in params.items()}
    tparams = {k: torch.tensor(v.copy()) for k, v in params.items()}
    opt = {"Adam": Adam, "AdamW": AdamW}[name](**config)
    topt = getattr(torch.optim, name)(list(tparams.values()), **config)
    for step in range(40):
        if step == 25:  # a schedule changing lr between steps
            opt.lr = config["lr"] / 10
            topt.param_groups[0]["lr"] = config["lr"] / 10
        # gradients of varying scale exercise eps and the bias corrections
        scale = 10.0 ** rng.integers(-3, 2)
        for k, s in shapes.items():
            grads[k][...] = (scale * rng.standard_normal(s)).astype(dtype)
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k].copy())
        topt.step()
        opt.step(params, grads)
        for k in shapes:
            np.testing.assert_allclose(
                params[k], tparams[k].numpy(), **TOL[dtype], err_msg=f"{k} step {step}"
            )


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -1e-3}, ValueError, "lr must be >= 0.0; got -0.001"),
        ({"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] must be in \[0.0, 1.0\); got 1.0"),
        ({"betas": (0.9, -0.1)}, ValueError, r"betas\[1\] must be in \[0.0, 1.0\); got -0.1"),
        ({"betas": 0.9}, TypeError, r"betas must be a pair \(beta1, beta2\); got 0.9"),
        ({"betas": (0.9, 0.99, 0.9)}, TypeError, "betas must be a pair"),
        ({"eps": -1e-8}, ValueError, "eps must be >= 0.0"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be >= 0.0"),
        ({"weight_decay": float("inf")}, ValueError, "weight_decay must be a finite number >= 0"),
    ],
)
def test_bad_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=f"{cls.__name__}.*{match}"):
        cls(**kwargs)


def test_a_beta_set_after_construction_is_validated():
    # beta1 = 1 divided by 1 - beta1**t = 0 at the next step
    opt = Adam()
    with pytest.raises(ValueError, match=r"^Adam: betas\[0\] must be in \[0.0, 1.0\); got 1.0$"):
        opt.beta1 = 1.0
    assert opt.betas == (0.9, 0.999)


def test_repr_and_defaults():
    assert repr(Adam()) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"
    assert repr(AdamW()) == "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"
    opt = AdamW(lr=0.1, betas=(0.5, 0.75))
    assert AdamW(**opt.get_config()).get_config() == opt.get_config()
    assert opt.betas == (0.5, 0.75)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_numpy_float64_hyperparameters_do_not_promote_float32(cls):
    # NumPy 2: an np.float64 scalar times a float32 array is float64; the optimizer stores
    # Python floats so float32 parameters and state stay float32
    opt = cls(
        lr=np.float64(0.01),
        betas=(np.float64(0.9), np.float64(0.99)),
        eps=np.float64(1e-7),
        weight_decay=np.float64(0.1),
    )
    opt.lr = np.float64(0.02)
    params = {"W": np.ones(3, np.float32)}
    opt.step(params, {"W": np.ones(3, np.float32)})
    assert params["W"].dtype == np.float32
    assert all(type(v) is float for k, v in opt.get_config().items() if k != "betas")


@pytest.mark.parametrize(
    ("dtype", "g", "eps"), [(np.float32, 1e-19, 1e-30), (np.float64, 1e-156, 1e-250)]
)
def test_a_tiny_eps_keeps_a_subnormal_v_that_a_normal_m_divides(kernel_lane, dtype, g, eps):
    # the Numba lane stored v = 0.001 g**2 (subnormal) as 0 while m = 0.1 g stayed normal: the
    # step was m / eps, -3e8 after 3 steps where torch moves about -3e-3 (lr times sign(g))
    params = {"0.W": np.zeros(5, dtype)}
    opt = Adam(lr=1e-3, eps=eps)
    for _ in range(3):
        opt.step(params, {"0.W": np.full(5, g, dtype)})
    np.testing.assert_allclose(params["0.W"], -3e-3, rtol=1e-4)
