"""scikit-learn's update rules: SGD(lr_in_velocity=True) and Adam(fold_bias_correction=True).

The oracle is scikit-learn's own ``sklearn.neural_network._stochastic_optimizers`` (the rules
``MLPClassifier`` trains with), stepped side by side in float64 with a learning rate that changes
between steps, as its 'invscaling' and 'adaptive' schedules change it.
"""

from __future__ import annotations

import numpy as np
import pytest

from softgrad.optim import SGD, Adam

N_STEPS = 30
# float64, two algebraically equal operation orders (softgrad keeps Adam's moments without their
# (1 - beta) factors; BLAS may fuse a multiply-add): each step rounds a few times at
# eps = 2.2e-16 of the parameter scale (order 1 here), and the differences add up over the steps
ATOL = 64 * N_STEPS * np.finfo(np.float64).eps


def _rates(lr):
    """A learning rate that changes between steps (invscaling, then an 'adaptive' cut by 5)."""
    return [lr / (step + 1) ** 0.5 if step < 20 else lr / 25 for step in range(N_STEPS)]


def _run_side_by_side(ours, theirs_cls, theirs_kwargs, lane, make_params, rng):
    sk = pytest.importorskip("sklearn.neural_network._stochastic_optimizers")
    params, grads = make_params(lane, np.float64, rng)
    keys = list(params)
    mirror = [params[k].copy() for k in keys]
    theirs = getattr(sk, theirs_cls)(mirror, **theirs_kwargs)
    for step, lr in enumerate(_rates(theirs_kwargs["learning_rate_init"])):
        ours.lr = lr
        if theirs_cls == "AdamOptimizer":  # its step derives learning_rate from the initial one
            theirs.learning_rate_init = lr
        else:
            theirs.learning_rate = lr
        for k in keys:
            grads[k][...] = rng.standard_normal(grads[k].shape)
        theirs.update_params(mirror, [grads[k].copy() for k in keys])
        ours.step(params, grads)
        for k, expected in zip(keys, mirror, strict=True):
            np.testing.assert_allclose(
                params[k], expected, rtol=0, atol=ATOL, err_msg=f"{k} step {step}"
            )


@pytest.mark.parametrize(("momentum", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_lr_in_velocity_is_sklearns_sgd_optimizer(momentum, nesterov, lane, make_params, rng):
    ours = SGD(lr=0.1, momentum=momentum, nesterov=nesterov, lr_in_velocity=True)
    theirs = {"learning_rate_init": 0.1, "momentum": momentum, "nesterov": nesterov}
    _run_side_by_side(ours, "SGDOptimizer", theirs, lane, make_params, rng)


@pytest.mark.parametrize("eps", [1e-8, 1e-2])  # 1e-2: where eps sits shows in the result
def test_adam_fold_bias_correction_is_sklearns_adam_optimizer(eps, lane, make_params, rng):
    ours = Adam(lr=0.01, betas=(0.9, 0.999), eps=eps, fold_bias_correction=True)
    theirs = {"learning_rate_init": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": eps}
    _run_side_by_side(ours, "AdamOptimizer", theirs, lane, make_params, rng)


def test_sgd_by_hand_when_lr_changes():
    # lr 0.1 then 0.01, momentum 0.5, W = 1.0, g = 1.0 twice
    # sklearn: v = -0.1, W = 0.9 ; v = 0.5 * -0.1 - 0.01 = -0.06, W = 0.84
    # torch:   b = 1, W = 0.9 ; b = 1.5, W = 0.9 - 0.01 * 1.5 = 0.885
    results = {}
    for lr_in_velocity in (False, True):
        opt = SGD(lr=0.1, momentum=0.5, lr_in_velocity=lr_in_velocity)
        params = {"w": np.ones(1)}
        opt.step(params, {"w": np.ones(1)})
        opt.lr = 0.01
        opt.step(params, {"w": np.ones(1)})
        results[lr_in_velocity] = params["w"][0]
    np.testing.assert_allclose([results[True], results[False]], [0.84, 0.885], rtol=1e-15)


def test_nesterov_lr_in_velocity_by_hand():
    # lr 0.1, momentum 0.5, W = 1.0, g = 1.0 twice
    # step 1: v = -0.1 ; W = 1.0 + 0.5 * -0.1 - 0.1 = 0.85
    # step 2: v = 0.5 * -0.1 - 0.1 = -0.15 ; W = 0.85 + 0.5 * -0.15 - 0.1 = 0.675
    opt = SGD(lr=0.1, momentum=0.5, nesterov=True, lr_in_velocity=True)
    params = {"w": np.ones(1)}
    steps = []
    for _ in range(2):
        opt.step(params, {"w": np.ones(1)})
        steps.append(params["w"][0])
    np.testing.assert_allclose(steps, [0.85, 0.675], rtol=1e-15)


def test_adam_fold_bias_correction_by_hand():
    # lr 0.1, eps 0.1, W = 1.0, g = 0.5, betas (0.9, 0.999): m = 0.05, v = 0.00025 at step 1
    # sklearn: lr_t = 0.1 * sqrt(0.001) / 0.1 = sqrt(0.001) = 0.0316227766016838
    #          W = 1 - lr_t * 0.05 / (sqrt(0.00025) + 0.1) = 1 - 0.0015811388 / 0.1158113883
    #            = 0.98634713259...
    # torch:   W = 1 - 0.1 * 0.5 / (0.5 + 0.1) = 0.91666...
    results = {}
    for fold in (False, True):
        params = {"w": np.ones(1)}
        Adam(lr=0.1, eps=0.1, fold_bias_correction=fold).step(params, {"w": np.full(1, 0.5)})
        results[fold] = params["w"][0]
    lr_t = 0.1 * np.sqrt(0.001) / 0.1
    expected = 1 - lr_t * 0.05 / (np.sqrt(0.00025) + 0.1)
    np.testing.assert_allclose(results[True], expected, rtol=1e-14)
    np.testing.assert_allclose(results[False], 1 - 0.05 / 0.6, rtol=1e-14)


@pytest.mark.parametrize(
    ("cls", "option"), [(SGD, "lr_in_velocity"), (Adam, "fold_bias_correction")]
)
def test_a_state_saved_before_the_option_existed_loads_with_it_off(cls, option):
    opt = cls(lr=0.1, **({"momentum": 0.9} if cls is SGD else {}))
    opt.step({"w": np.ones(2)}, {"w": np.ones(2)})
    state = opt.state_dict()
    assert option not in state  # off: the state has the format of checkpoints from before it
    restored = cls(**{option: True})
    restored.load_state_dict(state)
    assert getattr(restored, option) is False
    assert restored.state_dict().keys() == state.keys()
    assert option not in repr(restored) and option not in restored.get_config()


@pytest.mark.parametrize(
    ("cls", "option"), [(SGD, "lr_in_velocity"), (Adam, "fold_bias_correction")]
)
def test_the_option_is_a_bool_saved_and_shown(cls, option):
    with pytest.raises(TypeError, match=f"{cls.__name__}: {option} must be a bool; got 1"):
        cls(**{option: 1})
    opt = cls(**{option: True})
    assert f"{option}=True" in repr(opt)
    assert cls(**opt.get_config()).get_config() == opt.get_config()
    fresh = cls()
    fresh.load_state_dict(opt.state_dict())
    assert getattr(fresh, option) is True
