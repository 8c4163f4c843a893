"""The one error line folds white space, but not inside a quoted name: a class named '  '
read ' ' in the message, naming another name than the one at fault."""

from __future__ import annotations

import pytest

from softgrad.cli.errors import EXIT_USAGE, one_line, run_guarded


@pytest.mark.parametrize(
    "name", ["  ", "a  b", " lead", "trail\t", "it's  x", "both'\"  quotes", "line\n  break"]
)
def test_one_line_keeps_a_repr_quoted_name_and_folds_the_rest(name):
    message = f"Model: classes must be distinct;\n   got {name!r}  for classes 0 and 2\n"
    assert one_line(ValueError(message)) == (
        f"Model: classes must be distinct; got {name!r} for classes 0 and 2"
    )


@pytest.mark.parametrize(
    ("message", "line"),
    [
        # an apostrophe in prose opens no quote: the spaces after it are folded
        (
            "the checkpoint's   value,\n the  runs'  total  'a  b'",
            "the checkpoint's value, the runs' total 'a  b'",
        ),
        # quotes not written by repr() spanning a line break are folded into one line
        ("got 'a\n  b' here", "got 'a b' here"),
        ("  'x  '  ", "'x  '"),
    ],
)
def test_one_line_folds_prose_and_quotes_across_lines(message, line):
    assert one_line(ValueError(message)) == line


def test_the_printed_error_line_keeps_a_quoted_name(capsys):
    def command():
        raise ValueError("predict: class names must not be blank;\n got '  ' for class 1")

    assert run_guarded(command) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "softgrad: error: predict: class names must not be blank; got '  ' for class 1\n"
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("data.npz", "data.npz"),
        ("my data.npz", "my data.npz"),
        ("a  b.npz", "'a  b.npz'"),
        ("two\nlines.npz", "'two\\nlines.npz'"),
        (" lead.npz", "' lead.npz'"),
    ],
)
def test_an_os_error_shows_its_file_name_as_it_is(capsys, name, shown):
    # the name was folded with the rest: 'a  b.npz' read 'a b.npz', another file's name
    error = FileNotFoundError(2, "No such file or directory", name)
    assert one_line(error) == f"No such file or directory: {shown}"

    def command():
        raise error

    assert run_guarded(command) == EXIT_USAGE
    assert capsys.readouterr().err == f"softgrad: error: No such file or directory: {shown}\n"
