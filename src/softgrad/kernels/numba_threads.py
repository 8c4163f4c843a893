"""How the Numba lane runs its threads: the threading layer, and one parallel launch at a time.

Numba runs a ``prange`` loop on a *threading layer* it loads at the first parallel launch.
This module chooses it explicitly, ``LAYER = "workqueue"`` (Numba's own, bundled with every
wheel), unless the user set ``NUMBA_THREADING_LAYER``, which then wins. Measured here
(2 cores, float32 Adam on 80k parameters interleaved with a (128, 784) x (784, 100) GEMM, two
busy-loop processes as background load; docs/architecture.md has the table):

- ``omp`` (Numba's default where TBB is absent; GNU OpenMP) spins its threads while they wait,
  and on a loaded machine a spinning thread holds the core another needs: 20 ms median per
  update, against about 90 us with ``workqueue``, whose threads sleep.
- ``omp`` with ``OMP_WAIT_POLICY=PASSIVE`` is as robust and a little faster (about 50 us), but
  it needs the variable set before libgomp loads (a process-wide setting that would also change
  PyTorch's and scikit-learn's OpenMP), and GNU OpenMP is not fork-safe: a child forked after a
  parallel launch aborts at its own first launch.
- ``tbb`` (thread- and fork-safe) needs the ``tbb`` package, one more binary dependency.

``workqueue`` is fork-safe but not thread-safe: two Python threads launching parallel kernels
at once abort the process. :func:`parallel_kernel` therefore compiles a kernel
(``njit(cache=True, parallel=True)``) and calls it under one process-wide lock, so kernels from
concurrent threads (a threaded dask worker or joblib backend fitting estimators) take turns.
The lock costs well under a microsecond against kernels of tens.

Kernels compile once: ``cache=True`` stores the machine code beside the source
(``__pycache__``), or, where the install is not writable, in the user's cache folder (Numba's
own fallback); a ``NUMBA_CACHE_DIR`` the user sets wins where it can be written. Each kernel's
cache is named after a digest of the kernels package's sources (:func:`kernel`), so a change
anywhere in them compiles every kernel anew, and the first kernel a process defines removes
the cache files that other versions of the lane left in that folder
(:func:`prune_stale_caches`). Where neither is
writable (a read-only install and home, or no home at all; an ``XDG_CACHE_HOME`` set empty or
relative counts as no home, since Numba would resolve it against the working directory and
leave a ``numba`` folder wherever the user runs), Numba refuses to define a cached
kernel at all, so :func:`_cache_fallback` then points it at a folder of this user's own in the
system's temporary directory: made private (0700), and used only while it is this user's and
private, since Numba's cache index is a pickle that Numba loads (a folder another user made
there could run their code as ours); otherwise a fresh private folder for this process alone.
A ``NUMBA_CACHE_DIR`` that cannot be written is passed over as Numba passes it over, and where
no folder at all can be written the kernels compile in every process, uncached.

The cache only saves time, so it never stops a kernel (:func:`_forgiving_cache`): a cache file
that cannot be read (truncated by a full disk, garbled) is a miss, and the kernel compiles and
writes it again; a cache that cannot be written (a full disk, a folder made read-only since)
leaves the kernel compiled for this process. Both went up to the user as a traceback from
Numba's cache code, on every run until the file was removed by hand.

Importing this module imports Numba; only the Numba lane imports it. The kernel modules
import it (for :func:`parallel_kernel`) before they define a kernel, so the layer and the cache
folder are settled first.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast, overload

import numba

from softgrad.kernels.threads import wanted_threads

__all__ = [
    "LAYER",
    "PARALLEL_MIN",
    "SOURCE_DIGEST",
    "cache_folder",
    "cache_note",
    "kernel",
    "parallel_kernel",
    "prune_stale_caches",
    "thread_count",
    "threading_layer",
]

# Numba's settings: numba.config makes its names at run time (from the environment), so a type
# checker sees none of them
_config: Any = numba.config

# the threading layer the Numba lane uses unless the user chose one: NUMBA_THREADING_LAYER, or
# numba.config.THREADING_LAYER set in code before softgrad's kernels load (Numba's documented
# way; overwriting it moved the user's own prange code onto workqueue, where their threads'
# launches beside softgrad's aborted the process)
LAYER = "workqueue"

if "NUMBA_THREADING_LAYER" not in os.environ and _config.THREADING_LAYER == "default":
    # before any parallel launch: Numba loads its layer at the first one, and only then
    _config.THREADING_LAYER = LAYER

# held around every parallel launch: the workqueue layer must not be entered by two threads
_LAUNCH = threading.Lock()
# Numba's thread count is each Python thread's own: whether a launch in this thread set it to a
# set_threads limit, which a launch after set_threads(None) must lift here too (set_threads
# puts back only its caller's count; a thread that launched under the limit kept it)
_LIMITED_HERE = threading.local()


def _new_launch_lock() -> None:
    """A fresh launch lock in a forked child: a fork while another thread launched a kernel
    left the child a lock held by a thread it does not have, and its first launch waited
    forever."""
    global _LAUNCH
    _LAUNCH = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_new_launch_lock)


# (folder, the shared one it stands in for): the private folders made for this process alone
# (defined before _cache_fallback runs at import, which may make one)
_OWN_FOLDERS: list[tuple[str, str]] = []


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (made if missing), as Numba checks it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _user_cache() -> Path | None:
    """Numba's per-user cache folder (``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``), or None
    where that is no folder of the user's: no home (no passwd entry and no ``HOME``: a
    container's arbitrary uid), or an ``XDG_CACHE_HOME`` set empty or relative, which Numba
    reads as it is (``os.getenv``) and so resolves against the working directory, writing a
    ``numba`` folder into whichever folder the user runs from."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base is None:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # "Could not determine home directory"
            return None
    folder = Path(base) / "numba"
    return folder if folder.is_absolute() else None


