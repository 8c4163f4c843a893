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
