"""Fixtures for the CLI tests: an in-process runner and one small trained digits model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from softgrad.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run ``softgrad ARGS...`` in-process; returns exit code, stdout and stderr."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def usage_error(cli):
    """Run a command that must fail: exit 2, one stderr line 'softgrad: error: ...'."""

    def run(*argv: str) -> str:
        result = cli(*argv)
        lines = result.err.splitlines()
        assert result.code == 2, (result.code, result.err)
        assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
        assert lines[0].startswith("softgrad: error: "), lines[0]
        assert "Traceback" not in result.err
        return lines[0]

    return run


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory) -> Path:
    """A digits model trained for a few epochs (shared by the evaluate/predict/export tests)."""
    folder = tmp_path_factory.mktemp("digits_model")
    path = folder / "model.npz"
    code = main(["train", "--epochs", "8", "--out", str(path), "--quiet", "--seed", "1"])
    assert code == 0 and path.exists()
    return path


@pytest.fixture
def csv_rows():
    """``csv_rows(path, n_features, names=None)``: predict's rows of the .csv file ``path`` for a
    model of ``n_features`` features, trained on columns ``names`` (None: no names)."""
    from types import SimpleNamespace

    from softgrad.cli import inputs

    def read(path, n_features=3, names=None):
        metadata = {} if names is None else {"feature_names": names}
        return inputs._from_csv(path, SimpleNamespace(metadata=metadata, n_features=n_features))

    return read
