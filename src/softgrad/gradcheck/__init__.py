"""Gradient verification: central differences, the adjoint identity, the softmax Jacobian.

Three independent ways to trust a derivative:

* :func:`gradcheck` compares an analytic vector-Jacobian product (a softgrad layer's or
  network's ``backward``, your own node's ``backward``, or a function paired with its VJP) with
  float64 central differences of ``phi(x) = sum(g * f(x))`` for a random cotangent g, for the
  input and every parameter; a failure is diagnosed against a table of classic mistakes.
* :func:`check_adjoint` checks ``sum(u * jvp(v)) == sum(vjp(u) * v)`` for random u, v.
* :func:`check_softmax_jacobian` checks J = softmax_jacobian(x) against its invariants:
  symmetric, rows summing to 0, equal to ``diag(s) - s s^T``, and consistent with the VJP/JVP.

Each returns a :class:`GradcheckResult`: ``.ok``, the worst errors, one :class:`Check` per
compared quantity (``"x"``, ``"W"``, ``"0.b"`` ...), printable as a table, and for a failed
gradient check a ``.diagnosis``.

Modules: ``check`` (gradcheck itself), ``runners`` and ``user_objects`` (how a function, a
softgrad layer or your own node is run), ``node_copies`` (the copies your node is run on, and
what they share with it), ``partial_copies`` (copies of a node that cannot be deep-copied whole)
and ``snapshots`` (what they share, put back), ``node_parameters`` (which of its arrays are
parameters, and where their gradients are), ``ties`` and ``views`` (an array two nodes hold, or
another views), ``sub_nodes`` (where a node's parameters sit, its sub-nodes' included, by path),
``sub_node_checks`` (a failing composite's nodes without parameters, each checked alone),
``finite_differences``, ``forward_ops`` (recognising a softmax, sigmoid, tanh or cross-entropy
forward), ``mistakes`` (the table of known wrong backwards), ``factors`` (a wrong gradient's
factor, as a person reads it), ``evidence`` (what a failed check hands the diagnosis),
``diagnosis`` and ``hints`` (naming the mistake, or locating the error), ``identities`` (adjoint
identity, softmax Jacobian invariants), ``precision`` (the step and tolerances, chosen from the
precision forward computes in: float64, float32, float16), ``result``.
"""

import sys
import types
from typing import TYPE_CHECKING, Any

from softgrad.gradcheck.check import gradcheck
from softgrad.gradcheck.identities import check_adjoint, check_softmax_jacobian
from softgrad.gradcheck.result import Check, GradcheckResult

__all__ = ["Check", "GradcheckResult", "check_adjoint", "check_softmax_jacobian", "gradcheck"]


class _CallableModule(types.ModuleType):
    """``softgrad.gradcheck`` names both this module and the function. Importing the module
    binds the attribute ``softgrad.gradcheck`` to the module, so calling the module must mean
    calling the function."""

    if TYPE_CHECKING:
        # what a type checker sees of ``softgrad.gradcheck``: the function's own signature when
        # it is called, and the module's functions as attributes (softgrad/__init__.py)
        __call__ = staticmethod(gradcheck)
        check_adjoint = staticmethod(check_adjoint)
        check_softmax_jacobian = staticmethod(check_softmax_jacobian)
        gradcheck = staticmethod(gradcheck)
    else:

        def __call__(self, *args: Any, **kwargs: Any) -> GradcheckResult:
            return gradcheck(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