def _private(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) of this user's that no one else may
    write or read, making it so if it is missing."""
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    info = folder.lstat()
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def _cache_fallback() -> None:
    """Point Numba's cache at a private folder in the temporary directory when neither the
    source's ``__pycache__`` nor the user's cache folder can be written (module docstring)."""
    if _config.CACHE_DIR:  # NUMBA_CACHE_DIR is set: the user's choice
        return
    user_cache = _user_cache()
    if _writable(Path(__file__).parent / "__pycache__") or (
        user_cache is not None and _writable(user_cache)
    ):
        return
    _use_private_cache()


def _temporary_folder() -> Path | None:
    """The system's temporary directory, or None where no temporary directory can be written
    (a read-only container run as a user without a home): tempfile then raises, or falls back
    to the working directory, where a cache folder would be left wherever the user runs. A
    working directory named by TMPDIR, TEMP or TMP is the user's choice, and is taken."""
    try:
        folder = Path(tempfile.gettempdir())
    except OSError:  # "No usable temporary directory found"
        return None
    try:
        working = Path.cwd()
    except OSError:  # the working folder was removed: not what tempfile fell back to
        return folder if folder.is_absolute() else None
    # TMPDIR=. comes back as ".": Numba would resolve it against whatever folder is current
    folder = working / folder
    if folder != working:
        return folder
    named = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
    # as tempfile normalises them (a trailing slash, "./"), and its own candidates
    chosen = {os.path.abspath(name) for name in named if name} | {"/tmp", "/var/tmp", "/usr/tmp"}
    return folder if str(folder) in chosen else None


def _use_private_cache() -> None:
    """Point Numba's cache at ``$TMPDIR/softgrad-numba-<uid>`` where that folder is this
    user's and private, else at a private folder for this process alone, removed at exit; where
    no temporary directory can be written, leave it: kernel() compiles without a cache."""
    temporary = _temporary_folder()
    if temporary is None:
        return
    shared = temporary / f"softgrad-numba-{os.getuid()}"
    if _private(shared):
        _config.CACHE_DIR = str(shared)
        return
    # taken (another user made it, or opened it to others): this process's own, removed at exit
    try:
        own = tempfile.mkdtemp(prefix="softgrad-numba-", dir=temporary)
    except OSError:  # no temporary directory either: kernel() compiles without a cache
        return
    atexit.register(shutil.rmtree, own, ignore_errors=True)
    _config.CACHE_DIR = own
    _OWN_FOLDERS.append((own, str(shared)))


_cache_fallback()


# below this many elements a loop stays on the calling thread. Measured here (2 cores, quiet,
# the workqueue layer): a launch on the threads costs about 40 us, so an SGD-momentum pass over
# float32 took 58 us threaded against 15 us serial at 80k elements, 108 against 73 at 400k, 174
# against 167 at 800k, and 292 against 1048 at 2M.
PARALLEL_MIN = 1 << 20


