"""The top-level namespace: lazy re-exports that do not depend on import order."""

import subprocess
import sys

import numpy as np
import pytest

import softgrad


def _fresh(program: str) -> str:
    """What ``program`` prints, run in a fresh interpreter (none of this one's imports)."""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_functional_names_are_the_functional_functions():
    from softgrad import functional

    for name in ("softmax", "log_softmax", "softmax_vjp", "cross_entropy_grad", "relu_vjp"):
        assert getattr(softgrad, name) is getattr(functional, name), name


@pytest.mark.parametrize("first", ["call", "module", "attribute"])
def test_gradcheck_is_callable_and_a_module_whatever_is_imported_first(first):
    # a fresh interpreter: which of the three spellings comes first must not matter
    program = f"""
import numpy as np
import softgrad
first = {first!r}
if first == "module":
    import softgrad.gradcheck
elif first == "attribute":
    softgrad.gradcheck.check_adjoint
result = softgrad.gradcheck(softgrad.nn.Tanh(), np.linspace(-1.0, 1.0, 5))
assert result.ok, result
assert callable(softgrad.gradcheck.check_adjoint)
assert softgrad.check_adjoint is softgrad.gradcheck.check_adjoint
print("ok")
"""
    assert _fresh(program).strip() == "ok"


@pytest.mark.parametrize(
    "name", ["nn", "optim", "functional", "datasets", "training", "errors", "kernels", "sklearn"]
)
def test_subpackages_are_reachable_after_a_plain_import(name):
    # in a fresh interpreter: in this one another test may have imported them already
    code = f"import importlib, softgrad; m = softgrad.{name}; "
    code += f"print(m is importlib.import_module('softgrad.{name}'))"
    assert _fresh(code).split() == ["True"]


def test_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no attribute 'sofmax'"):
        softgrad.sofmax  # noqa: B018


def test_a_star_import_keeps_the_users_scikit_learn():
    # softgrad.sklearn is an attribute, not a name `from softgrad import *` binds
    code = "import sklearn\nfrom softgrad import *\nprint(sklearn.__name__, softmax.__name__)"
    assert _fresh(code).split() == ["sklearn", "softmax"]


def test_every_public_name_resolves():
    for name in softgrad.__all__:
        assert getattr(softgrad, name) is not None, name
    assert np.allclose(softgrad.softmax(np.zeros(4)), 0.25)
