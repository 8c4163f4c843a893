"""Test-suite policy shared by every test module.

* ``oracle`` tests compare against PyTorch. They are skipped when torch is not installed, unless
  SOFTGRAD_REQUIRE_ORACLE=1 (set by .ci/run), where a missing torch fails the run instead.
* ``slow`` tests train on the real Fashion-MNIST files. They are skipped when the data is absent,
  unless SOFTGRAD_REQUIRE_DATA=1 (set by .ci/run, which installs the Debian package).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI machines are shared and slow: a deadline would turn load into flaky failures.
settings.register_profile(
    "softgrad", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("softgrad")

FASHION_DIRS = [os.environ.get("SOFTGRAD_DATA"), "/usr/share/datasets/fashion-mnist"]


def fashion_mnist_root() -> Path | None:
    """The folder holding the Fashion-MNIST IDX files, or None when it is not installed."""
    for folder in FASHION_DIRS:
        if folder and (Path(folder) / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(folder)
        if folder and (Path(folder) / "t10k-labels-idx1-ubyte").exists():
            return Path(folder)
    return None


def _require(var: str) -> bool:
    return os.environ.get(var, "") == "1"


def pytest_collection_modifyitems(config, items):
    has_torch = importlib.util.find_spec("torch") is not None
    has_data = fashion_mnist_root() is not None
    for item in items:
        if "oracle" in item.keywords and not has_torch:
            if _require("SOFTGRAD_REQUIRE_ORACLE"):
                raise pytest.UsageError(
                    "SOFTGRAD_REQUIRE_ORACLE=1 but torch is not installed: "
                    "pip install torch==2.13.0"
                )
            item.add_marker(pytest.mark.skip(reason="oracle test: torch is not installed"))
        if "slow" in item.keywords and not has_data:
            if _require("SOFTGRAD_REQUIRE_DATA"):
                raise pytest.UsageError(
                    "SOFTGRAD_REQUIRE_DATA=1 but Fashion-MNIST is not installed: "
                    "apt-get install dataset-fashion-mnist"
                )
            item.add_marker(pytest.mark.skip(reason="Fashion-MNIST is not installed"))


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: tests never share random state."""
    import numpy as np

    return np.random.default_rng(12345)
