"""A child forked while another thread held one of softgrad's locks (a kernel launch, a
``set_threads``) gets fresh ones: the held lock's thread does not exist in the child, and its
first launch or ``set_threads`` waited forever."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")

CHILD_WORK = {
    "launch": (
        "from softgrad.kernels import numba_threads as held\n"
        "import numpy as np\n"
        "from softgrad.kernels import numba_updates as nu\n"
        "def work():\n"
        "    p = np.zeros(numba_threads_min, np.float32)\n"
        "    nu.sgd_momentum(p, np.ones_like(p), np.zeros_like(p), np.float32(0.1),\n"
        "                    np.float32(0.9), np.float32(0), True)\n"
        "numba_threads_min = held.PARALLEL_MIN\n"
        "lock = held._LAUNCH\n"
    ),
    "set_threads": (
        "from softgrad.kernels import threads as held\n"
        "def work():\n"
        "    held.set_threads(1)\n"
        "    held.set_threads(None)\n"
        "lock = held._LOCK\n"
    ),
}

SCRIPT = """
import os, signal, sys
{setup}
lock.acquire()  # as another thread in a launch would hold it at the fork
pid = os.fork()
if pid == 0:
    signal.alarm(60)  # a child that waits forever ends here, failing the test
    work()
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("what", list(CHILD_WORK))
def test_a_child_forked_while_a_lock_was_held_can_take_it(what):
    if what == "launch":
        pytest.importorskip("numba")
    script = SCRIPT.format(setup=CHILD_WORK[what])
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
