"""A stdout that cannot take the output, a pipe whose reader is gone (``| head``) or a full disk
(``> /dev/full``), ends as the CLI promises: 141 quietly, or one error line and exit 2. The
output of a short command stays in Python's buffer until the interpreter's final flush, which
printed two lines ("Exception ignored ... BrokenPipeError") and exited 120."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

COMMANDS = [["--version"], ["--help"], ["info"], ["jacobian", "--help"], ["jacobian", "1", "2"]]


def _run(argv, stdout, unbuffered):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a block buffer
    if unbuffered:  # every write reaches the OS at once: argparse swallowed its failure
        env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "softgrad", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_closed_pipe_ends_quietly_with_141(argv, unbuffered):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    try:
        done = _run(argv, write, unbuffered)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_full_disk_is_one_error_line_and_exit_2(argv, unbuffered):
    with open("/dev/full", "w") as full:
        done = _run(argv, full, unbuffered)
    assert done.returncode == 2, done.stderr
    # it names stdout: "No space left on device" alone read as if an output file had failed
    assert done.stderr.splitlines() == [
        "softgrad: error: could not write to stdout (No space left on device)"
    ]
