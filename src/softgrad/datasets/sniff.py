"""What a file really is, from its first bytes, and reading NumPy array files without pickle.

Used by every reader of ``.npz``/``.npy`` files (data files, model and checkpoint files, the
CLI's ``predict`` inputs), so a text file, a Python pickle or a truncated archive is reported as
what it is, with the file's name, instead of NumPy's own words.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from typing import IO

import numpy as np

__all__ = [
    "MAX_INFLATE_RATIO",
    "check_array_headers",
    "describe",
    "npy_header",
    "read_arrays",
    "sniff",
]

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip archive
    (b"\x93NUMPY", "npy"),
    (b"\x1f\x8b", "gzip"),
)
_HEAD = 64

_DESCRIPTIONS = {
    "zip": "a zip archive",
    "npy": "a single NumPy array (.npy)",
    "pickle": "a Python pickle (softgrad never loads pickled data: it can run code)",
    "gzip": "gzip-compressed data",
    "empty": "an empty file",
    "binary": "binary data of an unknown format",
}


def sniff(path: str | os.PathLike) -> str:
    """The kind of file at ``path``, from its first bytes.

    Returns
    -------
    str
        ``"zip"`` (an .npz is one), ``"npy"``, ``"pickle"`` (protocol 2+), ``"gzip"``,
        ``"empty"``, ``"text"`` (UTF-8 without control characters) or ``"binary"``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
    >>> _ = path.write_text("hello")
    >>> sniff(path), describe(path)
    ('text', "a text file (starting 'hello')")
    """
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    if not head:
        return "empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    return "text" if _text(head) is not None else "binary"


def _text(head: bytes) -> str | None:
    """``head`` decoded when it reads as UTF-8 text (a cut multi-byte character allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return None
    return text


def describe(path: str | os.PathLike) -> str:
    """What the file at ``path`` is, in words for an error message (see :func:`sniff`)."""
    kind = sniff(path)
    if kind != "text":
        return _DESCRIPTIONS[kind]
    with open(path, "rb") as f:
        start = (_text(f.read(_HEAD)) or "").strip().splitlines()
    first = start[0] if start else ""
    if len(first) > 30:
        first = first[:30] + "..."
    return f"a text file (starting {first!r})" if first else "a text file of blank lines"


# deflate gives at most ~1032 bytes per compressed byte: a member claiming more is a zip bomb
MAX_INFLATE_RATIO = 1100
# the compressions np.savez and np.savez_compressed write. zipfile inflates bzip2 and LZMA a
# whole compressed chunk at a time, without a limit: a 4 KB bzip2 chunk of a 5 KB file took
# 3 GB, whatever the sizes the archive states
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_OTHER_COMPRESSIONS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}


# what NumPy's header parser raises on a damaged header: a bad magic string or dict (ValueError),
# a literal that does not parse (SyntaxError), an unclosed bracket (tokenize's TokenError)
_HEADER_ERRORS = (ValueError, SyntaxError, tokenize.TokenError, UnicodeDecodeError)
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    # 3.0 differs from 2.0 only in allowing UTF-8 field names: the same length prefix
    (2, 0): np.lib.format.read_array_header_2_0,
    (3, 0): np.lib.format.read_array_header_2_0,
}


