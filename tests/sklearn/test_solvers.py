"""The estimator's solvers against scikit-learn's own optimizers, step by step."""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from softgrad.sklearn._solvers import AdamSolver, SGDSolver


def _run(solver, reference, rng, steps, size=37):
    params = rng.standard_normal(size)
    ref_params = [params.copy()]
    reference.params = ref_params
    for _ in range(steps):
        grads = rng.standard_normal(size) + 0.3 * params
        solver.step(params, grads)
        reference.update_params(ref_params, [grads])
    return params, ref_params[0]


@pytest.mark.parametrize("beta_1", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("beta_2", [0.0, 0.9, 0.999])
def test_adam_matches_sklearn(rng, beta_1, beta_2):
    size = 37
    solver = AdamSolver(size, np.float64, 1e-2, beta_1, beta_2, 1e-8)
    reference = AdamOptimizer([np.zeros(size)], 1e-2, beta_1, beta_2, 1e-8)
    ours, theirs = _run(solver, reference, rng, 400, size)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_matches_sklearn(rng, nesterov, momentum):
    size = 37
    solver = SGDSolver(size, np.float64, 1e-2, "constant", momentum, nesterov)
    reference = SGDOptimizer([np.zeros(size)], 1e-2, "constant", momentum, nesterov)
    ours, theirs = _run(solver, reference, rng, 200, size)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_adam_float32_updates_in_place(rng):
    params = rng.standard_normal(1000).astype(np.float32)
    before = params.copy()
    solver = AdamSolver(1000, np.float32, 1e-3)
    solver.step(params, np.ones(1000, np.float32))
    # the first Adam step moves every parameter by lr against the gradient's sign
    np.testing.assert_allclose(before - params, 1e-3, rtol=1e-4)
