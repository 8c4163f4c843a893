"""The top-level namespace: lazy re-exports that do not depend on import order."""

import subprocess
import sys

import numpy as np
import pytest

import softgrad


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
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "name", ["nn", "optim", "functional", "datasets", "training", "errors", "kernels", "sklearn"]
)
def test_subpackages_are_reachable_after_a_plain_import(name):
    # in a fresh interpreter: in this one another test may have imported them already
    code = f"import importlib, softgrad; m = softgrad.{name}; "
    code += f"assert m is importlib.import_module('softgrad.{name}')"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no attribute 'sofmax'"):
        softgrad.sofmax  # noqa: B018


def test_a_star_import_keeps_the_users_scikit_learn(tmp_path):
    # softgrad.sklearn is an attribute, not a name `from softgrad import *` binds
    code = "import sklearn\nfrom softgrad import *\nprint(sklearn.__name__, softmax.__name__)"
    (tmp_path / "star.py").write_text(code)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "star.py")], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["sklearn", "softmax"]


def test_every_public_name_resolves():
    for name in softgrad.__all__:
        assert getattr(softgrad, name) is not None, name
    assert np.allclose(softgrad.softmax(np.zeros(4)), 0.25)
