"""The README's command lines and those of the pages it links (docs/*.md): the ones the README
shows with their output print that output, and every command and option a page names is one the
parser takes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from softgrad.cli.parser import COMMANDS, build_parser, parse_args

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
# the README and the user's pages: the contributor's page (architecture.md) names pytest's and
# the tools' options, and writes a command's options as a list (`train --checkpoint/--resume`)
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    if path.name != "architecture.md"
}
ALL_TEXT = "\n".join(PAGES.values())
COMMAND = re.compile(rf"softgrad ((?:{'|'.join(COMMANDS)})\b[^`\n]*)")


def _section(heading: str) -> str:
    start = TEXT.index(f"\n{heading}\n")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start : end if end != -1 else len(TEXT)]


def _blocks(heading: str) -> list[str]:
    return re.findall(r"```\w*\n(.*?)```", _section(heading), flags=re.S)


def _session(block: str) -> dict[str, list[str]]:
    """``$ softgrad ARGS`` -> the lines shown after it, up to the next ``$``."""
    shown: dict[str, list[str]] = {}
    for part in re.split(r"^\$ softgrad ", block, flags=re.M)[1:]:
        command, *lines = part.splitlines()
        shown[command] = lines
    return shown


def _subparsers() -> dict:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if a.dest == "command")
    return commands.choices


def _options(subparser) -> set[str]:
    return {o for a in subparser._actions for o in a.option_strings} - {"-h", "--help"}


SESSION = _session(_blocks("## A CLI session")[0])
OWN_BACKWARD = [_session(b) for b in _blocks("## Check your own backward") if "$ softgrad" in b]


def test_jacobian_prints_the_readme_table(cli):
    result = cli(*"jacobian 1 2 3".split())
    assert result.code == 0
    assert result.out.splitlines() == SESSION["jacobian 1 2 3"]


def test_a_missing_input_prints_the_readme_line(cli, digits_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(digits_model, tmp_path / "model.npz")
    error, status = SESSION["predict --model model.npz missing.npy"]
    result = cli(*"predict --model model.npz missing.npy".split())
    assert f"(exit {result.code})" == status
    assert result.err.splitlines() == [error]
    assert result.out == ""


def _write_node(folder: Path, backward: str | None = None) -> None:
    node = next(b for b in _blocks("## Check your own backward") if "class MySoftmax" in b)
    if backward is not None:
        start = node.index("    def backward")
        node = node[:start] + backward
    (folder / "my_softmax.py").write_text(node, encoding="utf-8")


def _check_as_shown(cli, shown: list[str]) -> None:
    result = cli("gradcheck", "my_softmax.py:MySoftmax")
    got = result.out.splitlines()
    assert f"(exit {result.code})" == shown[-1]
    assert len(got) == len(shown) - 1, (got, shown)
    for got_line, shown_line in zip(got, shown[:-1], strict=True):
        assert got_line == shown_line, f"\n  got:   {got_line}\n  shown: {shown_line}"


def test_gradcheck_names_the_readme_softmax_mistake_as_shown(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_node(tmp_path)
    (wrong,) = OWN_BACKWARD[0].values()
    _check_as_shown(cli, wrong)


def test_gradcheck_passes_the_readme_fix_as_shown(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fix = next(b for b in _blocks("## Check your own backward") if b.startswith("    def backward"))
    _write_node(tmp_path, fix)
    (right,) = OWN_BACKWARD[1].values()
    # the errors of a right gradient are the rounding of float64 central differences, which
    # depends on this CPU's exp(); they must be within the tolerances, whatever their digits
    errors = re.compile(r"(\s+)\d\.\d\de-\d\d(\s+)\d\.\d\de-\d\d")
    result = cli("gradcheck", "my_softmax.py:MySoftmax")
    got = result.out.splitlines()
    assert f"(exit {result.code})" == right[-1]
    row = next(i for i, line in enumerate(right) if line.lstrip().startswith("x "))
    got_errors = [float(v) for v in got[row].split()[3:5]]  # x, (4,, 10), then the errors
    assert got_errors[0] <= 1e-5 and got_errors[1] <= 1e-4, got[row]
    got[row] = errors.sub(r"\1E\2E", got[row], count=1)
    shown = [errors.sub(r"\1E\2E", line, count=1) for line in right[:-1]]
    assert got == shown


def test_the_gradcheck_synopsis_lists_the_command_options():
    synopsis = re.search(r"`softgrad gradcheck FILE\.py:CLASS ((?:\[[^\]]+\]\s*)+)`", ALL_TEXT)
    named = set(re.findall(r"\[(--[a-z-]+)", synopsis.group(1)))
    assert named == _options(_subparsers()["gradcheck"])


# every command line written out (not a bare command name in the prose, nor the synopsis)
LINES = sorted({c.strip() for c in COMMAND.findall(ALL_TEXT) if " " in c.strip() and "[" not in c})


@pytest.mark.parametrize("command", LINES)
def test_every_readme_command_line_parses(command):
    args = parse_args(command.split())
    assert args.command == command.split()[0]


def test_every_option_the_readme_names_is_an_option_of_a_command():
    known = set().union(*(_options(sub) for sub in _subparsers().values()))
    # pip's, pytest's and mpiexec's options are not softgrad's
    others = {"--hypothesis-profile"}  # pytest's, from hypothesis' plugin (the tests' profiles)
    named = {
        (option, page)
        for page, text in PAGES.items()
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)
    }
    assert {(o, page) for o, page in named if o not in known | others} == set()
