"""Errors in a fleet declaration, worded for the person who wrote it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from vmfleet.spec import PLATFORM_ERROR, PLATFORMS


@dataclass(frozen=True)
class Problem:
    """One mistake: where it is in the stack config, what was found, what would be accepted."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class FleetDeclarationError(Exception):
    """The declaration cannot be deployed; every problem found is listed, not only the first.

    The message is one bullet per problem; a problem of several lines has them indented under its bullet.
    """

    def __init__(
        self, problems: Sequence[Problem], source: str = "the fleet declaration", outcome: str = "nothing was deployed"
    ) -> None:
        """`outcome` says what the problems stopped, for tools that read a declaration without deploying it."""
        self.problems = list(problems)
        self.source = source
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"{source} has {len(self.problems)} {noun}; {outcome}:"]
        lines += ["  - " + str(problem).replace("\n", "\n    ") for problem in self.problems]
        super().__init__("\n".join(lines))


NAMED_SECTIONS: Final[Mapping[str, str]] = {
    "host_pools": "name",
    "hosts": "name",
    "sizes": "name",
    "templates": "name",
    "segments": "name",
    "firewalls": "segment",
    "vms": "name",
    "users": "name",
    "backup_tiers": "name",
    "access": "role",
}
"""List sections whose items have a name, and the key that holds it (a firewall is named by its segment)."""

_USABLE_NAME = re.compile(r"[^\s()\[\]]{1,63}")


def config_path(location: Sequence[int | str], declaration: Any = None) -> str:
    """The config path of `location`, each named list item labelled with its name.

    ('vms', 2, 'tags', 'expires') -> 'vms[2] (web).tags.expires', the name `web` read from
    `declaration`: the raw stack config value (mappings and lists, as YAML gives them) or the parsed
    `vmfleet.spec.Fleet`. An item is labelled only when it has a usable text name (one word, at most
    63 characters); without a declaration, or where the location leaves it, the path has indexes only.
    Never raises, whatever shape `declaration` has: it is used to report that the shape is wrong.
    """
    path = ""
    node: Any = declaration
    section = ""
    for part in location:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
            node = node[part] if isinstance(node, (list, tuple)) and 0 <= part < len(node) else None
            label = _name_of(node, NAMED_SECTIONS.get(section))
            if label is not None:
                path += f" ({label})"
        else:
            section = str(part)
            path += f".{section}" if path else section
            node = _child(node, section)
    return path or "(top level)"


def _child(node: Any, key: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(key)
    if isinstance(node, BaseModel):
        return getattr(node, key, None)
    return None


def _name_of(item: Any, key: str | None) -> str | None:
    if key is None:
        return None
    name = _child(item, key)
    if not isinstance(name, str):
        return None
    name = name.strip()
    return name if _USABLE_NAME.fullmatch(name) and name.isprintable() else None


def shown(value: Any, limit: int = 60) -> str:
    """A found value as it appears in a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def from_validation_error(error: ValidationError, declaration: Any = None) -> list[Problem]:
    """Pydantic's errors, each with its config path, the value found and what is accepted.

    `declaration` is the raw value that failed to validate; pydantic's locations carry indexes only,
    and the names of the items they point into are looked up there (see `config_path`).
    """
    problems = []
    for detail in error.errors():
        location = _without_union_tags(detail["loc"])
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key (a typo?); remove it or use one of the documented keys"
        elif detail["type"] == "missing":
            message = "required key is missing"
        elif detail["type"] == PLATFORM_ERROR and isinstance(detail.get("input"), Mapping):
            location = [*location, "platform"]
            message = f"found {shown(detail['input'].get('platform'))}; {message}"
        elif detail["type"] == "value_error" and isinstance(detail.get("input"), Mapping):
            # A check of a whole item (image source, CIDR size, ports): its own words name what was found.
            message = _expectation(message)
        else:
            message = f"found {shown(detail.get('input'))}; {_expectation(message)}"
        problems.append(Problem(config_path(location, declaration), message))
    return problems


UNION_TAGS: Final[frozenset[str]] = frozenset(PLATFORMS)
"""The tags of the declaration's tagged unions (a host pool's `platform`)."""


def _without_union_tags(location: Sequence[int | str]) -> list[int | str]:
    """Pydantic names the union member it tried inside an error's location; the user never wrote it.

    Untagged unions add a member description (`list[str]`, `function-...`); a tagged union (a host
    pool, by `platform`) adds the tag right after the list index.
    """
    kept: list[int | str] = []
    for position, part in enumerate(location):
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        if isinstance(part, str) and part in UNION_TAGS and position and isinstance(location[position - 1], int):
            continue
        kept.append(part)
    return kept


def _expectation(message: str) -> str:
    message = message.removeprefix("Value error, ")
    if message.startswith("String should match pattern"):
        return message.replace("String should match pattern", "expected text matching")
    return message[0].lower() + message[1:] if message else message
