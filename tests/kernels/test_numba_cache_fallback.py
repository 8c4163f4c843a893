"""Where the Numba lane caches its machine code when neither the install nor the user's cache
folder can be written: a private folder of this user's in the temporary directory, never one
another user made or can write (Numba's cache index is a pickle it loads), and no crash for a
user without a home (a container's uid with no passwd entry and no HOME)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

pytest.importorskip("numba", reason="the Numba lane needs numba (pip install numba)")

from softgrad.kernels import numba_threads

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX users and modes")


@pytest.fixture
def no_writable_cache(monkeypatch, tmp_path):
    """Neither the source's __pycache__ nor the user's cache folder is writable, the temporary
    directory is tmp_path, and Numba's CACHE_DIR is unset (restored after)."""
    monkeypatch.setattr(numba_threads.numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(numba_threads, "_writable", lambda folder: False)
    monkeypatch.setattr(numba_threads.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(numba_threads.tempfile, "tempdir", str(tmp_path))
    return tmp_path / f"softgrad-numba-{os.getuid()}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_users_folder_is_made_private(no_writable_cache):
    numba_threads._cache_fallback()
    assert numba_threads.numba.config.CACHE_DIR == str(no_writable_cache)
    assert _mode(no_writable_cache) == 0o700


@pytest.mark.parametrize("how", ["open to others", "a link", "a file"])
def test_a_folder_others_could_write_is_not_used(no_writable_cache, tmp_path, how):
    # /tmp/softgrad-numba-<uid> made 0777 by another user: its pickled index ran their code
    if how == "open to others":
        no_writable_cache.mkdir()
        no_writable_cache.chmod(0o777)
    elif how == "a link":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        no_writable_cache.symlink_to(tmp_path / "elsewhere")
    else:
        no_writable_cache.write_text("")
    numba_threads._cache_fallback()
    chosen = Path(numba_threads.numba.config.CACHE_DIR)
    assert chosen.parent == tmp_path and chosen.name.startswith("softgrad-numba-")
    assert chosen != no_writable_cache and chosen.resolve() != (tmp_path / "elsewhere")
    assert _mode(chosen) == 0o700 and chosen.stat().st_uid == os.getuid()


def test_a_user_without_a_home_gets_no_error(monkeypatch, no_writable_cache):
    # Path.home() raised "Could not determine home directory" from every Numba-lane call
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(numba_threads.Path, "home", staticmethod(no_home))
    assert numba_threads._user_cache() is None
    numba_threads._cache_fallback()
    assert numba_threads.numba.config.CACHE_DIR == str(no_writable_cache)


def test_a_cache_folder_the_user_set_wins(monkeypatch, no_writable_cache, tmp_path):
    monkeypatch.setattr(numba_threads.numba.config, "CACHE_DIR", str(tmp_path / "mine"))
    numba_threads._cache_fallback()
    assert numba_threads.numba.config.CACHE_DIR == str(tmp_path / "mine")
    assert not no_writable_cache.exists()


@pytest.mark.parametrize("xdg_cache_home", ["", "relative/cache"])
def test_a_cache_home_that_is_not_a_path_leaves_the_working_folder_alone(
    monkeypatch, no_writable_cache, tmp_path, xdg_cache_home
):
    # Numba reads XDG_CACHE_HOME as it is: set empty it cached into ./numba, in whichever
    # folder the user ran softgrad from, while the install's __pycache__ was read-only
    monkeypatch.setenv("XDG_CACHE_HOME", xdg_cache_home)
    monkeypatch.setattr(numba_threads, "_writable", lambda folder: folder.name != "__pycache__")
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)
    assert numba_threads._user_cache() is None
    numba_threads._cache_fallback()
    assert numba_threads.numba.config.CACHE_DIR == str(no_writable_cache)
    assert list(working.iterdir()) == []


# run in a fresh interpreter: the fallback runs when the kernels' module is first imported, with
# no folder writable (TemporaryFile, which _writable tries, refuses) and the temporary directory
# given by the test; then a kernel runs, and the cache folder Numba was pointed at is printed
_IMPORT = """
import os, sys, tempfile
def refuse(*args, **kwargs):
    raise PermissionError(13, "Permission denied")
tempfile.TemporaryFile = refuse
os.environ.pop("NUMBA_CACHE_DIR", None)
how = sys.argv[1]
if how == "none":
    def none():
        raise FileNotFoundError(2, "No usable temporary directory found")
    tempfile.gettempdir = none
elif how == "working":
    tempfile.tempdir = os.getcwd()  # what tempfile falls back to when no temporary folder works
elif how != "env":  # "env": TMPDIR, as the test set it
    tempfile.tempdir = how
import numpy as np
import numba
import softgrad
from softgrad import functional
from softgrad.kernels import numba_threads
if sys.argv[2:] != ["import only"]:  # Numba's compiler itself needs a working folder
    softgrad.set_kernels("numba")
    assert np.allclose(functional.softmax(np.zeros((2, 3), np.float32)), 1 / 3)
print(numba.config.CACHE_DIR)
"""


def _import_fresh(how: str, cwd: Path, tmpdir: str | None = None, remove_cwd: bool = False) -> str:
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": tmpdir} if tmpdir is not None else None
    command = [sys.executable, "-c", _IMPORT, how, *(["import only"] if remove_cwd else [])]
    if remove_cwd:  # the interpreter starts in a working folder removed under it
        # run from a file, as the softgrad script runs: "-c" puts "" first on sys.path, and
        # CPython 3.13.0-3.13.2 then fails any missing module attribute with SystemError when
        # the working folder is gone (python/cpython#130932), inside numpy's own import
        program = cwd.parent / "import_fresh.py"
        program.write_text(_IMPORT)
        command[1:3] = [str(program)]
        command = [
            "sh",
            "-c",
            'cd "$1" && rmdir "$1" && shift && exec "$@"',
            "sh",
            str(cwd),
            *command,
        ]
    run = subprocess.run(
        command, cwd=cwd.parent if remove_cwd else cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip()


def test_a_taken_folder_at_import_gives_this_process_its_own(tmp_path):
    # the fallback runs at import: the list of this process's own folders was defined below
    # it, so a taken /tmp/softgrad-numba-<uid> raised NameError from every Numba-lane entry
    taken = tmp_path / f"softgrad-numba-{os.getuid()}"
    taken.mkdir()
    taken.chmod(0o755)  # open to others: not used
    (tmp_path / "working").mkdir()
    chosen = Path(_import_fresh(str(tmp_path), tmp_path / "working"))
    assert chosen.parent == tmp_path and chosen.name.startswith("softgrad-numba-")
    assert chosen != taken
    assert not chosen.exists()  # removed at exit


@pytest.mark.parametrize("how", ["none", "working"])
def test_no_temporary_folder_compiles_uncached_and_leaves_the_working_folder_alone(tmp_path, how):
    # tempfile.gettempdir() raised FileNotFoundError at import; where it fell back to the
    # working folder, a softgrad-numba-<uid> folder was left wherever the user ran
    working = tmp_path / "working"
    working.mkdir()
    assert _import_fresh(how, working) == ""
    assert list(working.iterdir()) == []


@pytest.mark.parametrize("spelled", ["{}/", "{}/.", "./", "."])
def test_a_tmpdir_that_names_the_working_folder_is_taken(tmp_path, spelled):
    # tempfile normalises TMPDIR ("wd/" is "wd"): the spelling the user chose was compared as
    # typed, and the folder taken for tempfile's fallback to the working folder, so the kernels
    # compiled uncached in every run
    working = tmp_path / "working"
    working.mkdir()
    chosen = _import_fresh("env", working, tmpdir=spelled.format(working))
    assert chosen == str(working / f"softgrad-numba-{os.getuid()}")


def test_a_working_folder_removed_under_the_process_leaves_the_import_working(tmp_path):
    # Path.cwd() raised FileNotFoundError at import, where tempfile itself gets by (a kernel
    # that compiles there fails in Numba's own code, which calls os.getcwd; one cached runs)
    gone = tmp_path / "gone"
    gone.mkdir()
    chosen = _import_fresh("env", gone, tmpdir=str(tmp_path), remove_cwd=True)
    assert chosen == str(tmp_path / f"softgrad-numba-{os.getuid()}")
