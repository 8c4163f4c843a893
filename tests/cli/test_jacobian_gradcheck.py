"""softgrad jacobian and softgrad gradcheck."""

from __future__ import annotations

import numpy as np
import pytest


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _table(text):
    """The numbers of the aligned rows printed by `softgrad jacobian` (labels dropped)."""
    rows = []
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0].startswith("[") and cells[0].endswith("]") and len(cells) > 1:
            if all(c.startswith("[") for c in cells):
                continue  # the column header
            rows.append([float(c) for c in cells[1:]])
    return np.array(rows)


@pytest.mark.parametrize("values", [["1", "2", "3"], ["-1", "0", "2.5e0"], ["-1e3", "-1e3"]])
def test_softmax_jacobian_values(cli, values):
    result = cli("jacobian", *values, "--precision", "6")
    assert result.code == 0, result.err
    x = np.array([float(v) for v in values])
    s = _softmax(x)
    J = np.diag(s) - np.outer(s, s)
    np.testing.assert_allclose(_table(result.out), J, atol=1e-6)
    assert "softmax(x)" in result.out
    softmax_line = next(ln for ln in result.out.splitlines() if ln.startswith("softmax(x)"))
    np.testing.assert_allclose([float(c) for c in softmax_line.split()[1:]], s, atol=1e-6)


def test_log_softmax_jacobian_and_json(cli):
    result = cli("jacobian", "1", "-2", "3", "--log", "--json")
    assert result.code == 0, result.err
    got = result.json()
    x = np.array([1.0, -2.0, 3.0])
    s = _softmax(x)
    np.testing.assert_allclose(got["log_softmax"], np.log(s), rtol=1e-12)
    np.testing.assert_allclose(got["jacobian"], np.eye(3) - s[None, :], rtol=1e-12)
    text = cli("jacobian", "1", "-2", "3", "--log").out
    np.testing.assert_allclose(_table(text), np.eye(3) - s[None, :], atol=1e-4)


def test_json_is_strict_an_infinite_value_prints_as_null(cli):
    # allow_nan printed -Infinity, which strict parsers (JavaScript's JSON.parse) refuse
    import json

    result = cli("jacobian", "--log", "--json", "1e308", "-1e308")
    assert result.code == 0, result.err
    assert "Infinity" not in result.out and "NaN" not in result.out
    got = json.loads(result.out, parse_constant=lambda name: pytest.fail(f"got {name}"))
    assert got["x"] == [1e308, -1e308]
    assert got["log_softmax"] == [0.0, None]


def test_options_may_sit_between_negative_values(cli, usage_error):
    result = cli("jacobian", "1", "--log", "-3", "--precision", "3", "-2.5e-1")
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == ["x", "1", "-3", "-0.25"]
    assert result.out.splitlines()[2].split()[1:] == ["-0.266", "-4.27", "-1.52"]  # 3 digits
    assert cli("jacobian", "1", "--log", "-3", "-2.5e-1", "--json").json()["x"] == [1, -3, -0.25]
    assert "expected one argument" in usage_error("jacobian", "--precision")
    # a --precision with nothing after it is refused, not given the first value: "1 2 3
    # --precision" printed the softmax of [2, 3] at 1 digit, exit 0
    for values in (["1"], ["1", "2", "3"]):
        assert "expected one argument" in usage_error("jacobian", *values, "--precision")


def test_precision_and_json_are_not_given_together(cli, usage_error):
    # --json printed every digit, ignoring the --precision asked for
    assert "--json prints every digit" in usage_error("jacobian", "--json", "--precision", "2", "1")


def test_jacobian_columns_are_aligned(cli):
    out = cli("jacobian", "-1", "20", "3").out
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len({len(ln) for ln in lines}) == 1  # same width: right-aligned columns


def test_gradcheck_passes(cli):
    result = cli("gradcheck")
    assert result.code == 0, result.out + result.err
    for case in ("Linear", "ReLU", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MLP"):
        assert case in result.out
    assert "all 14 cases passed" in result.out
    report = cli("gradcheck", "--json").json()
    assert report["ok"] and report["failed"] == []
    assert all(r["max_abs_err"] < 1e-6 for r in report["results"])


def test_gradcheck_exit_1_on_a_wrong_gradient(cli, monkeypatch):
    from softgrad.nn import Tanh

    real_backward = Tanh.backward

    def wrong(self, grad_y, input_grad=True):
        return 1.5 * real_backward(self, grad_y, input_grad)

    monkeypatch.setattr(Tanh, "backward", wrong)
    result = cli("gradcheck")
    assert result.code == 1
    assert "FAILED" in result.out and "Tanh" in result.out
    assert "Tanh:\n  x: off by a constant factor: backward computes 3/2 times" in result.out


def test_jacobian_prints_huge_tiny_and_saturated_values_readably(cli):
    # a fixed 4 decimals printed 3e38 as a 39-digit number, 1e-30 as 0.0000, and the
    # saturated entries -s_i s_j == -0.0 as -0.0000
    out = cli("jacobian", "3e38", "0", "1e-30").out
    x_line = next(ln for ln in out.splitlines() if ln.startswith("x "))
    assert x_line.split()[1:] == ["3e+38", "0", "1e-30"]
    cells = [c for ln in out.splitlines() if ln.startswith("[") for c in ln.split()[1:]]
    assert cells and "-0" not in cells and all(len(c) <= 10 for c in cells)
    assert "0000" not in out


def test_jacobian_keeps_tiny_entries_to_their_significant_digits(cli):
    out = cli("jacobian", "1", "2", "30").out
    s = _softmax(np.array([1.0, 2.0, 30.0]))
    J = np.diag(s) - np.outer(s, s)
    got = _table(out)
    np.testing.assert_allclose(got, J, rtol=1e-3)  # 4 significant digits, even at 1e-25
    assert "-1.759e-25" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("[")]
    assert len({len(ln) for ln in lines}) == 1


@pytest.mark.parametrize("option", ["--p", "--prec", "--precision"])
def test_an_abbreviated_precision_between_values_takes_the_value_after_it(cli, option):
    # argparse reads --prec as --precision: it was read as valueless and its 3 moved behind the
    # values, so the run printed softmax([3, -2]) to 1 digit
    out = cli("jacobian", "1", option, "3", "-2").out
    x_line = next(ln for ln in out.splitlines() if ln.startswith("x "))
    assert x_line.split()[1:] == ["1", "-2"]
    assert "0.953" in out and "0.0474" in out


def test_more_values_than_max_values_are_refused_before_the_jacobian_is_built(
    cli, usage_error, monkeypatch
):
    import softgrad.functional
    from softgrad.cli import jacobian

    monkeypatch.setattr(jacobian, "MAX_VALUES", 3)
    assert cli("jacobian", "1", "2", "3").code == 0

    def never(*args, **kwargs):
        raise AssertionError("the Jacobian was built")

    monkeypatch.setattr(softgrad.functional, "softmax_jacobian", never)
    line = usage_error("jacobian", "1", "2", "3", "4")
    assert "X must be at most 3 values" in line and "got 4" in line


def test_json_jacobian_has_no_negative_zero(cli):
    # the saturated entries -s_i s_j are -0.0: the table printed 0, the JSON -0.0
    result = cli("jacobian", "--json", "3e38", "-3e38")
    assert result.code == 0, result.err
    assert "-0.0" not in result.out
    assert result.json()["jacobian"] == [[0.0, 0.0], [0.0, 0.0]]
