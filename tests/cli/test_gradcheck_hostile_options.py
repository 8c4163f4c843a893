"""Issue 12, option values and user code for ``softgrad gradcheck FILE.py:CLASS``: a --shape
whose central differences would run for days (or allocate 75 GiB) is refused by its size, and
user code that calls sys.exit is quoted like any other exception (it ended the process with
its own status and no message)."""

from __future__ import annotations

import pytest

NODE = """
import sys

class Square:
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad_y):
        return 2 * self.x * grad_y

class Quits:
    def forward(self, x):
        sys.exit(3)

    def backward(self, grad_y):
        return grad_y

class QuitsEarly:
    def __init__(self):
        sys.exit("bye")
"""


@pytest.fixture
def node_file(tmp_path):
    path = tmp_path / "nodes.py"
    path.write_text(NODE)
    return path


@pytest.mark.parametrize("shape", ["99999,99999", "100000000", "101,100"])
def test_a_shape_beyond_the_entry_bound_is_refused_by_size(usage_error, node_file, shape):
    line = usage_error("gradcheck", f"{node_file}:Square", "--shape", shape)
    assert "argument --shape: must have at most 10,000 entries" in line and repr(shape) in line


def test_a_shape_at_the_bound_is_checked(cli, node_file):
    result = cli("gradcheck", f"{node_file}:Square", "--shape", "100,100")
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    ("cls", "quoted"),
    [("Quits", "Quits.forward raised SystemExit: 3"), ("QuitsEarly", "raised SystemExit: bye")],
)
def test_user_code_that_calls_sys_exit_is_quoted_in_one_line(usage_error, node_file, cls, quoted):
    assert quoted in usage_error("gradcheck", f"{node_file}:{cls}")
