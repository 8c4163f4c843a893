"""softgrad.kernels: the kernel seam, the bottom floor; every hot-path formula lives here once.

The seam is modelled on Thinc's ``Ops`` (``NumpyOps`` / ``CupyOps``): one object carries the
array module and the fused routines that the layers, the optimizers, the training loop and the
estimator call. :mod:`softgrad.functional` validates its arguments and calls the same routines.
A compiled or a GPU implementation subclasses :class:`~softgrad.kernels.numpy_ops.NumpyOps`,
overrides the routines it does better, and plugs in here without the layers knowing.

Kernels trust their inputs: shapes, dtypes and layouts are checked by the public functions and
layers that call them. Shape legend: N samples, D input features, H hidden units, C classes.
"""

from softgrad.kernels.numpy_ops import NumpyOps
from softgrad.kernels.registry import KERNELS, get_ops, set_kernels

__all__ = ["KERNELS", "NumpyOps", "get_ops", "set_kernels"]
