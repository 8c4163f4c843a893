"""A model file records the kernel lane that trained it (the lane in use when it is saved)."""

from __future__ import annotations

import pytest

from softgrad.kernels import registry
from softgrad.model import Model
from softgrad.nn import build_mlp
from softgrad.preprocessing import Scaler
from softgrad.serialization import read_npz


@pytest.mark.parametrize("lane", ["numpy", "numba"])
def test_the_model_file_names_its_kernels(lane, tmp_path, monkeypatch):
    if lane == "numba":
        pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    monkeypatch.setattr(registry, "_active", {})
    registry.set_kernels(lane)
    Model(build_mlp(4, [3], 2, rng=0), ["a", "b"], Scaler()).save(tmp_path / "m.npz")
    _, meta = read_npz(tmp_path / "m.npz", "model")
    assert meta["kernels"] == lane
