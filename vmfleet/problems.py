"""Errors in a fleet declaration, worded for the person who wrote it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One mistake: where it is in the stack config, what was found, what would be accepted."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class FleetDeclarationError(Exception):
    """The declaration cannot be deployed; every problem found is listed, not only the first."""

    def __init__(self, problems: Sequence[Problem], source: str = "the fleet declaration") -> None:
        self.problems = list(problems)
        self.source = source
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"{source} has {len(self.problems)} {noun}; nothing was deployed:"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


def config_path(location: Sequence[int | str], root: str = "") -> str:
    """('vms', 2, 'tags', 'expires') -> 'vms[2].tags.expires'."""
    path = root
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def shown(value: Any, limit: int = 60) -> str:
    """A found value as it appears in a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def from_validation_error(error: ValidationError) -> list[Problem]:
    """Pydantic's errors, each with its config path, the value found and what is accepted."""
    problems = []
    for detail in error.errors():
        location = [part for part in detail["loc"] if not _is_union_tag(part)]
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key (a typo?); remove it or use one of the documented keys"
        elif detail["type"] == "missing":
            message = "required key is missing"
        else:
            message = f"found {shown(detail.get('input'))}; {_expectation(message)}"
        problems.append(Problem(config_path(location), message))
    return problems


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _expectation(message: str) -> str:
    message = message.removeprefix("Value error, ")
    if message.startswith("String should match pattern"):
        return message.replace("String should match pattern", "expected text matching")
    return message[0].lower() + message[1:] if message else message
