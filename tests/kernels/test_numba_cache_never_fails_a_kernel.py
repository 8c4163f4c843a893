"""The Numba lane's disk cache only saves time, so nothing wrong with it stops a kernel: a
cache file that cannot be read is compiled anew and written again, a compile that cannot be
saved runs all the same, a cache folder that cannot be written is passed over for a private
one (or none), and a change to any file of the kernels package (a constant a kernel compiles
in) names every kernel's cache anew.

Each case runs a small kernel defined through ``numba_threads.kernel`` in a fresh interpreter
and prints its result with the cache's hits and misses."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import numba_threads

# a kernel of its own file (Numba caches only what a file defines); then its result, hits, misses
_KERNEL = """\
import numpy as np
from softgrad.kernels.numba_threads import kernel

def double(x):
    return x * 2.0

k = kernel(double)
result = k(np.arange(3.0))
print(result.tolist(), sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values()))
"""
_RESULT = "[0.0, 2.0, 4.0]"


@pytest.fixture
def run_kernel(tmp_path, fresh_python):
    """``run_kernel(before="", **env)``: run the kernel's file after the code ``before`` (set-up
    in the child) in a fresh interpreter; returns (result, hits, misses) after checking that
    it exited cleanly with nothing on stderr."""
    script = tmp_path / "double_kernel.py"
    script.write_text(_KERNEL)

    def run(before: str = "", **env: str) -> tuple[str, int, int]:
        code = f"{before}\nimport runpy\nrunpy.run_path({str(script)!r})\n"
        done = fresh_python(code, **env)
        assert done.returncode == 0 and not done.stderr, done.stderr
        result, hits, misses = done.stdout.rsplit(maxsplit=2)
        return result, int(hits), int(misses)

    return run


def _cache_files(folder: Path, suffix: str) -> list[Path]:
    found = sorted(folder.rglob(f"double_kernel.double_*{suffix}"))
    assert found, f"no {suffix} file under {folder}"
    return found


@pytest.mark.parametrize(
    ("suffix", "damage"),
    [
        (".nbi", lambda data: data[:10]),  # truncated: EOFError, "pickle data was truncated"
        (".nbi", lambda data: data[:12] + bytes(255 - b for b in data[12:])),  # garbled
        (".nbc", lambda data: data[: len(data) // 2]),
        (".nbc", lambda data: b"\x80\x05" + bytes(64)),
    ],
    ids=["index truncated", "index garbled", "code truncated", "code garbled"],
)
def test_a_cache_file_that_cannot_be_read_is_compiled_anew_and_written_again(
    run_kernel, tmp_path, suffix, damage
):
    # each of these raised from Numba's cache code on every run until the file was removed
    cache = tmp_path / "cache"
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 0, 1)
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 1, 0)
    for path in _cache_files(cache, suffix):
        path.write_bytes(damage(path.read_bytes()))
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 0, 1)
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 1, 0)  # written again


def test_a_compile_that_cannot_be_saved_runs_all_the_same(run_kernel, tmp_path):
    # a full cache disk: `softgrad train` said "No space left on device", naming no file
    full_disk = (
        "import errno\n"
        "from numba.core import caching\n"
        "def no_space(self, name, data):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "caching.IndexDataCacheFile._save_data = no_space\n"
    )
    cache = tmp_path / "cache"
    assert run_kernel(full_disk, NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 0, 1)
    assert run_kernel(full_disk, NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 0, 1)
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 0, 1)
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 1, 0)


def test_an_index_that_cannot_be_read_when_a_compile_is_saved_is_written_anew(run_kernel, tmp_path):
    # another process garbled it between this one's load and save: the save read it first
    garbled_once = (
        "import pickle\n"
        "from numba.core import caching\n"
        "read = caching.IndexDataCacheFile._load_index\n"
        "calls = []\n"
        "def load_index(self):\n"
        "    calls.append(1)\n"
        "    if len(calls) == 2:\n"
        "        raise pickle.UnpicklingError('invalid load key')\n"
        "    return read(self)\n"
        "caching.IndexDataCacheFile._load_index = load_index\n"
    )
    cache = tmp_path / "cache"
    assert run_kernel(garbled_once, NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 0, 1)
    assert run_kernel(NUMBA_CACHE_DIR=str(cache)) == (_RESULT, 1, 0)


# Numba looks for a cache folder in NUMBA_CACHE_DIR alone (the install's __pycache__ and the
# user's folder, which root can always write, are left out). The locator of NUMBA_CACHE_DIR is
# private in numba 0.60, the oldest pyproject.toml allows (_UserProvidedCacheLocator), and
# public in later releases (UserProvidedCacheLocator): the name the installed numba has.
_ONLY_THE_USERS_FOLDER = (
    "from numba.core import caching\n"
    "users = getattr(caching, 'UserProvidedCacheLocator', None)\n"
    "users = users or caching._UserProvidedCacheLocator\n"
    "caching.CompileResultCacheImpl._locator_classes = [users]\n"
)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users and modes")
def test_a_cache_folder_that_cannot_be_written_is_passed_over_for_a_private_one(
    run_kernel, tmp_path
):
    # "RuntimeError: cannot cache function ...: no locator available" from every command
    not_a_folder = tmp_path / "a file"
    not_a_folder.write_text("")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"NUMBA_CACHE_DIR": str(not_a_folder), "TMPDIR": str(temp)}
    assert run_kernel(_ONLY_THE_USERS_FOLDER, **env) == (_RESULT, 0, 1)
    assert run_kernel(_ONLY_THE_USERS_FOLDER, **env) == (_RESULT, 1, 0)
    private = temp / f"softgrad-numba-{os.getuid()}"
    assert _cache_files(private, ".nbi") and (private.stat().st_mode & 0o777) == 0o700


_NO_FOLDER = (
    "from numba.core import caching\ncaching.CompileResultCacheImpl._locator_classes = []\n"
)


def test_without_any_folder_to_cache_in_every_process_compiles(run_kernel, tmp_path):
    assert run_kernel(_NO_FOLDER, TMPDIR=str(tmp_path)) == (_RESULT, 0, 1)
    assert run_kernel(_NO_FOLDER, TMPDIR=str(tmp_path)) == (_RESULT, 0, 1)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users and modes")
def test_a_process_without_any_folder_makes_one_private_folder_at_most(fresh_python, tmp_path):
    # with the shared private folder taken, every kernel made a folder of its own, then
    # compiled uncached all the same
    shared = tmp_path / f"softgrad-numba-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    code = (
        f"{_NO_FOLDER}\nfrom softgrad.kernels import numba_ops\nimport pathlib\n"
        f"print(len(list(pathlib.Path({str(tmp_path)!r}).glob('softgrad-numba-*'))))"
    )
    done = fresh_python(code, TMPDIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"]  # the shared one, and this process's own


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users and modes")
@pytest.mark.parametrize("folder", ["given", "none", "this process's own"])
def test_softgrad_info_names_the_folder_the_kernels_are_cached_in(fresh_python, tmp_path, folder):
    from softgrad.cli.info import NO_CACHE

    given = tmp_path / "mine"
    before = {"given": "", "none": _NO_FOLDER, "this process's own": _ONLY_THE_USERS_FOLDER}
    shared = tmp_path / f"softgrad-numba-{os.getuid()}"
    if folder == "this process's own":  # the private folder, opened to others: not used
        given.write_text("not a folder")
        shared.mkdir(mode=0o777)
        shared.chmod(0o777)
    code = f"{before[folder]}\nfrom softgrad.cli import main\nmain(['info', '--json'])\n"
    done = fresh_python(code + "main(['info'])", NUMBA_CACHE_DIR=str(given), TMPDIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    reported, text = done.stdout.split("\n}\n", 1)
    kernels = json.loads(reported + "}")["kernels"]
    lines = [row.split(None, 1) for row in text.splitlines()]
    cache_line = lines[[label for label, _ in lines].index("cache")]
    after = lines[lines.index(cache_line) + 1]
    if folder == "none":
        assert kernels["cache"] is None and cache_line[1] == NO_CACHE
    elif folder == "given":
        assert Path(kernels["cache"]).parent == given and cache_line[1] == kernels["cache"]
    else:
        own = Path(kernels["cache"]).parent
        assert own.parent == tmp_path and own.name.startswith("softgrad-numba-") and own != shared
        assert after == ["note", kernels["cache_note"]]
        assert f"{shared} is another user's or open to others" in after[1]
    if folder != "this process's own":
        assert kernels["cache_note"] is None and after[0] != "note"


def _softgrad_imports(path: Path) -> set[str]:
    """The softgrad modules ``path`` imports from (``from softgrad.x import y``, and
    ``from softgrad.x import module``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("softgrad"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_file_a_kernel_module_imports_from_is_in_the_digest(tmp_path):
    # gather.MAX_CODES and softmax.UNSHIFTED_MAX are compiled into kernels: a kernel cached
    # before MAX_CODES changed kept accepting 256 codes while the tables were sized for 16
    package = Path(numba_threads.__file__).parent
    src = package.parents[1]
    needed = set()
    for path in package.glob("numba_*.py"):
        for module in _softgrad_imports(path):
            candidate = src.joinpath(*module.split(".")).with_suffix(".py")
            if candidate.exists():
                needed.add(candidate.relative_to(src))
    assert {Path("softgrad/kernels/gather.py"), Path("softgrad/kernels/softmax.py")} <= needed
    copy = tmp_path / "src"
    for path in needed | {path.relative_to(src) for path in package.glob("*.py")}:
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_bytes((src / path).read_bytes())
    digest = numba_threads._source_digest(copy / "softgrad" / "kernels")
    assert digest == numba_threads.SOURCE_DIGEST
    unhashed = []
    for path in sorted(needed):
        original = (copy / path).read_bytes()
        (copy / path).write_bytes(original + b"# changed\n")
        if numba_threads._source_digest(copy / "softgrad" / "kernels") == digest:
            unhashed.append(str(path))
        (copy / path).write_bytes(original)
    assert unhashed == []
