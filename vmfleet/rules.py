"""Governance rules with one home: the program's validation and the policy pack both read them.

Anything that defines what a well-formed tag, name or date is lives here, so the Pulumi program
(which rejects bad declarations before deploying) and the CrossGuard pack (which judges provider
resources, whoever created them) cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

REQUIRED_TAGS: Final[tuple[str, ...]] = ("owner", "project", "environment", "cost_center", "expires")
"""Tag keys every VM must carry."""

TAG_KEY_PATTERN: Final[str] = r"^[a-z][a-z0-9_]{0,62}$"
TAG_VALUE_MAX_LENGTH: Final[int] = 256

EMAIL_PATTERN: Final[str] = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
OWNER_GROUP_PATTERN: Final[str] = r"^group:[a-z0-9][a-z0-9-]{0,62}$"
"""An owner may be a team instead of a person, written `group:<name>`."""

ENVIRONMENT_PATTERN: Final[str] = r"^[a-z][a-z0-9-]{0,31}$"
DEFAULT_COST_CENTER_PATTERN: Final[str] = r"^CC-[0-9]{4,6}$"
ISO_DATE_PATTERN: Final[str] = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"

DEFAULT_MAX_LIFESPAN_DAYS: Final[int] = 180
"""How long from today a VM may be declared to live when a stack's policy configuration does not
say (vm-lifespan's `maxLifespanDays`)."""


def latest_expiry(today: dt.date, max_lifespan_days: int) -> dt.date:
    """The latest `expires` date a maximum lifespan of `max_lifespan_days` allows, from `today`."""
    return today + dt.timedelta(days=max_lifespan_days)


LIFESPAN_TAG: Final[str] = "lifespan"
PERMANENT_LIFESPAN: Final[str] = "permanent"
LIFESPAN_JUSTIFICATION_TAG: Final[str] = "lifespan_justification"
"""`lifespan: permanent` exempts a VM from the maximum lifespan, only where the stack's policy
configuration allows it and only with a justification tag."""

BACKUP_TAG: Final[str] = "backup"
"""The tag naming a VM's backup tier (a declared `backup_tiers` entry, or `NO_BACKUP`)."""
NO_BACKUP: Final[str] = "none"
BACKUP_JUSTIFICATION_TAG: Final[str] = "backup_justification"
"""A VM in no backup tier must say why, in this tag."""

NAME_PATTERN: Final[str] = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
"""Names of pools, hosts, sizes, templates, segments and VM groups: lower-case words joined by '-'."""

VM_INSTANCE_PATTERN: Final[str] = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*-[0-9]{2,}$"
"""The default VM naming convention: a group name and an index of two or more digits (`web-01`, `web-120`)."""

VM_INDEX_MIN_WIDTH: Final[int] = 2
"""Indexes are zero-padded to at least two digits: `web-01` ... `web-99`, then `web-100` ... `web-9999`.
Padding is a minimum, never widened with the count, so growing a group past 99 renames no VM."""
MAX_VM_COUNT: Final[int] = 9999
"""The most VMs one group may hold."""

METADATA_SCHEMA: Final[str] = "vmfleet/v1"
RETIRED_KEY: Final[str] = "retired"
"""Key of a retired VM's tag document holding why it is decommissioned: the lease policies leave a
VM being decommissioned alone (retiring is how an expired VM goes)."""


def is_retired(document: object) -> bool:
    """Whether a VM's tag document (`vmfleet.metadata.document`) says it is being decommissioned."""
    return isinstance(document, dict) and bool(document.get(RETIRED_KEY))


"""Marks the JSON document a Domain carries in its `metadata` argument (see `vmfleet.metadata`)."""


def matches(pattern: str, value: str) -> bool:
    """True when the whole of `value` matches `pattern`."""
    return re.fullmatch(pattern, value) is not None


def is_valid_owner(value: str) -> bool:
    """An owner is an e-mail address or a `group:<name>` team reference."""
    return matches(EMAIL_PATTERN, value) or matches(OWNER_GROUP_PATTERN, value)


def parse_iso_date(value: str) -> dt.date | None:
    """The date written as `YYYY-MM-DD`, or None when `value` is not one."""
    if not matches(ISO_DATE_PATTERN, value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def tag_problems(key: str, value: str) -> list[str]:
    """What is wrong with one tag, in words fit for an error message; empty when it is fine."""
    problems: list[str] = []
    if not matches(TAG_KEY_PATTERN, key):
        problems.append(
            f"tag key {key!r} is not accepted: use lower-case letters, digits and '_', "
            "starting with a letter (at most 63 characters)"
        )
    if len(value) > TAG_VALUE_MAX_LENGTH:
        problems.append(f"tag {key!r} is {len(value)} characters long; at most {TAG_VALUE_MAX_LENGTH}")
    if any(ord(ch) < 32 for ch in value):
        problems.append(f"tag {key!r} contains control characters")
    if not value.strip():
        problems.append(f"tag {key!r} is empty")
    if key == "owner" and value and not is_valid_owner(value):
        problems.append("the owner must be an e-mail address or a team written 'group:<name>'")
    if key == "environment" and value and not matches(ENVIRONMENT_PATTERN, value):
        problems.append("the environment must be a lower-case word such as 'dev' or 'prod'")
    if key == "cost_center" and value and not matches(DEFAULT_COST_CENTER_PATTERN, value):
        problems.append(f"the cost center must look like 'CC-1234' (pattern {DEFAULT_COST_CENTER_PATTERN})")
    if key == "expires" and value and parse_iso_date(value) is None:
        if matches(ISO_DATE_PATTERN, value):
            problems.append("expires is written as YYYY-MM-DD but is not a calendar date (check month and day)")
        else:
            problems.append("expires must be an ISO date: write it as YYYY-MM-DD")
    return problems
