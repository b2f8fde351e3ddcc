"""What a `docker build .` (or `buildah build .`) of this repository sends as its build context.

The rules of a .dockerignore file, as Docker documents them ("Build context", .dockerignore files:
https://docs.docker.com/build/concepts/context/#dockerignore-files) and as moby's patternmatcher applies them:
each line is trimmed, `#` starts a comment, `!` makes an exception; a pattern is cleaned like Go's
filepath.Clean with a leading `/` dropped; `*` and `?` stop at `/`, `**` crosses directories; a pattern
excludes what it matches and everything under it; the last line that matches a path decides.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    exception: bool


def parse_ignore(text: str) -> list[Rule]:
    rules = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        exception = stripped.startswith("!")
        if exception:
            stripped = stripped[1:].strip()
        cleaned = posixpath.normpath(stripped).lstrip("/")
        rules.append(Rule(re.compile(_glob_to_regex(cleaned)), exception))
    return rules


def _glob_to_regex(glob: str) -> str:
    out, index = ["^"], 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if glob.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and index + 1 < len(glob):
            index += 1
            out.append(re.escape(glob[index]))
        elif char == "[":
            end = glob.index("]", index + 1)  # Docker refuses an unterminated class: so do we (ValueError)
            body = glob[index + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    out.append("$")
    return "".join(out)


def excluded(path: str, rules: Iterable[Rule]) -> bool:
    """Whether `path` (relative to the context root, /-separated) is left out of the context."""
    parents = [path]
    while "/" in parents[-1]:
        parents.append(parents[-1].rsplit("/", 1)[0])
    verdict = False
    for rule in rules:
        if any(rule.pattern.match(candidate) for candidate in parents):
            verdict = not rule.exception
    return verdict


def repository_files(root: Path) -> list[str]:
    """The files a fresh clone holds: git's tracked files (the working tree's untracked files are no part)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (root / name).exists()]


def context_files(root: Path) -> list[str]:
    """The repository's files a build of `root` sends, after its .dockerignore."""
    ignore = root / ".dockerignore"
    rules = parse_ignore(ignore.read_text()) if ignore.exists() else []
    return [name for name in repository_files(root) if not excluded(name, rules)]
