"""A drop-in for scikit-learn's MLPClassifier, trained by softgrad (float32, sklearn's rules).

>>> from softgrad.sklearn import MLPClassifier
>>> MLPClassifier(hidden_layer_sizes=(64,), dropout=0.1)
MLPClassifier(dropout=0.1, hidden_layer_sizes=(64,))
"""

from __future__ import annotations

from softgrad.sklearn.estimator import MLPClassifier

__all__ = ["MLPClassifier"]
