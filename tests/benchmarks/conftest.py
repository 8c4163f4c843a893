"""The benchmark scripts import their siblings by bare name (``import data``), as they do when
run as ``python benchmarks/X.py``: the tests put benchmarks/ on the path the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
