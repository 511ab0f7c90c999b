"""The README's commands, read from the README itself, so that the tests run what it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
#: The README's example paths, replaced by a test's own folders.
PLACEHOLDERS = ("/data/videos", "/data/dataset", "/data/etl")


def blocks(heading: str) -> list[list[str]]:
    """The bash blocks under the README heading ``heading`` (up to the next heading), each a
    list of its command lines: continuations joined, comments and blank lines left out."""
    text = README.read_text()
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, re.S | re.M)
    assert match, f"README has no section {heading!r}"
    found = [bash_lines(block) for block in re.findall(r"```bash\n(.*?)```", match.group(1), re.S)]
    assert found, f"README section {heading!r} has no bash block"
    return found


def bash_lines(block: str) -> list[str]:
    """A bash block's command lines: continuations joined, comments and blank lines left out."""
    joined = block.replace("\\\n", " ")
    lines = [line.split(" #", 1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def code_blocks(heading: str) -> list[tuple[str, str]]:
    """(language, text) of every fenced block under the README heading ``heading`` (up to the
    next heading), in order."""
    text = README.read_text()
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, re.S | re.M)
    assert match, f"README has no section {heading!r}"
    return re.findall(r"```(\w+)\n(.*?)```", match.group(1), re.S)


def command(line: str, paths: dict[str, str]) -> list[str]:
    """One README command line as argv, its example paths replaced by ``paths``."""
    argv = shlex.split(line)
    return [paths.get(arg, arg) for arg in argv]


def exports(line: str) -> dict[str, str]:
    """The variables of an ``export A=1 B=2`` line."""
    argv = shlex.split(line)
    assert argv[0] == "export", line
    return dict(item.split("=", 1) for item in argv[1:])