def _source_digest(folder: Path = Path(__file__).parent) -> str:
    """12 hex digits of a SHA-256 over every source file of the kernels package (``*.py`` in
    ``folder``), names and contents: the Numba lane's ``numba_*.py`` files and the modules
    whose constants its kernels compile in (``gather.MAX_CODES``, ``softmax.UNSHIFTED_MAX``:
    with ``numba_*.py`` alone, a kernel cached before ``MAX_CODES`` changed kept the old
    bound while the Python beside it sized its tables by the new one)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# in every kernel's cache name: a change to any file of the package compiles every kernel anew
# (kernel's docstring)
SOURCE_DIGEST = _source_digest()


def kernel(fn: Callable, *, name: str | None = None, **options) -> Callable:
    """``fn`` compiled as every Numba-lane kernel is: ``numba.njit(cache=True,
    error_model="numpy", nogil=True, **options)``, its disk cache named ``<name>_<digest>``
    (``name`` defaults to fn's qualified name).

    ``nogil``: a kernel releases the GIL for the length of its call, so Python threads that
    train or predict side by side (a threaded dask worker or joblib backend fitting
    estimators) run their kernels at once, as they already ran their BLAS products; a kernel
    holding it made every other thread wait, even for its Python. The kernels touch no Python
    object; a parallel launch still takes :data:`_LAUNCH` (module docstring). The error model:
    :func:`parallel_kernel`.

    The digest (``SOURCE_DIGEST``) covers every file of the kernels package. Numba reuses a cached
    kernel while a hash of the file that defines it is unchanged, whatever changed in the
    files it depends on: a helper it inlines from numba_math, or the options compiled here
    (this very ``nogil`` was not picked up by the cached kernels of unchanged files). Those
    stale kernels would also outlive an upgrade, since pip leaves the cache files it did not
    install. Named after the digest, every kernel compiles anew after any change to the
    package, and a stale one is never found."""
    renamed = _renamed(fn, f"{name or fn.__qualname__}_{SOURCE_DIGEST}")
    compile_with = functools.partial(numba.njit, error_model="numpy", nogil=True, **options)
    try:
        dispatcher: Callable = compile_with(cache=True)(renamed)
    except RuntimeError as error:
        if "cannot cache function" not in str(error):
            raise
        # no folder Numba can write: not NUMBA_CACHE_DIR (a file, read-only, on a path that
        # cannot be made), the install or the user's cache folder
        dispatcher = _without_usable_folder(renamed, compile_with)
    # Numba's cache folder for this kernel (its FunctionCache; absent on a NullCache)
    cache = getattr(dispatcher, "_cache", None)
    folder = getattr(cache, "cache_path", None)
    if cache is not None and folder is not None:
        _forgiving_cache(cache)
        if folder not in _PRUNED:
            _PRUNED.add(folder)
            prune_stale_caches(Path(folder))
    return dispatcher


def _without_usable_folder(fn: Callable, compile_with: Callable) -> Callable:
    """``fn`` compiled by ``compile_with`` (:func:`kernel`'s ``numba.njit``) where Numba found
    no folder to cache it in: cached in the private temporary folder
    (:func:`_use_private_cache`, tried once a process: a process where it too failed made a
    folder of its own for every kernel) if that can be written, else not cached (compiled
    again by every process)."""
    global _PRIVATE_TRIED
    if not _PRIVATE_TRIED:
        _PRIVATE_TRIED = True
        _use_private_cache()
    try:
        return compile_with(cache=True)(fn)
    except RuntimeError as error:
        if "cannot cache function" not in str(error):
            raise
        return compile_with(cache=False)(fn)


def cache_folder() -> str | None:
    """Where the kernels defined in this process keep their machine code between runs (the
    folders, joined by ", ", should a fallback have moved it between kernels), or None where
    every one compiles uncached (:func:`kernel`): ``softgrad info``'s ``cache`` line."""
    return ", ".join(sorted(_PRUNED)) or None


def cache_note() -> str | None:
    """Why the kernels' cache lasts only as long as this process, where it does: the private
    temporary folder was another user's or open to others, so a folder of this process's own
    holds it (:func:`_use_private_cache`) and every run compiles its kernels anew."""
    for own, shared in _OWN_FOLDERS:
        if any(folder.startswith(own) for folder in _PRUNED):
            return (
                "the kernels are cached for this process alone (removed at exit), so every run "
                f"compiles them: {shared} is another user's or open to others (remove it, or "
                "set NUMBA_CACHE_DIR to a folder of your own)"
            )
    return None


def _forgiving_cache(cache: numba.core.caching.Cache) -> None:
    """Make ``cache`` (a dispatcher's disk cache) a help that never fails a kernel: a cache
    entry that cannot be read is a miss, and its index is written anew, so the compile that
    follows replaces the entry; a compile that cannot be saved stays this process's alone.

    Numba raised from both (``EOFError`` or ``UnpicklingError`` from a truncated index, an
    ``OSError`` "No space left on device"), which reached the user as a traceback from its
    cache code, or as the CLI's one line "No space left on device" that named no file, on
    every run until the file was removed by hand."""
    load, save = cache.load_overload, cache.save_overload

    def load_overload(sig, target_context):
        try:
            return load(sig, target_context)
        except Exception:  # whatever fails in reading it: the machine code is compiled anew
            _clear_index(cache)
            return None

    def save_overload(sig, data):
        try:
            save(sig, data)
        except OSError:  # a full disk, a folder made read-only: compiled all the same
            return
        except Exception:  # the index it adds to could not be read: written anew, then saved
            _clear_index(cache)
            try:
                save(sig, data)
            except Exception:
                return

    # this one object's methods replaced, by design: through Any, as mypy takes it for a
    # mistake where numba is typed and numba 0.60 (no py.typed) leaves the cache Any already
    replaced: Any = cache
    replaced.load_overload = load_overload
    replaced.save_overload = save_overload


def _clear_index(cache: numba.core.caching.Cache) -> None:
    """Write ``cache``'s index empty (Numba's ``flush``), where that can be written."""
    try:
        cache.flush()
    except Exception:  # a folder that cannot be written: the entry stays a miss
        return


# a kernel cache file: <module>.<qualname>-<line>.py<version>[.<n>].nbi / .nbc, the module one
# of the lane's numba_*.py files
_CACHE_FILE = re.compile(r"^numba_\w+\.(?P<name>[^-]+)-\d+\.py\d+(?:\.\d+)?\.nb[ci]$")
# the cache folders pruned in this process: one listing each, at the first kernel defined
_PRUNED: set[str] = set()
# whether a kernel without a usable folder has tried the private one (_without_usable_folder)
_PRIVATE_TRIED = False


def prune_stale_caches(folder: Path, digest: str = SOURCE_DIGEST) -> list[str]:
    """Remove the kernel cache files in ``folder`` that no kernel of this lane will read:
    those of the lane's modules (``numba_*``) whose name does not end in ``_<digest>``, left
    by an earlier version (another digest, or none: before caches carried one). Returns the
    names removed.

    Numba never removes a cache file, and pip leaves the ones it did not install, so each
    change to the lane (an upgrade) would leave its predecessor's kernels behind (a few MB). A
    file another process removed first, or one that cannot be removed (a read-only install),
    is passed over; other files in the folder are never touched.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("numba_ops.adam_0123456789ab-9.py311.nbi", "numba_ops.adam-9.py311.nbi",
    ...              "numba_ops.adam_ba9876543210-9.py311.1.nbc", "numba_ops.cpython-311.pyc"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> prune_stale_caches(folder, digest="0123456789ab")
    ['numba_ops.adam-9.py311.nbi', 'numba_ops.adam_ba9876543210-9.py311.1.nbc']
    >>> sorted(path.name for path in folder.iterdir())
    ['numba_ops.adam_0123456789ab-9.py311.nbi', 'numba_ops.cpython-311.pyc']
    """
    try:
        names = sorted(path.name for path in folder.iterdir())
    except OSError:  # no folder yet (nothing compiled), or unreadable
        return []
    removed = []
    for name in names:
        match = _CACHE_FILE.match(name)
        if match is None or match["name"].endswith(f"_{digest}"):
            continue
        try:
            (folder / name).unlink()
        except OSError:  # gone already (another process pruned it) or read-only
            continue
        removed.append(name)
    return removed


class ParallelKernel(Protocol):
    """What :func:`parallel_kernel` returns: the launcher, with its two compiles."""

    dispatcher: Callable  # compiled with parallel=True
    serial_dispatcher: Callable  # compiled without, for calls below parallel_min
    parallel_min: int  # the size from which the threaded compile runs

    def __call__(self, *args: Any) -> Any: ...


@overload
def parallel_kernel(
    fn: Callable, *, size_arg: int = 0, parallel_min: int = PARALLEL_MIN
) -> ParallelKernel: ...


@overload
def parallel_kernel(
    fn: None = None, *, size_arg: int = 0, parallel_min: int = PARALLEL_MIN
) -> Callable[[Callable], ParallelKernel]: ...


def parallel_kernel(
    fn: Callable | None = None,
    *,
    size_arg: int = 0,
    parallel_min: int = PARALLEL_MIN,
) -> ParallelKernel | Callable[[Callable], ParallelKernel]:
    """``fn`` compiled with ``parallel=True`` (:func:`kernel`: cached, NumPy's error model, without
    the GIL), called under the launch lock (module docstring), and compiled a second time
    without ``parallel`` for the calls whose ``args[size_arg]`` holds fewer than
    ``parallel_min`` elements (``PARALLEL_MIN`` unless the kernel says otherwise): that twin
    runs the kernel's ``prange`` loops as plain loops on the calling thread. A kernel may then
    be its ``prange`` loops alone, where the threads pay from ``parallel_min`` on, without a
    serial branch of its own: one copy of its loop body to compile instead of two. The serial
    compile is also 2-3x faster than the threaded one (Adam 0.5 s against 1.2 s), and a first
    ``softgrad train`` pays for every kernel it calls. Either version computes the same thing;
    which one runs depends on the size alone. A serial call takes no lock: it never enters the
    thread pool. Measure a twin before you trust it: LLVM optimised some worse than the threaded
    compile while one kernel branched on its settings (SGD's twin ran 80k float32 in 1,846 us
    against 17 us, the bias + activation's 3.4 against 2.3 us), which kept those two on the
    threaded compile for every call; compiled once per rule and per activation
    (numba_updates.SGD_RULES, numba_activations.BIAS_ACTIVATION), the twins are as fast or
    faster.

    NumPy's error model makes a division by zero give inf or NaN as in the NumPy lane, instead
    of a per-element check for raising ZeroDivisionError, which kept the serial loops from
    vectorising (Adam's update over 80k float32: 223 us with the check, on the calling
    thread). The compiled dispatchers are the wrapper's ``dispatcher`` (threaded) and
    ``serial_dispatcher`` attributes (their ``stats`` count cache hits and misses), and
    ``parallel_min`` the size from which the threaded one runs. Under ``set_threads(1)``
    (softgrad.kernels.threads) every call runs the serial twin; under another limit the launch
    sets Numba's thread count for the calling thread (:func:`thread_count`)."""
    if fn is None:
        return functools.partial(parallel_kernel, size_arg=size_arg, parallel_min=parallel_min)
    dispatcher = kernel(fn, parallel=True)
    # its own cache name: the serial and the threaded compile must not share one
    serial = kernel(fn, name=f"{fn.__qualname__}_serial")

    @functools.wraps(fn)
    def launch(*args):
        threads = wanted_threads()
        if args[size_arg].size < parallel_min or threads == 1:
            return serial(*args)
        with _LAUNCH:
            if threads is not None:  # Numba's count is the calling thread's: set it here
                numba.set_num_threads(thread_count())
                _LIMITED_HERE.on = True
            elif getattr(_LIMITED_HERE, "on", False):  # a limit set here, since lifted
                numba.set_num_threads(_config.NUMBA_NUM_THREADS)
                _LIMITED_HERE.on = False
            return dispatcher(*args)

    # a function takes attributes; the cast tells mypy which
    wrapper = cast(ParallelKernel, launch)
    wrapper.dispatcher = dispatcher
    wrapper.serial_dispatcher = serial
    wrapper.parallel_min = parallel_min
    return wrapper


def _renamed(fn: Callable, qualname: str) -> Callable:
    """A copy of ``fn`` under the qualified name ``qualname``, after which Numba names its
    disk cache."""
    copy = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__qualname__ = qualname
    copy.__module__, copy.__doc__ = fn.__module__, fn.__doc__
    return copy


def thread_count() -> int:
    """The threads a parallel launch from this thread runs on: :func:`set_threads`' limit
    (softgrad.kernels.threads) where one is set, at most Numba's pool, else Numba's own count
    for this thread."""
    threads = wanted_threads()
    if threads is None:
        return numba.get_num_threads()
    return min(threads, _config.NUMBA_NUM_THREADS)


def threading_layer() -> str:
    """The layer in use once a parallel kernel has run in this process, else the one chosen
    (``NUMBA_THREADING_LAYER`` or ``LAYER``), which the first launch loads."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run in this process yet
        return str(_config.THREADING_LAYER)
