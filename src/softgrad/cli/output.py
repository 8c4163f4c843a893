"""Formatting what the CLI prints: aligned tables, JSON, short model descriptions, and the
encoding of stdout.

Every command prints through ``sys.stdout``, which :func:`escaped_stdout` sets, for the run, to
write a character its encoding cannot show as a backslash escape: ``café`` prints as
``caf\\xe9`` under ``PYTHONIOENCODING=ascii``. The strict default wrote half the output and
then failed (exit 2) at the first such character, a class name in predict's table. JSON output
(``--json``) is ASCII whatever the encoding (``\\u00e9``), as stderr is escaped by Python
itself.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np

from softgrad.checks.wording import fixed
from softgrad.cli.names import json_text


@contextlib.contextmanager
def escaped_stdout() -> Iterator[None]:
    """Within the block, ``sys.stdout`` writes what its encoding cannot show as ``\\xNN``
    escapes (``errors="backslashreplace"``; its own error handling is put back afterwards;
    a stream that cannot be reconfigured, not a TextIOWrapper, keeps its own), and a write
    that fails for another reason than a closed pipe raises :class:`StdoutError`, which says
    it was stdout (``> /dev/full`` said only "No space left on device")."""
    stream = sys.stdout
    errors = getattr(stream, "errors", None)
    # a TextIOWrapper's (the TextIO that sys.stdout is typed as has none)
    reconfigure = getattr(stream, "reconfigure", None) if errors is not None else None
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")
    sys.stdout = _NamedStdout(stream)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _NamedStdout):  # unless the block replaced it in turn
            sys.stdout = stream
        if reconfigure is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
                reconfigure(errors=errors)


class StdoutError(OSError):
    """A write to stdout failed (a full disk, ``/dev/full``), not because its reader went away;
    ``reason`` is the system's word for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"could not write to stdout ({reason})")
        self.reason = reason


class _NamedStdout:
    """stdout, whose failed writes and flushes say it was stdout (:class:`StdoutError`); a
    closed pipe stays a BrokenPipeError (softgrad ... | head ends quietly)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._named(self._stream.write, text)

    def flush(self) -> None:
        self._named(self._stream.flush)

    @staticmethod
    def _named(call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def report_after_writing(print_report: Callable[[], None], written: Sequence[str]) -> None:
    """Print a command's report once its files are ``written``, and flush it. stdout failing
    then (a full disk, ``> /dev/full``) said only "No space left on device", as if the
    outputs had failed, while they were in place: the error line now says it was stdout, and
    which files were written. A reader that went away (a closed pipe) still ends quietly."""
    from softgrad.cli.errors import flush_stdout

    try:
        print_report()
        flush_stdout()
    except BrokenPipeError:
        raise
    except OSError as exc:
        files = ", ".join(shown(name) for name in written)
        reason = exc.reason if isinstance(exc, StdoutError) else exc.strerror or str(exc)
        raise OSError(
            f"could not write the report to stdout ({reason})"
            + (f"; the files were written: {files}" if files else "")
        ) from None


def class_names(model: Any) -> list[str]:
    """The model's class labels as the commands show and match them: bytes labels decoded
    (UTF-8, any other byte escaped), not shown as ``b'cat'``; anything else as ``str``.

    Example
    -------
    >>> class Labelled:
    ...     classes = np.array([b"cat", b"dog"])
    >>> class_names(Labelled())
    ['cat', 'dog']
    """
    return [
        c.decode("utf-8", "backslashreplace") if isinstance(c, bytes) else str(c)
        for c in model.classes
    ]


def shown(text: str) -> str:
    r"""``text`` as a table or a line of text shows it: as it is, or quoted with Python's escapes
    when it would not read as itself there: empty or blank (an empty class name printed as
    nothing), with white space at either end, with a character that is not printable (a
    newline or tab broke the table's lines and columns; a right-to-left override turned the
    rest of the line around), or starting with a quote (so a quoted name is never mistaken for
    one shown quoted). JSON output needs none of this: it escapes what it must.

    Example
    -------
    >>> [shown(t) for t in ["cat", "", " ", "a\nb", "7", "'x'"]]
    ['cat', "''", "' '", "'a\\nb'", '7', '"\'x\'"']
    """
    if text and text.isprintable() and text == text.strip() and text[0] not in "'\"":
        return text
    return repr(text)


def text_width(text: str) -> int:
    """The columns ``text`` takes in a terminal: 2 for a wide character (CJK), 0 for a
    combining one (the accent of ``e`` + U+0301), 1 for any other; tables align by it (``len``
    put the columns after a Chinese class name out of line).

    Example
    -------
    >>> text_width("cat"), text_width("猫"), text_width("cafe\u0301")
    (3, 2, 4)

    Measured as stdout writes it: where its encoding cannot show a character (ASCII, under
    ``PYTHONIOENCODING=ascii``), as the escape :func:`escaped_stdout` writes (``\\xe9``, 4
    columns), which put the columns after ``caf\\xe9`` out of line.
    """
    if text.isascii():  # one column a character, whatever the encoding: a row name of
        return len(text)  # predict's output took 16 us a row, a third of its time
    encoding = getattr(sys.stdout, "encoding", None)
    if encoding:
        try:
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        except LookupError:  # an encoding Python does not know: measure the text itself
            pass
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def padded(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` terminal columns, on the left when ``right``."""
    fill = " " * max(width - text_width(text), 0)
    return fill + text if right else text + fill


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types; a NaN or infinite float becomes None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return _plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return json_text(value)
    if value is None or isinstance(value, int):
        return value
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(obj: Any, stream: TextIO | None = None) -> None:
    """Print ``obj`` as indented, strict JSON (numpy scalars and arrays become plain numbers and
    lists). NaN and infinities, which JSON has no numbers for, print as null: Python's
    ``NaN``/``-Infinity`` are refused by strict parsers such as JavaScript's ``JSON.parse``."""
    print(print_json_text(obj), file=stream or sys.stdout)


