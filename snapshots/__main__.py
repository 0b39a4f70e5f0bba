"""`python -m snapshots list|prune|rollback --stack STACK ...`: a stack's VM snapshots on its hosts.

    list      every snapshot of the stack's VMs, oldest first, with what the retention does to it
              (`--format table|json`, `--vm NAME` for one VM)
    prune     delete the vmfleet snapshots the retention (`vmfleet:fleet` `snapshots`) no longer keeps
    rollback  revert one VM to one of its snapshots: `--vm web-01 --snapshot NAME`

`make snapshots`, `make up` (prune, after the deployment) and `make rollback` run it. The stack's VMs
are the domains on its libvirt hosts that carry its mark (`backends/libvirt/names.domain_marker`),
so a VM removed from the declaration but still on a host is listed too. Exit status: 0 done; 1 a
host could not be read or the operation failed (named); 2 a bad argument, stack file or
declaration, or no such VM or snapshot.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from snapshots.listing import BadRequest, StackSnapshots, VmSnapshot, find_vm, read_stack
from vmfleet.load import load_fleet
from vmfleet.problems import FleetDeclarationError
from vmfleet.spec import Fleet

ROOT = Path(__file__).resolve().parent.parent
FAILED, BAD_INPUT = 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapshots", description="A stack's VM snapshots on its hosts.")
    parser.add_argument("action", choices=("list", "prune", "rollback"))
    parser.add_argument("--stack", required=True, help="the stack (Pulumi.<stack>.yaml)")
    parser.add_argument("--vm", help="one VM (its name in the declaration, web-01); rollback needs it")
    parser.add_argument("--snapshot", help="rollback: the snapshot to revert to (`make snapshots` lists them)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--now", help="judge ages as of this UTC time (ISO 8601), for tests and replays")
    arguments = parser.parse_args(argv)
    now = _now(parser, arguments.now)
    stack_file = ROOT / f"Pulumi.{arguments.stack}.yaml"
    if not stack_file.is_file():
        print(f"error: no stack file {stack_file.name} (STACK={arguments.stack})", file=sys.stderr)
        return BAD_INPUT
    try:
        fleet = load_fleet(stack_file, outcome="no snapshot was touched")
    except FleetDeclarationError as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT
    try:
        if arguments.action == "rollback":
            return _rollback(fleet, arguments)
        found = read_stack(fleet, now)
        if arguments.action == "prune":
            return _prune(found, fleet.snapshots.keep, fleet.snapshots.max_age_days, now)
        return _list(found, arguments)
    except BadRequest as error:
        print(f"error: {error}", file=sys.stderr)
        return BAD_INPUT


def _now(parser: argparse.ArgumentParser, text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parser.error(f"--now: {text!r} is not an ISO 8601 time (2026-12-02T06:00:00Z)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _list(found: StackSnapshots, arguments: argparse.Namespace) -> int:
    rows = [row for row in found.snapshots if arguments.vm is None or row.vm == arguments.vm]
    if arguments.format == "json":
        document = {
            "stack": arguments.stack,
            "snapshots": [row.as_json() for row in rows],
            "unreachable": found.unreachable,
            "not_listed": found.not_listed,
        }
        print(json.dumps(document, indent=2))
    else:
        print(_table(rows, found))
    return FAILED if found.unreachable else 0


def _table(rows: Sequence[VmSnapshot], found: StackSnapshots) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=160, no_color=True, force_terminal=False, highlight=False)
    table = Table(title=f"Snapshots ({len(rows)})", title_justify="left")
    for column in ("VM", "host", "snapshot", "taken (UTC)", "age", "VM was", "retention", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.vm,
            row.host,
            row.name + (" (current)" if row.current else ""),
            row.taken.strftime("%Y-%m-%d %H:%M:%S"),
            f"{row.age_days} d",
            row.state,
            row.retention,
            row.description,
        )
    console.print(table)
    for problem in [*found.unreachable, *found.not_listed]:
        console.print(f"note: {problem}")
    return buffer.getvalue().rstrip()


def _prune(found: StackSnapshots, keep: int, max_age_days: int, now: dt.datetime) -> int:
    deleted = found.prune(keep, max_age_days, now)
    for vm, name in deleted:
        print(f"==> deleted snapshot {name} of {vm} (retention: at most {keep}, none older than {max_age_days} days)")
    kept = len(found.snapshots) - len(deleted)
    print(f"==> snapshot retention: {len(deleted)} deleted, {kept} kept (at most {keep} per VM, {max_age_days} days)")
    for problem in found.unreachable:
        print(f"error: {problem}", file=sys.stderr)
    return FAILED if found.unreachable else 0


def _rollback(fleet: Fleet, arguments: argparse.Namespace) -> int:
    if not arguments.vm or not arguments.snapshot:
        raise BadRequest("rollback needs VM=<vm> and SNAPSHOT=<name> (`make snapshots STACK=...` lists them)")
    target = find_vm(fleet, arguments.vm)
    reverted = target.revert(arguments.snapshot)
    note = reverted.description or "no description"
    print(f"==> {arguments.vm} on {target.host} reverted to {reverted.name} ({note})")
    print(
        "    Reverted: the disk's contents, the memory and the definition (vCPUs, memory, NICs); not the\n"
        "    cloud-init seed or a grown disk's size. Pulumi's state still records the VM as last deployed:\n"
        "    `make preview` shows what `make up` would put back (a resize: the declared size again). To keep\n"
        "    the rollback, revert the declaration too (git revert) before the next `make up` (README: Snapshots)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
