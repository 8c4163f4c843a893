"""SGD: hand-computed steps, torch.optim.SGD as oracle, in-place/dtype contract, bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from softgrad.optim import SGD

# float32 rounds every elementwise op at ~6e-8 relative; over 40 steps of order-1 updates the
# two libraries' different operation orders drift by a few ulps of the parameter scale
TOL = {np.float32: {"rtol": 1e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}


def run_steps(opt, w0, grads):
    params = {"0.W": np.array(w0)}
    out = []
    for g in grads:
        opt.step(params, {"0.W": np.array(g)})
        out.append(params["0.W"].copy())
    return out


def test_plain_sgd_by_hand():
    # W = 1.0, lr = 0.1, grads 0.5 then -1.0
    # step 1: W = 1.0 - 0.1 * 0.5 = 0.95 ; step 2: W = 0.95 - 0.1 * (-1.0) = 1.05
    steps = run_steps(SGD(lr=0.1), [1.0], [[0.5], [-1.0]])
    np.testing.assert_allclose([s[0] for s in steps], [0.95, 1.05], rtol=1e-15)


def test_momentum_by_hand():
    # lr = 0.1, momentum = 0.9, grads 0.5, -1.0, 2.0
    # step 1: b = g = 0.5 (no (1 - dampening) factor) ; W = 1.0 - 0.05 = 0.95
    # step 2: b = 0.9 * 0.5 - 1.0 = -0.55 ; W = 0.95 + 0.055 = 1.005
    # step 3: b = 0.9 * -0.55 + 2.0 = 1.505 ; W = 1.005 - 0.1505 = 0.8545
    steps = run_steps(SGD(lr=0.1, momentum=0.9), [1.0], [[0.5], [-1.0], [2.0]])
    np.testing.assert_allclose([s[0] for s in steps], [0.95, 1.005, 0.8545], rtol=1e-14)


def test_nesterov_with_weight_decay_by_hand():
    # lr = 0.1, momentum = 0.5, weight_decay = 0.1, W = 2.0, grads 1.0 then 0.0
    # step 1: g = 1.0 + 0.1 * 2.0 = 1.2 ; b = 1.2 ; W = 2.0 - 0.1 * (1.2 + 0.5 * 1.2) = 1.82
    # step 2: g = 0.0 + 0.1 * 1.82 = 0.182 ; b = 0.5 * 1.2 + 0.182 = 0.782
    #         W = 1.82 - 0.1 * (0.182 + 0.5 * 0.782) = 1.82 - 0.0573 = 1.7627
    opt = SGD(lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1)
    steps = run_steps(opt, [2.0], [[1.0], [0.0]])
    np.testing.assert_allclose([s[0] for s in steps], [1.82, 1.7627], rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_updates_in_place_and_keeps_dtype(dtype, momentum, rng):
    params = {"0.W": rng.standard_normal((4, 3)).astype(dtype), "0.b": np.zeros(3, dtype)}
    live = dict(params)
    before = {k: v.copy() for k, v in params.items()}
    grads = {k: np.ones_like(v) for k, v in params.items()}
    SGD(lr=0.1, momentum=momentum, weight_decay=0.01).step(params, grads)
    for key in params:
        assert params[key] is live[key]
        assert params[key].dtype == dtype
        assert not np.array_equal(params[key], before[key])
        np.testing.assert_array_equal(grads[key], 1.0)  # the gradient is never modified


def test_float64_grads_update_float32_params(rng):
    params = {"W": np.ones(3, np.float32)}
    opt = SGD(lr=0.5, momentum=0.9)
    opt.step(params, {"W": np.full(3, 0.25)})
    assert params["W"].dtype == np.float32
    assert opt.state_dict()["momentum_buffer.W"].dtype == np.float32
    np.testing.assert_array_equal(params["W"], np.float32(0.875))


def test_new_keys_get_fresh_state():
    opt = SGD(lr=1.0, momentum=0.5)
    params = {"a": np.zeros(1)}
    opt.step(params, {"a": np.ones(1)})
    params["b"] = np.zeros(2)
    opt.step(params, {"a": np.ones(1), "b": np.ones(2)})
    # a: b = 1, W = -1 ; b = 1.5, W = -2.5 ; key b: first step, buffer = g
    np.testing.assert_array_equal(params["a"], [-2.5])
    np.testing.assert_array_equal(params["b"], [-1.0, -1.0])
    assert opt.state_dict()["step.a"] == 2 and opt.state_dict()["step.b"] == 1


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "config",
    [
        {"lr": 0.05},
        {"lr": 0.05, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.02, "momentum": 0.9, "nesterov": True},
        {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
        {"lr": 0.02, "momentum": 0.8, "weight_decay": 0.05},
    ],
)
def test_matches_torch_sgd(config, dtype, lane, make_params, rng):
    torch = pytest.importorskip("torch")
    params, grads = make_params(lane, dtype, rng)
    shapes = {k: v.shape for k, v in params.items()}
    tparams = {k: torch.tensor(v.copy()) for k, v in params.items()}
    opt = SGD(**config)
    topt = torch.optim.SGD(list(tparams.values()), **config)
    for step in range(40):
        if step == 20:  # lr changes between steps apply to the whole step in both
            opt.lr = config["lr"] / 3
            topt.param_groups[0]["lr"] = config["lr"] / 3
        for k, s in shapes.items():
            grads[k][...] = rng.standard_normal(s).astype(dtype)
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k].copy())
        topt.step()
        opt.step(params, grads)
        for k in shapes:
            np.testing.assert_allclose(
                params[k], tparams[k].numpy(), **TOL[dtype], err_msg=f"{k} step {step}"
            )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -0.1}, ValueError, r"SGD.lr: lr must be >= 0.0; got -0.1"),
        ({"lr": float("nan")}, ValueError, "lr must be a finite number >= 0.0; got nan"),
        ({"lr": "0.1"}, TypeError, "lr must be a real number"),
        ({"momentum": -0.5}, ValueError, "SGD: momentum must be >= 0.0; got -0.5"),
        ({"nesterov": True}, ValueError, "momentum must be > 0 when nesterov=True"),
        ({"nesterov": 1, "momentum": 0.9}, TypeError, "nesterov must be a bool"),
        ({"weight_decay": -1e-4}, ValueError, "weight_decay must be >= 0.0"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SGD(**kwargs)


def test_lr_setter_validates():
    opt = SGD()
    opt.lr = 0.5
    assert opt.lr == 0.5 and isinstance(opt.lr, float)
    with pytest.raises(ValueError, match=r"SGD.lr: lr must be >= 0.0; got -1"):
        opt.lr = -1


@pytest.mark.parametrize(
    ("name", "value", "error", "match"),
    [
        ("momentum", -1.0, ValueError, r"^SGD: momentum must be >= 0.0; got -1.0$"),
        (
            "weight_decay",
            math.nan,
            ValueError,
            r"^SGD: weight_decay must be a finite number >= 0.0; got nan$",
        ),
        ("nesterov", 1, TypeError, r"^SGD: nesterov must be a bool; got 1$"),
    ],
)
def test_hyperparameter_setters_validate_and_leave_the_optimizer_untouched(
    name, value, error, match
):
    opt = SGD(lr=0.1, momentum=0.5)
    with pytest.raises(error, match=match):
        setattr(opt, name, value)
    assert opt.get_config() == {"lr": 0.1, "momentum": 0.5, "nesterov": False, "weight_decay": 0.0}


def test_nesterov_set_on_without_momentum_is_refused_and_a_state_of_either_loads():
    opt = SGD(lr=0.1)
    with pytest.raises(ValueError, match=r"^SGD: momentum must be > 0 when nesterov=True"):
        opt.nesterov = True
    # load_state_dict sets momentum and nesterov together, not one against the other's old value
    opt.load_state_dict(SGD(lr=0.1, momentum=0.9, nesterov=True).state_dict())
    assert (opt.momentum, opt.nesterov) == (0.9, True)
    opt.load_state_dict(SGD(lr=0.1).state_dict())
    assert (opt.momentum, opt.nesterov) == (0.0, False)


@pytest.mark.parametrize(
    ("params", "grads", "error", "match"),
    [
        (
            {"a": np.zeros(2)},
            {"b": np.zeros(2)},
            ValueError,
            r"grads must have the same keys as params; got missing \['a'\], unexpected \['b'\]",
        ),
        (
            {"a": np.zeros(2)},
            {"a": np.zeros(3)},
            ValueError,
            r"grads\['a'\] must have the shape of params\['a'\] \(2,\); got \(3,\)",
        ),
        (
            {"a": np.zeros(2, int)},
            {"a": np.zeros(2)},
            TypeError,
            r"params\['a'\] must be a floating-point ndarray",
        ),
        ({"a": [0.0, 1.0]}, {"a": np.zeros(2)}, TypeError, "floating-point ndarray"),
        (
            {"a": np.zeros(2)},
            {"a": np.zeros(2, np.int32)},
            TypeError,
            r"grads\['a'\] must be a floating-point ndarray",
        ),
        ([np.zeros(2)], {"a": np.zeros(2)}, TypeError, "params must be a dict"),
    ],
)
def test_bad_step_arguments(params, grads, error, match):
    with pytest.raises(error, match=match):
        SGD().step(params, grads)


def test_read_only_params_rejected():
    w = np.zeros(2)
    w.flags.writeable = False
    with pytest.raises(ValueError, match="must be writable"):
        SGD().step({"w": w}, {"w": np.ones(2)})


def test_repr_and_config():
    opt = SGD(lr=0.1, momentum=0.9, nesterov=True)
    assert repr(opt) == "SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0)"
    assert SGD(**opt.get_config()).get_config() == opt.get_config()


def test_stateless_sgd_follows_a_parameter_that_changed_shape_or_dtype():
    opt = SGD(lr=1.0)
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    params = {"w": np.zeros(3, np.float32)}  # e.g. a rebuilt model under the same name
    opt.step(params, {"w": np.ones(3, np.float32)})
    np.testing.assert_array_equal(params["w"], [-1.0, -1.0, -1.0])
    assert params["w"].dtype == np.float32


def test_hyperparameters_changed_between_steps():
    # nesterov + weight decay needs a second temporary: switching it on later must work
    # lr = 0.1, momentum = 0.5, W = 1.0, g = 1.0
    # step 1 (no decay): b = 1 ; W = 1 - 0.1 * (1 + 0.5) = 0.85
    # step 2 (decay 1.0): g = 1 + 0.85 = 1.85 ; b = 0.5 + 1.85 = 2.35
    #         W = 0.85 - 0.1 * (1.85 + 0.5 * 2.35) = 0.85 - 0.3025 = 0.5475
    opt = SGD(lr=0.1, momentum=0.5, nesterov=True)
    params = {"w": np.ones(1)}
    opt.step(params, {"w": np.ones(1)})
    opt.weight_decay = 1.0
    opt.step(params, {"w": np.ones(1)})
    np.testing.assert_allclose(params["w"], [0.5475], rtol=1e-14)


@pytest.mark.parametrize("cls", ["SGD", "Adam"])
def test_byte_swapped_parameters_are_updated(cls):
    from softgrad.optim import Adam

    opt = {"SGD": SGD(lr=0.1, momentum=0.9), "Adam": Adam(lr=0.1)}[cls]
    params = {"w": np.ones(5000, dtype=">f4")}
    opt.step(params, {"w": np.ones(5000, dtype=">f4")})
    opt.step(params, {"w": np.ones(5000, dtype=">f4")})
    assert params["w"].dtype == np.dtype(">f4")
    expected = {"SGD": 1 - 0.1 - 0.19, "Adam": 1 - 0.2}[cls]
    np.testing.assert_allclose(params["w"], expected, rtol=1e-6)
