"""``softgrad --threads 1 info``: a command's option given before the command is named, with
the command line it meant (argparse took the option's value for the command: "invalid choice:
'1'")."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--threads", "1", "info"],
            "--threads must come after the command: softgrad info --threads 1 (got it before "
            "'info')",
        ),
        (
            ["--epochs", "3", "train", "--quiet"],
            "--epochs must come after the command: softgrad train --epochs 3 --quiet",
        ),
    ],
)
def test_an_option_before_the_command_names_the_order(usage_error, argv, expected):
    assert expected in usage_error(*argv)


def test_the_programs_own_options_still_come_first(cli):
    assert cli("--version").out.startswith("softgrad ")
    result = cli("--help", "info")
    assert result.code == 0 and result.out.startswith("usage: softgrad")
