"""Which stacks a change touches, from the files it changes (the workflows preview and deploy those).

A stack's own files (`Pulumi.<stack>.yaml`, `policies/config/<stack>.json`) touch that stack only.
Files that never reach a deployment (tests, Markdown, CI of this repository) touch none. Every other
file (the program, components, backends, policies, scripts, engine, requirements, workflows) may
change what any stack deploys, so it touches every stack: an unknown file is previewed, never
skipped.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Final

STACK_FILE: Final[re.Pattern[str]] = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.yaml$")
POLICY_CONFIG: Final[re.Pattern[str]] = re.compile(r"^policies/config/(?P<stack>[A-Za-z0-9_.-]+)\.json$")
NEVER_DEPLOYED: Final[tuple[str, ...]] = ("tests/", ".ci/", "LICENSE", ".gitignore")
"""Path prefixes of files no deployment reads; Markdown files anywhere are also never deployed."""


def declared(root: Path) -> list[str]:
    """The stacks this checkout declares: one `Pulumi.<stack>.yaml` each."""
    return sorted(match["stack"] for path in root.iterdir() if (match := STACK_FILE.match(path.name)))


def touched(changed_files: Iterable[str], stacks: Iterable[str]) -> list[str]:
    """The stacks (of `stacks`) that a change of `changed_files` (paths from the repository root) touches."""
    known = sorted(set(stacks))
    found: set[str] = set()
    for path in changed_files:
        own = STACK_FILE.match(path) or POLICY_CONFIG.match(path)
        if own:
            found.add(own["stack"])
        elif path.endswith(".md") or path.startswith(NEVER_DEPLOYED):
            continue
        else:
            return known
    return [stack for stack in known if stack in found]


def changed_files(root: Path, base: str, head: str = "HEAD") -> list[str]:
    """Files that differ between `base` and `head` (from their merge base, as a pull request shows them).

    Raises subprocess.CalledProcessError when git cannot compare them (a base commit not fetched).
    """
    shown = subprocess.run(
        ["git", "-C", str(root), "diff", "--name-only", "--no-renames", f"{base}...{head}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return [line for line in shown.stdout.splitlines() if line]
