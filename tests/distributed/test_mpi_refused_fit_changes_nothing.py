"""A data-parallel fit that the ranks refuse leaves every rank's objects as they were, and the
call after the fix trains as if the refused one had never been made (under ``mpiexec -n N``;
the script: tests/distributed/mpi_refused.py).

Before, a resume file missing on one rank left the checkpoint loaded into the weights, the
optimizer, the schedule and the generators of the ranks whose file was good, and the ranks
told apart by their epochs, their data or a batch smaller than the ranks had already split,
loaded and taken rank 0's weights, optimizer state and new dropout streams: the fit after the
fix was another run than the same fit without the refused one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.mpi

SCRIPT = Path(__file__).with_name("mpi_refused.py")
SRC = Path(__file__).resolve().parents[2] / "src"
CASES = {
    # one rank's own set-up fails after the others loaded their checkpoints
    "resume_missing_on_one_rank": "DistributedError: fit: setting up the run: rank {last} of",
    # the ranks agree on these only once each has split its data and loaded its checkpoint
    "epochs_differ": "DistributedError: fit: epochs must be the same on every rank",
    # a resume: the rank whose X differs from the checkpoint's tells as the run is set up
    "X_differs": "DistributedError: fit: setting up the run: rank {last} of {ranks} failed: "
    "ValueError: fit: resume must continue a run on the same data; got other values of X or y",
    "batch_size_below_the_ranks": "ValueError: fit: batch_size and the training samples must",
    # no resume: the split drawn from fit's generator, which every rank took from rank 0's
    "no_resume_epochs_differ": "DistributedError: fit: epochs must be the same on every rank",
}


def _mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


@pytest.mark.parametrize("ranks", [2, 3])
def test_a_refused_fit_changes_nothing_on_any_rank(tmp_path, ranks):
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = [_mpiexec(), "-n", str(ranks), sys.executable, str(SCRIPT), str(tmp_path), *CASES]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for case, message in CASES.items():
        for rank in range(ranks):
            result = json.loads((tmp_path / f"{case}.rank{rank}.json").read_text())
            expected = message.format(last=ranks - 1, ranks=ranks)
            assert result["error"].startswith(expected), (case, result)
            assert result["changed"] == [], (case, rank, result)
            assert result["retry_identical"], (case, rank, result)
