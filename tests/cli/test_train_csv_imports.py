"""`softgrad train` on a CSV file imports what training needs and nothing else: no PyTorch,
scikit-learn, matplotlib, pandas or pyarrow (each costs memory the 3x-the-file bound has no room
for; BENCHMARKS.md, "CSV loading"), and no tqdm when nothing is drawn. Nor does it on the
digits, the default data (read from scikit-learn's file without importing scikit-learn, whose
import took 0.9 s of a 2.4 s run), and neither imports scipy.sparse (0.1 s) for dense data."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NEVER = ("torch", "sklearn", "matplotlib", "pandas", "pyarrow", "tqdm", "scipy.sparse")


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
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout
