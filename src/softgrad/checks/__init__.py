"""Argument checks shared across softgrad: each rule written once, in the house template.

Every check raises ValueError or TypeError with the message
``"{where}: {what} must be {expected}; got {actual!r}"`` and returns the value in the form the
caller goes on to trust (an int, a float array ...). Public functions call these at their
boundary (the CLI, the model, fit and predict, the optimizers and schedules, the functional
API); private helpers behind them trust what they were given. Each takes the value first, then
``where`` (the caller, as the message names it) and ``what`` (the argument's name).

The checks live in three modules, by what they check, one more says what a refusal leaves
behind, and one whether a user's class wrote its own method; import the first four from here:

- :mod:`~softgrad.checks.scalars`: single values (``check_positive_int``, ``check_int``,
  ``check_number``, ``check_bool``, ``check_choice``, ``check_metric``, ``check_path``), a saved
  state's entries (``check_saved_state``) and a hyperparameter that must fit the parameters' dtype
  (``check_fits_dtype``) or stay above 0 there (``check_stays_positive``).
- :mod:`~softgrad.checks.samples`: arrays of samples (``as_array``, ``check_real_array``,
  ``check_finite_rows``, ``check_feature_count``, ``check_fits_rows`` and its scan
  ``first_beyond_dtype``, ``check_sample_weight``, and ``whole_numbers``, the rule for class
  labels given as floats).
- :mod:`~softgrad.checks.functional_api`: the functional API's dtype rule (``as_real_float``,
  ``as_float_array``, ``result_dtypes``), the arguments beside x (``normalize_axis``,
  ``check_where``, ``check_same_shape``, ``check_out``) and how it delivers a result in that
  dtype (``to_output``, ``to_scalar``).
- :mod:`~softgrad.checks.refusals`: ``unchanged_if_refused``, an object's attributes put back
  when the block that sets them up is refused.
- :mod:`~softgrad.checks.overrides`: ``inherits``, whether a user's class wrote its own of the
  methods a fast path bypasses (the one test by which every fast path steps aside for it).

This package sits on the bottom floor: it imports nothing of softgrad outside itself, so every
floor can use it.
"""

from softgrad.checks.functional_api import (
    as_float_array,
    as_real_float,
    check_out,
    check_same_shape,
    check_where,
    normalize_axis,
    quiet_underflow,
    result_dtypes,
    to_output,
    to_scalar,
)
from softgrad.checks.refusals import unchanged_if_refused
from softgrad.checks.samples import (
    as_array,
    check_feature_count,
    check_finite_rows,
    check_fits_rows,
    check_real_array,
    check_sample_weight,
    first_beyond_dtype,
    first_non_number,
    plain_ndarray,
    whole_numbers,
)
from softgrad.checks.scalars import (
    check_bool,
    check_choice,
    check_fits_dtype,
    check_int,
    check_metric,
    check_number,
    check_path,
    check_positive_int,
    check_saved_state,
    check_stays_positive,
)
from softgrad.checks.wording import counted, first_few

__all__ = [
    "as_array",
    "as_float_array",
    "as_real_float",
    "check_bool",
    "check_choice",
    "check_feature_count",
    "check_finite_rows",
    "check_fits_dtype",
    "check_fits_rows",
    "check_int",
    "check_metric",
    "check_number",
    "check_out",
    "check_path",
    "check_positive_int",
    "check_real_array",
    "check_same_shape",
    "check_sample_weight",
    "check_saved_state",
    "check_stays_positive",
    "check_where",
    "counted",
    "first_beyond_dtype",
    "first_few",
    "first_non_number",
    "normalize_axis",
    "plain_ndarray",
    "quiet_underflow",
    "result_dtypes",
    "to_output",
    "to_scalar",
    "unchanged_if_refused",
    "whole_numbers",
]
