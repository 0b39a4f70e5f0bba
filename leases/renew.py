"""Renewing a VM group's lease: its `expires` tag in `Pulumi.<stack>.yaml`, moved, and nothing else.

A renewal is a change like any other: it edits the stack file (its comments, key order, quoting and
layout kept, through ruamel.yaml's round trip), records when, from what and why in a comment on the
line it changes, prints the diff, and goes through a pull request and its preview. It refuses a date
that is not a `YYYY-MM-DD` after today, or one beyond the stack's maximum lifespan (vm-lifespan's
`maxLifespanDays` in `policies/config/<stack>.json`: the same limit the policy pack enforces, from
`vmfleet.rules.latest_expiry`), an unknown group (listing the groups there are), a group declared
`lifespan: permanent`, and an empty reason. The edited declaration is checked for shape before it is
written; on any refusal the file is left as it was.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from vmfleet import rules
from vmfleet.load import CONFIG_KEY, parse
from vmfleet.problems import FleetDeclarationError

FLEET_KEY = f"vmfleet:{CONFIG_KEY}"
LIFESPAN_POLICY = "vm-lifespan"


class RenewalError(ValueError):
    """A renewal refused: what was found, where, and what would be accepted."""


@dataclass(frozen=True)
class Renewal:
    """What a renewal changed: the group, its old and new expiry, and the stack file's text before and after."""

    group: str
    previous: str
    """The group's `expires` before, its own or the stack default's."""
    until: dt.date
    before: str
    after: str

    def diff(self, name: str) -> str:
        """The unified diff of the stack file, `name` labelling both sides."""
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True), self.after.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
        )


