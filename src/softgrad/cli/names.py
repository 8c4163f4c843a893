"""File and class names between the file system's encoding and text.

Python reads a command-line argument, and a name the file system lists, in the file system's
encoding, a byte it cannot decode as a lone surrogate (``\\udcc3``). Where that encoding is
ASCII (``LC_ALL=C PYTHONUTF8=0``), ``modèle.npz`` arrives as ``mod\\udcc3\\udca8le.npz``: it
opens the file, but it is not the text a model file records, a Python class is named by, or
JSON can carry. :func:`as_text` reads a name's bytes as UTF-8 (what the name spells);
:func:`as_file_name` turns such text back into the name this process opens.
"""

from __future__ import annotations

import codecs
import os
import sys

__all__ = ["as_file_name", "as_text", "json_text"]


def _ascii_file_system() -> bool:
    """Whether Python reads file names as ASCII (``LC_ALL=C PYTHONUTF8=0``): the one encoding
    in which a UTF-8 name arrives as surrogates. Under any other (UTF-8, Latin-1 ...) Python
    has read the name as its locale spells it, and it is left so."""
    return codecs.lookup(sys.getfilesystemencoding()).name == "ascii"


def as_text(name: str) -> str:
    """``name`` as the text it spells: under an ASCII file-system encoding, its bytes read as
    UTF-8 (bytes that are not UTF-8 left as surrogates); under any other, as Python read it
    (a Latin-1 locale's ``Échelle`` was made into a surrogate by reading its one byte as UTF-8).

    Example
    -------
    >>> as_text("caf\\u00e9.csv") == "café.csv"
    True
    """
    if not _ascii_file_system():
        return name
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # text the file system's encoding cannot spell: text already
        return name
    return raw.decode("utf-8", "surrogateescape")


def as_file_name(text: str) -> str:
    """The name this process opens for ``text`` (as :func:`as_text` gives it, or as a model
    file records it): its UTF-8 bytes in the file system's encoding. Under an ASCII file
    system encoding, ``café.csv`` could not be opened, nor tested for (``Path.exists`` said
    False for a file that was there).

    Example
    -------
    >>> as_text(as_file_name("café.csv")) == "café.csv"
    True
    """
    if not _ascii_file_system():
        return text
    try:
        return os.fsdecode(text.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a surrogate outside the escaped bytes: not a file name's
        return text


def json_text(text: str) -> str:
    """``text`` as JSON can carry it to a UTF-8 reader: a name's surrogates (bytes of a name
    read in an ASCII locale, or bytes that are not UTF-8) made into the text they spell, or
    ``\\xNN`` escapes. JSON wrote them as ``\\udcc3``, a lone surrogate no UTF-8 reader could
    turn back into the name.

    Example
    -------
    >>> json_text("caf\\udcc3\\udca9.csv"), json_text("caf\\udce9.csv")
    ('café.csv', 'caf\\\\xe9.csv')
    """
    if text.isascii() or not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text
    return raw.decode("utf-8", "backslashreplace")
