"""scikit-learn's full estimator check suite on softgrad's MLPClassifier, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from softgrad.sklearn import MLPClassifier

# The expected failures of the float32 estimator, with their reason. The float64 estimator runs
# every check with none expected to fail, these two included.
_FLOAT32_REASON = (
    "compares predict_proba with rtol=1e-7, below float32 resolution: in float32 (the "
    "default dtype) weighting and repeating differ only by rounding (~6e-8); the same check "
    "passes with dtype=np.float64 (the second estimator of this suite)"
)
EXPECTED_FAILED_FLOAT32 = {
    "check_sample_weight_equivalence_on_dense_data": _FLOAT32_REASON,
    "check_sample_weight_equivalence_on_sparse_data": _FLOAT32_REASON,
}


def _expected_failed(estimator):
    return EXPECTED_FAILED_FLOAT32 if np.dtype(estimator.dtype) == np.float32 else {}


def _listed(marker):
    """The parametrize marker with its values in a list: scikit-learn before 1.8 (1.7 is the
    newest for Python 3.10) hands pytest a generator, which pytest 9 deprecates, and the
    warning, an error here, failed the file's collection."""
    argnames, argvalues = marker.args
    return pytest.mark.parametrize(argnames, list(argvalues), **marker.kwargs)


@_listed(
    parametrize_with_checks(
        [
            MLPClassifier(max_iter=100, random_state=0),
            MLPClassifier(max_iter=100, random_state=0, dtype=np.float64),
        ],
        expected_failed_checks=_expected_failed,
    )
)
# Many checks fit on tiny data sets with max_iter=100 (sklearn's own setting for its MLP in this
# suite); not converging there is expected and ConvergenceWarning would be an error under the
# project's filterwarnings=error, so it is ignored for these checks only.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_estimator_checks(estimator, check):
    # with n <= 200 the "auto" batch is the whole data set, so in the sample-weight checks a
    # weight k is exactly k repetitions of the sample: same objective, same normalisation
    check(estimator)
