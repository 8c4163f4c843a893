"""``softgrad info``: versions, the BLAS and the kernel lane in use."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from softgrad import __version__
from softgrad.kernels import registry


@pytest.fixture
def fresh_lane(monkeypatch):
    """The lane is chosen again from SOFTGRAD_KERNELS, and the test's choice is undone after."""
    monkeypatch.setattr(registry, "_active", {})
    monkeypatch.delenv("SOFTGRAD_KERNELS", raising=False)
    return monkeypatch


def test_info_names_versions_blas_and_the_default_lane(cli, fresh_lane):
    result = cli("info")
    assert result.code == 0, result.err
    lines = dict(line.split(None, 1) for line in result.out.splitlines())
    assert lines["softgrad"] == __version__
    assert lines["numpy"] == np.__version__
    assert lines["kernels"].split()[0] == registry.DEFAULT  # then "(numba 0.68.1, threads 2, ...)"
    assert lines["blas"]


def test_info_json(cli, fresh_lane):
    info = cli("info", "--json").json()
    assert info["softgrad"] == __version__
    assert info["kernels"]["name"] == registry.DEFAULT
    assert info["blas"]["name"]
    installed = importlib.util.find_spec("numba") is not None
    assert (info["numba"] is not None) == installed


def test_info_reports_the_numba_lane_with_its_threads(cli, fresh_lane):
    numba = pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")
    fresh_lane.setenv("SOFTGRAD_KERNELS", "numba")
    kernels = cli("info", "--json").json()["kernels"]
    assert kernels["name"] == "numba"
    assert kernels["numba"] == numba.__version__
    assert kernels["threads"] == numba.get_num_threads()


def test_a_bad_lane_is_one_error_line(usage_error, fresh_lane):
    fresh_lane.setenv("SOFTGRAD_KERNELS", "cuda")
    line = usage_error("info")
    assert "SOFTGRAD_KERNELS must be one of 'numpy', 'numba'; got 'cuda'" in line
