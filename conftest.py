"""Collection policy for the whole tree (tests/conftest.py holds the test-suite policy).

pytest imports every module under src for its doctests; the Numba lane's modules import numba,
so where numba is not installed they are left out (their tests skip, saying why).
"""

from __future__ import annotations

import importlib.util

collect_ignore_glob = (
    [] if importlib.util.find_spec("numba") is not None else ["src/softgrad/kernels/numba_*.py"]
)