def round_trip_yaml() -> YAML:
    """ruamel.yaml set to write this project's stack files back exactly as they were read."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def max_lifespan_days(policy_config: Path) -> int:
    """vm-lifespan's `maxLifespanDays` in a stack's policy configuration (the pack's default if unset)."""
    settings = json.loads(policy_config.read_text()).get(LIFESPAN_POLICY) or {}
    days = settings.get("maxLifespanDays", rules.DEFAULT_MAX_LIFESPAN_DAYS)
    if not isinstance(days, int) or days < 1:
        raise RenewalError(
            f"{policy_config} {LIFESPAN_POLICY}.maxLifespanDays is {days!r}; it must be a whole number of days"
        )
    return days


def renew(
    stack_text: str,
    *,
    stack_file: str,
    group: str,
    until: str,
    reason: str,
    max_days: int,
    policy_source: str,
    today: dt.date,
) -> Renewal:
    """The stack file's text with `group`'s `expires` set to `until`; raises RenewalError, saying why.

    `stack_file` and `policy_source` name the files in messages; `max_days` is the stack's maximum
    lifespan (`max_lifespan_days`); `today` is the day the lifespan counts from.
    """
    yaml = round_trip_yaml()
    document = yaml.load(stack_text)
    fleet = ((document or {}).get("config") or {}).get(FLEET_KEY)
    if not isinstance(fleet, Mapping):
        raise RenewalError(f"{stack_file} has no config.{FLEET_KEY} mapping to renew a lease in")
    groups = [entry for entry in fleet.get("vms") or [] if isinstance(entry, CommentedMap)]
    found = [entry for entry in groups if entry.get("name") == group]
    names = ", ".join(str(entry.get("name")) for entry in groups) or "none"
    if not group.strip():
        raise RenewalError(f"VM is missing: give the VM group to renew, one of {names} ({stack_file})")
    if not found:
        raise RenewalError(f"{stack_file} has no VM group {group!r} in {FLEET_KEY}.vms; its groups: {names}")
    entry = found[0]
    where = f"{FLEET_KEY}.vms[{fleet['vms'].index(entry)}] ({group})"

    new_date = rules.parse_iso_date(until)
    if new_date is None:
        if rules.matches(rules.ISO_DATE_PATTERN, until):
            raise RenewalError(f"UNTIL is {until!r}, which is no day of the calendar; give a real date YYYY-MM-DD")
        raise RenewalError(f"UNTIL is {until!r}; give the new expiry as a date YYYY-MM-DD")
    if new_date <= today:
        raise RenewalError(f"UNTIL {new_date.isoformat()} is not after today ({today.isoformat()}); give a later date")
    limit = rules.latest_expiry(today, max_days)
    if new_date > limit:
        raise RenewalError(
            f"UNTIL {new_date.isoformat()} is beyond the stack's maximum lifespan of {max_days} days "
            f"({policy_source} {LIFESPAN_POLICY}.maxLifespanDays): renew until {limit.isoformat()} at the latest"
        )

    reason = " ".join(reason.split())
    if not reason:
        raise RenewalError(
            "REASON is empty: say why the VMs must live longer (it goes into the stack file and the review)"
        )

    tags = entry.get("tags")
    defaults = ((fleet.get("defaults") or {}).get("tags")) or {}
    if isinstance(tags, Mapping) and tags.get(rules.LIFESPAN_TAG) == rules.PERMANENT_LIFESPAN:
        raise RenewalError(
            f"{stack_file} {where} is tagged {rules.LIFESPAN_TAG}: {rules.PERMANENT_LIFESPAN}; it has no lease to renew"
        )
    previous = str((tags or {}).get("expires") or defaults.get("expires") or "no expiry")
    current = rules.parse_iso_date(previous)
    if current is not None and new_date <= current:
        raise RenewalError(
            f"UNTIL {new_date.isoformat()} is not after {group}'s expiry {previous}: a renewal extends a lease "
            f"(to end it sooner, edit expires in {stack_file} by hand)"
        )
    if tags is None:
        tags = CommentedMap()
        tags.fa.set_flow_style()
        entry["tags"] = tags
    if not isinstance(tags, CommentedMap):
        raise RenewalError(f"{where}.tags is not a mapping of tags")
    tags["expires"] = DoubleQuotedScalarString(new_date.isoformat())
    note = f"renewed {today.isoformat()} from {previous}: {reason}"
    # The note goes at the end of the changed line: inside a one-line mapping it would break the line.
    if not tags.fa.flow_style():
        tags.yaml_add_eol_comment(note, "expires")
    elif not entry.fa.flow_style():
        entry.yaml_add_eol_comment(note, "tags")
    else:
        fleet["vms"].yaml_add_eol_comment(note, fleet["vms"].index(entry))

    out = io.StringIO()
    yaml.dump(document, out)
    after = out.getvalue()
    try:
        parse(round_trip_yaml().load(after)["config"][FLEET_KEY], source=f"{stack_file} ({FLEET_KEY})")
    except FleetDeclarationError as error:
        raise RenewalError(
            f"the renewed declaration would not be valid, so {stack_file} is unchanged:\n{error}"
        ) from None
    return Renewal(group=group, previous=previous, until=new_date, before=stack_text, after=after)


def stacks(root: Path) -> list[str]:
    """The stacks that have a stack file in `root`."""
    return sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in root.glob("Pulumi.*.yaml"))


def renew_file(root: Path, stack: str, group: str, until: str, reason: str, today: dt.date) -> Renewal:
    """`renew` on `root/Pulumi.<stack>.yaml` with the limit of `root/policies/config/<stack>.json`,
    writing the file when the renewal is accepted."""
    stack_path = root / f"Pulumi.{stack}.yaml"
    policy_path = root / "policies" / "config" / f"{stack}.json"
    if not stack.strip():
        raise RenewalError(f"STACK is missing: give the stack, one of {', '.join(stacks(root)) or 'none'}")
    for path, what in ((stack_path, "stack file"), (policy_path, "policy configuration")):
        if not path.is_file():
            known = ", ".join(stacks(root)) or "none"
            raise RenewalError(f"there is no {path.relative_to(root)} ({what} of stack {stack!r}); the stacks: {known}")
    renewal = renew(
        stack_path.read_text(),
        stack_file=stack_path.name,
        group=group,
        until=until,
        reason=reason,
        max_days=max_lifespan_days(policy_path),
        policy_source=str(policy_path.relative_to(root)),
        today=today,
    )
    stack_path.write_text(renewal.after)
    return renewal