def npy_header(
    f: IO[bytes], where: str, error: type[Exception], holder: str
) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the .npy header at ``f``'s position, reading nothing
    else; a damaged header is ``error`` naming ``holder`` ("its array", "array 'X'")."""
    try:
        version = np.lib.format.read_magic(f)
        if version not in _HEADER_READERS:
            raise ValueError(f"format version {version}, not 1.0, 2.0 or 3.0")
        shape, fortran, dtype = _HEADER_READERS[version](f)
    except _HEADER_ERRORS as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise error(
            f"{where}: {holder} must start with a readable .npy header; got {reason} (a damaged "
            "file)"
        ) from None
    return tuple(int(n) for n in shape), bool(fortran), dtype


def _check_claim(
    f: IO[bytes], data_bytes: int, where: str, error: type[Exception], holder: str
) -> None:
    start = f.tell()
    shape, _, dtype = npy_header(f, where, error, holder)
    if dtype.hasobject:
        return  # refused by np.load (allow_pickle=False) before it reads any data
    if dtype.itemsize == 0 and math.prod(shape) > 0:
        # no byte of data to check the claim against: np.load makes |S0 into |S1, so a 2 KB
        # file claiming 10**12 empty strings asked for 931 GiB
        raise error(
            f"{where}: {holder} must have a dtype of at least one byte per element; got "
            f"{dtype} of shape {shape} (a forged file)"
        )
    claimed = math.prod(shape) * dtype.itemsize
    available = data_bytes - (f.tell() - start)
    if claimed != available:
        raise error(
            f"{where}: {holder} must hold the {claimed} bytes its header declares (shape "
            f"{shape} of {dtype}); got {available} bytes of data (a truncated or forged file)"
        )


def check_array_headers(
    path: str | os.PathLike,
    kind: str,
    where: str,
    error: type[Exception],
    keys: tuple[str, ...] | None = None,
) -> None:
    """Check what each .npy header declares against the bytes that hold it, before any load.

    A header is a claim: ``np.load`` allocates the declared shape before reading the data, so
    a few-byte file declaring shape (10**6, 10**6) would ask for terabytes. Every array (of an
    .npz: every member named in ``keys``) must hold exactly the bytes its header declares, with
    at least one byte an element, and a compressed member may claim at most
    ``MAX_INFLATE_RATIO`` times its compressed size. An .npz member must be stored or deflated
    (what NumPy writes) and not encrypted. ``kind`` is :func:`sniff`'s ``"npy"`` or ``"zip"``.

    Every member NumPy would load is checked: ``np.load`` reads a member named ``W`` as well as
    ``W.npy``, by its magic string, so the name's suffix decides nothing. A member that is not
    an array (no .npy magic) is left to :func:`read_arrays`, which refuses it by name.
    """
    if kind == "npy":
        with open(path, "rb") as f:
            _check_claim(f, os.fstat(f.fileno()).st_size, where, error, "its array")
        return
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if keys is not None and key not in keys:
                continue
            holder = f"array {key!r}"
            _check_member(info, where, error, holder)
            with archive.open(info) as member:
                if not info.filename.endswith(".npy"):
                    magic = member.read(len(np.lib.format.MAGIC_PREFIX))
                    if magic != np.lib.format.MAGIC_PREFIX:
                        continue  # not an array: read_arrays names it
                    member.seek(0)
                _check_claim(member, info.file_size, where, error, holder)


def _check_member(info: zipfile.ZipInfo, where: str, error: type[Exception], holder: str) -> None:
    """An .npz member as NumPy writes it, before a byte of it is inflated: stored or deflated,
    not encrypted, and claiming at most ``MAX_INFLATE_RATIO`` times its compressed size."""
    if info.compress_type not in _COMPRESSIONS:
        method = _OTHER_COMPRESSIONS.get(info.compress_type, "unknown")
        raise error(
            f"{where}: {holder} must be stored or deflated, as np.savez and "
            f"np.savez_compressed write it; got compression method {info.compress_type} "
            f"({method}): save the arrays again with NumPy"
        )
    if info.flag_bits & 0x1:
        raise error(
            f"{where}: {holder} must not be encrypted; got a password-protected member: save "
            "the arrays again with NumPy"
        )
    if info.file_size > MAX_INFLATE_RATIO * max(info.compress_size, 1):
        raise error(
            f"{where}: {holder} must inflate to at most {MAX_INFLATE_RATIO} times its "
            f"{info.compress_size} compressed bytes; it claims {info.file_size} bytes "
            "(a zip bomb or a damaged archive)"
        )


def read_arrays(
    path: str | os.PathLike,
    where: str,
    error: type[Exception],
    expected: str,
    *,
    keys: tuple[str, ...] | None = None,
    npy: bool = False,
) -> dict[str, np.ndarray]:
    """Every array (or those named in ``keys``) of an .npz file, read eagerly without pickle.

    Parameters
    ----------
    path : str or PathLike
    where : str
        Message prefix naming the file, e.g. ``"load_file: 'data.npz'"``.
    error : exception class
        Raised for anything wrong with the file (DataFormatError, ModelFileError).
    expected : str
        What the file must be, for the message: ``"an .npz archive of arrays X and y"``.
    keys : tuple of str, optional
        Read only these members (the ones present); default all.
    npy : bool
        Also accept a single .npy array, returned as ``{"": array}``.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    error
        ``"{where}: file must be {expected}; got {what it is}"`` for a text file, a pickle, an
        empty file ...; object (pickled) arrays; a member that is not an array (a text file
        added to the zip); truncated or corrupted archives; a header
        that declares more (or less) data than the file holds, checked before anything is
        allocated (:func:`check_array_headers`).
    PermissionError
        The file cannot be read (passed through).
    """
    kind = sniff(path)
    if kind not in ("zip", "npy") or (kind == "npy" and not npy):
        raise error(f"{where}: file must be {expected}; got {describe(path)}")
    name = ""
    try:
        check_array_headers(path, kind, where, error, keys)
        # open the file here: np.load leaks its own handle when the zip turns out invalid
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if kind == "npy":
                return {"": loaded}
            with loaded as npz:
                wanted = [k for k in npz.files if keys is None or k in keys]
                arrays = {}
                for name in wanted:
                    arrays[name] = npz[name]
                    if not isinstance(arrays[name], np.ndarray):  # a member that is not .npy
                        raise error(
                            f"{where}: file must be {expected}; got a member {name!r} that is not "
                            "an array (.npy)"
                        )
                return arrays
    except (PermissionError, error):
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            holder = f"array {name!r}" if kind == "zip" else "its array"
            raise error(
                f"{where}: {holder} must be numbers or strings; got Python objects, which are "
                "pickled and which softgrad never loads (they can run code)"
            ) from None
        raise error(
            f"{where}: file must be {expected}; got a truncated or corrupted {kind} ({exc})"
        ) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as exc:
        raise error(
            f"{where}: file must be {expected}; got a truncated or corrupted {kind} ({exc})"
        ) from None
    except (KeyError, NotImplementedError, AttributeError, TypeError) as exc:
        raise error(f"{where}: file must be {expected}; got an unreadable one ({exc})") from None
