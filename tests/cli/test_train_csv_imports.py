"""`softgrad train` on a CSV file imports what training needs and nothing else: no PyTorch,
scikit-learn, matplotlib, pandas or pyarrow (each costs memory the 3x-the-file bound has no room
for; BENCHMARKS.md, "CSV loading"), and no tqdm when nothing is drawn. Nor does it on the
digits, the default data (read from scikit-learn's file without importing scikit-learn, whose
import took 0.9 s of a 2.4 s run), and neither imports scipy.sparse (0.1 s) for dense data."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

NEVER = ("torch", "sklearn", "matplotlib", "pandas", "pyarrow", "tqdm", "scipy.sparse")


def _what_numba_itself_imports() -> list[str]:
    """Those of NEVER that Numba's own array support imports, which every kernel compile or
    cache load of the Numba lane loads: numba.np.arraymath checks for a BLAS by importing
    scipy.linalg.cython_blas where SciPy is installed, and SciPy 1.15's scipy.linalg imports
    scipy.sparse (scipy.linalg._sketches), while SciPy 1.17's does not. SciPy 1.15 is the newest
    that installs beside NumPy 1.24 (the floor pyproject.toml allows); under it softgrad cannot
    keep scipy.sparse out of the Numba lane, under a newer SciPy this is empty."""
    code = (
        f"import sys, numba.np.arraymath\nprint(sorted(m for m in {NEVER!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout)


@pytest.mark.parametrize("data", ["a csv file", "the digits"])
@pytest.mark.parametrize("lane", ["numba", "numpy"])
def test_train_imports_none_of_the_heavy_optional_libraries(tmp_path, lane, data):
    (tmp_path / "d.csv").write_text(
        "a,b,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(60))
    )
    source = ", '--data', 'd.csv'" if data == "a csv file" else ""
    code = (
        "import sys\nfrom softgrad.cli import main\n"
        f"code = main(['train'{source}, '--epochs', '1', '--quiet', '--out', 'm.npz'])\n"
        f"print(code, sorted(m for m in {NEVER!r} if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SOFTGRAD_KERNELS", "NUMBA_CACHE_DIR")}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"), SOFTGRAD_KERNELS=lane)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    numbas = _what_numba_itself_imports() if lane == "numba" else []
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"0 {numbas}", f"expected 0 {numbas} (Numba's own imports), got {last}"
