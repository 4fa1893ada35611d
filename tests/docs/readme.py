"""Reading README.md as a test reads it: its code blocks, its walk-throughs, its commands.

The walk-throughs are the ``sh`` blocks between the markers ``<!-- readme-test: begin`` and
``<!-- readme-test: end``; each belongs to the ``###`` section above it. A command is a
``mercato ...`` invocation inside a shell line (after ``do``, ``&&``, ``;`` ...), with its
line continuations joined and its redirections, comments and background ``&`` removed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BEGIN = "<!-- readme-test: begin"
END = "<!-- readme-test: end"

_FENCE = re.compile(r"^```(\w*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_SEPARATORS = re.compile(r"&&|\|\||;|\||(?<![>&])&(?![>\d])|\bdo\b|\bthen\b")
_REDIRECTION = re.compile(r"\s\d*>>?&?\s*\S+")
_SHELL_VALUE = re.compile(r"\$\(\([^)]*\)\)|\$\{\w+\}|\$\w+")
_INLINE = re.compile(r"`(mercato(?: [^`]*)?)`")


@dataclass(frozen=True)
class Block:
    """A fenced code block of the README."""

    language: str
    text: str
    line: int
    """README line of the opening fence (1-based)."""
    section: str
    """The heading the block sits under."""
    walkthrough: bool
    """Between the begin and end markers."""

    def where(self) -> str:
        return f"README.md line {self.line} ({self.section})"


def blocks(text: str) -> list[Block]:
    """Every fenced code block, in order."""
    found: list[Block] = []
    section, inside, language, start = "(top)", False, "", 0
    body: list[str] = []
    walkthrough = False
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line)
        if inside:
            if line.strip() == "```":
                found.append(Block(language, "\n".join(body) + "\n", start, section, walkthrough))
                inside = False
            else:
                body.append(line)
            continue
        if fence:
            inside, language, start, body = True, fence.group(1), number, []
        elif heading := _HEADING.match(line):
            section = heading.group(2)
        elif line.startswith(BEGIN):
            walkthrough = True
        elif line.startswith(END):
            walkthrough = False
    assert not inside, f"README.md: the code block opened on line {start} is never closed"
    return found


def walkthrough_blocks(text: str) -> list[Block]:
    """The ``sh`` blocks of the walk-throughs, in order; the markers must be there, once."""
    assert text.count(BEGIN) == 1 and text.count(END) == 1, (
        f"README.md must hold '{BEGIN}' and '{END}' once each"
    )
    assert text.index(BEGIN) < text.index(END), "README.md: the end marker comes before begin"
    found = [b for b in blocks(text) if b.walkthrough]
    other = [b.where() for b in found if b.language != "sh"]
    assert not other, f"the walk-throughs' code blocks must be sh blocks: {other}"
    return found


def shell_lines(script: str) -> list[str]:
    """Logical lines: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    lines = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            lines.append(line)
    return lines


def commands_in(script: str) -> list[str]:
    """Every ``mercato ...`` command of a shell script, as written (shell values kept)."""
    found = []
    for line in shell_lines(script):
        for segment in _SEPARATORS.split(line):
            words = segment.strip()
            if words == "mercato" or words.startswith("mercato "):
                found.append(_REDIRECTION.sub("", " " + words).strip())
    return found


def inline_commands(text: str) -> list[str]:
    """The ``mercato ...`` code spans of the prose (outside code blocks)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return _INLINE.findall(prose)


def words(command: str) -> list[str]:
    """The arguments after ``mercato``, shell values (``$i``, ``$((12 + k))``) read as 1."""
    return shlex.split(_SHELL_VALUE.sub("1", command))[1:]


def make_targets(text: str) -> list[str]:
    """The targets of the ``make X`` lines of the README's sh blocks."""
    return [
        line.split()[1]
        for b in blocks(text)
        if b.language == "sh"
        for line in shell_lines(b.text)
        if line.startswith("make ")
    ]