def print_json_items(
    head: dict[str, Any], key: str, items: Iterable[Any], stream: TextIO | None = None
) -> None:
    """Print the text :func:`print_json` prints for ``{**head, key: list(items)}``, one item at
    a time: the predictions of a large input never exist as Python objects all at once (for
    60,000 rows they held 174 MB at the peak of ``softgrad predict --json``).

    Example
    -------
    >>> print_json_items({"model": "m.npz"}, "predictions", iter([{"class": 1}]))
    {
      "model": "m.npz",
      "predictions": [
        {
          "class": 1
        }
      ]
    }
    """
    out = stream or sys.stdout
    # the empty list is the document's last value ({**head, key: ...} puts key last)
    opening, closing = print_json_text({**head, key: []}).rsplit("[]", 1)
    out.write(opening)
    separator = "[\n"
    for item in items:
        out.write(separator + textwrap.indent(print_json_text(item), "    "))
        separator = ",\n"
    out.write("[]" if separator == "[\n" else "\n  ]")
    out.write(closing + "\n")


def print_json_text(obj: Any) -> str:
    """The text :func:`print_json` prints for ``obj``, without the newline."""
    return json.dumps(_plain(obj), indent=2, allow_nan=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] = ()) -> str:
    """Lay ``rows`` out under ``headers`` in aligned columns (numbers right-aligned).

    ``right[k]`` forces column k right-aligned; by default a column is right-aligned when every
    cell in it is a number.

    Example
    -------
    >>> print(table(["class", "recall"], [["cat", 0.5], ["dog", 1.0]]))
    class  recall
    cat    0.5000
    dog    1.0000
    """
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(text_width(r[k]) for r in cells) for k in range(len(headers))]
    if not right:
        right = [
            all(isinstance(row[k], (int, float, np.number)) for row in rows)
            for k in range(len(headers))
        ]
    lines = []
    for row in cells:
        parts = [padded(c, w, r) for c, w, r in zip(row, widths, right, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return fixed(float(value))
    return str(value)


def matrix(
    values: np.ndarray,
    fmt: str = "{:.4f}",
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
) -> str:
    """A 2-D array as text with every column right-aligned to a common width.

    Example
    -------
    >>> print(matrix(np.array([[1.0, -0.25], [0.5, 12.0]]), "{:.2f}", ["a", "b"], ["x", "y"]))
           x      y
    a   1.00  -0.25
    b   0.50  12.00
    """
    texts = [[fmt.format(v) for v in row] for row in np.asarray(values)]
    cols = [list(col_labels)] if col_labels else []
    width = max([text_width(str(t)) for row in texts + cols for t in row] or [1])
    label_width = max([text_width(str(r)) for r in row_labels] or [0])
    lines = []
    if col_labels:
        pad = " " * (label_width + 2) if row_labels else ""
        lines.append(pad + "  ".join(padded(str(c), width, right=True) for c in col_labels))
    for k, row in enumerate(texts):
        head = f"{padded(str(row_labels[k]), label_width)}  " if row_labels else ""
        lines.append(head + "  ".join(t.rjust(width) for t in row))
    return "\n".join(lines)


def describe_network(network: Any) -> str:
    """A short architecture string such as ``784-256-10 relu`` from a Sequential's config.

    Example
    -------
    >>> from softgrad.nn import build_mlp
    >>> describe_network(build_mlp(64, [100], 10, rng=0))
    '64-100-10 relu'
    """
    layers = network.get_config()["layers"]
    sizes: list[int] = []
    activations: list[str] = []
    for layer in layers:
        cfg = layer.get("config", {})
        if layer["type"] == "Linear":
            if not sizes:
                sizes.append(int(cfg["in_features"]))
            sizes.append(int(cfg["out_features"]))
        elif layer["type"] != "Dropout" and layer["type"].lower() not in activations:
            activations.append(layer["type"].lower())
    text = "-".join(str(s) for s in sizes) or "empty network"
    return f"{text} {'/'.join(activations)}".strip()
