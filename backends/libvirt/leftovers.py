"""What a stack has on its libvirt hosts that its state does not record, and how to remove it.

`make down` runs this after `pulumi destroy`: when anything of the stack is still on a host (a
delete that failed, a VM an interrupted run defined but never recorded, a volume somebody put into
the stack's pool), it names each object with the command that removes it and exits non-zero, so
"down succeeded" never hides debris. `make leftovers STACK=...` lists the same at any time, and
`REMOVE=1` removes what it lists; objects the state records are never touched.

What belongs to the stack is decided by name, from the declaration: the networks, nwfilters and
storage pool its names module gives (`names.py`), every volume in that pool, and every domain whose
description starts with the stack's marker (`names.domain_marker`). Prefix matching alone would
also catch a stack whose prefix extends this one's (`dev` and `dev-2`). What the state records is
read from `pulumi stack export` (`--state FILE`).

`make up` runs it first with `--before-up`: a state that records nothing while the hosts hold
objects of the stack means those belong to another state of it (a team's backend that this shell's
`PULUMI_BACKEND_URL` does not name, CI's) or to a run killed before it wrote any state; `up` would
take them over and restart the VMs, so it stops and says so (`ADOPT=1` takes them over).

    python -m backends.libvirt.leftovers STACK [--state EXPORT.json] [--remove | --before-up]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from backends.libvirt import describe, names
from backends.libvirt.host_call import HostError, HostTimeout, Progress, call, lookup
from backends.libvirt.probe import LOCAL_URIS
from vmfleet.each_host import on_each
from vmfleet.load import load_fleet
from vmfleet.spec import Fleet, LibvirtPool

DOMAIN_TYPE = describe.DOMAIN_TYPE
DYNAMIC_TYPE = describe.DYNAMIC_TYPE
Managed = set[tuple[str, str]]
"""(kind, name) of every object the stack's state records."""


@dataclass(frozen=True)
class Leftover:
    """One object of the stack on a host that its state does not record."""

    kind: str
    name: str
    uri: str
    remove: str
    """The shell command that removes it."""

    def __str__(self) -> str:
        return f"{self.kind} {self.name} on {self.uri}: remove with `{self.remove}`"

    def removed(self) -> str:
        return f"{self.kind} {self.name} on {self.uri}"


def managed_objects(export: dict[str, Any]) -> Managed:
    """What a `pulumi stack export` document records, as (kind, name) pairs.

    Dynamic resources all share one type token and their provider is a secret in state, so their
    kind is told by their outputs (`describe.dynamic_provider`).
    """
    managed: Managed = set()
    for resource in (export.get("deployment") or {}).get("resources") or []:
        outputs = resource.get("outputs") or {}
        name = outputs.get("name")
        if not isinstance(name, str):
            continue
        if resource.get("type") == DOMAIN_TYPE:
            managed.add(("domain", name))
        elif resource.get("type") == DYNAMIC_TYPE:
            kind = _dynamic_kind(outputs)
            if kind is not None:
                managed.add((kind, name))
    return managed


def _dynamic_kind(outputs: dict[str, Any]) -> str | None:
    """The leftover kind a dynamic resource's outputs record: volumes are one kind here, and domain
    tags are not an object of their own."""
    provider = describe.dynamic_provider(outputs)
    if provider is None:
        return None
    if describe.is_volume(provider):
        return "volume"
    return provider.kind if provider.kind in ("network", "storage pool", "nwfilter") else None


def find(fleet: Fleet, managed: Managed, unreachable: list[str] | None = None) -> list[Leftover]:
    """Every object of the stack on every host of the declaration that `managed` does not hold.

    Hosts are read in parallel. A host that does not answer (`HostTimeout`, `HostError`) raises,
    unless `unreachable` is given: then its error is added there and the other hosts still count.
    """
    found: list[Leftover] = []

    def look(host: tuple[str, str]) -> list[Leftover]:
        uri, storage_dir = host
        return call(uri, "look for leftovers", partial(_objects_on, uri=uri, fleet=fleet, storage_dir=storage_dir))

    for outcome in on_each(_hosts(fleet), look):
        if isinstance(outcome.error, (HostTimeout, HostError)) and unreachable is not None:
            unreachable.append(str(outcome.error))
            continue
        found += [leftover for leftover in outcome.result() if (leftover.kind, leftover.name) not in managed]
    return found


def remove(fleet: Fleet, managed: Managed) -> list[Leftover]:
    """Remove every object `find` reports; returns what was removed."""
    removed: list[Leftover] = []
    found = find(fleet, managed)  # once: each host's removal leaves the others' objects as they were
    for uri, storage_dir in _hosts(fleet):
        leftovers = [item for item in found if item.uri == uri]
        call(uri, "remove leftovers", partial(_remove_on, leftovers=leftovers, prefix=fleet.prefix))
        if uri in LOCAL_URIS and any(item.kind == "storage folder" for item in leftovers):
            shutil.rmtree(storage_dir, ignore_errors=True)
        removed += leftovers
    return removed


def _hosts(fleet: Fleet) -> list[tuple[str, str]]:
    return [
        (host.uri, host.storage_dir)
        for pool in fleet.host_pools
        if isinstance(pool, LibvirtPool)
        for host in pool.hosts
    ]


def _objects_on(conn: Any, _progress: Progress, *, uri: str, fleet: Fleet, storage_dir: str) -> list[Leftover]:
    """Every object of the stack on one host, managed or not."""
    prefix = fleet.prefix
    virsh = f"virsh -c {uri}"
    found = [
        Leftover(
            "domain",
            domain.name(),
            uri,
            f"{virsh} destroy {domain.name()}; {virsh} undefine {domain.name()} --nvram --snapshots-metadata",
        )
        for domain in _domains(conn, prefix)
    ]
    for network_name in sorted(names.network(prefix, segment.name) for segment in fleet.segments):
        if lookup(conn.networkLookupByName, network_name) is not None:
            remove_network = f"{virsh} net-destroy {network_name}; {virsh} net-undefine {network_name}"
            found.append(Leftover("network", network_name, uri, remove_network))
    for filter_name in sorted(names.nwfilter(prefix, firewall.segment) for firewall in fleet.firewalls):
        if lookup(conn.nwfilterLookupByName, filter_name) is not None:
            found.append(Leftover("nwfilter", filter_name, uri, f"{virsh} nwfilter-undefine {filter_name}"))
    pool_name = names.storage_pool(prefix)
    pool = lookup(conn.storagePoolLookupByName, pool_name)
    if pool is not None:
        if pool.isActive():
            for volume in sorted(pool.listVolumes()):
                found.append(Leftover("volume", volume, uri, f"{virsh} vol-delete --pool {pool_name} {volume}"))
        remove_pool = f"{virsh} pool-destroy {pool_name}; {virsh} pool-undefine {pool_name}"
        found.append(Leftover("storage pool", pool_name, uri, remove_pool))
    elif uri in LOCAL_URIS:
        found += _storage_folder(uri, storage_dir)
    return found


def _storage_folder(uri: str, storage_dir: str) -> list[Leftover]:
    """The pool's folder on this machine, when it outlived its pool and still holds files."""
    folder = Path(storage_dir)
    if not folder.is_dir():
        return []
    entries = sorted(entry.name for entry in folder.iterdir() if entry.name != "lost+found")
    if not entries:
        return []  # an empty folder (or an empty mount point) is not debris
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return [Leftover("storage folder", f"{storage_dir} (holds {shown})", uri, f"rm -r {storage_dir}")]


def _domains(conn: Any, prefix: str) -> list[Any]:
    found = []
    for domain in conn.listAllDomains(0):
        try:
            description = domain.metadata(0, None, 0)  # VIR_DOMAIN_METADATA_DESCRIPTION
        except Exception:
            continue  # no description: not ours
        if names.marked_prefix(description) == prefix:
            found.append(domain)
    return sorted(found, key=lambda domain: domain.name())


def _remove_on(conn: Any, _progress: Progress, *, leftovers: list[Leftover], prefix: str) -> None:
    wanted = {(item.kind, item.name) for item in leftovers}
    for domain in _domains(conn, prefix):
        if ("domain", domain.name()) in wanted:
            if domain.isActive():
                domain.destroy()
            domain.undefineFlags(1 | 2 | 4 | 16)  # managed save, snapshot metadata, NVRAM, checkpoint metadata
    for kind, name in sorted(wanted):
        if kind == "network" and (network := lookup(conn.networkLookupByName, name)) is not None:
            if network.isActive():
                network.destroy()
            network.undefine()
        elif kind == "nwfilter" and (nwfilter := lookup(conn.nwfilterLookupByName, name)) is not None:
            nwfilter.undefine()
    pool = lookup(conn.storagePoolLookupByName, names.storage_pool(prefix))
    if pool is None:
        return
    if not pool.isActive():
        pool.create(0)
    for volume in pool.listAllVolumes(0):
        if ("volume", volume.name()) in wanted:
            volume.delete(0)
    if ("storage pool", pool.name()) in wanted:
        pool.destroy()
        with contextlib.suppress(Exception):  # a mount point or a folder with other files stays
            pool.delete(0)
        pool.undefine()


def report(lines: Iterable[object]) -> str:
    return "\n".join(f"  - {line}" for line in lines)


def records_anything(export: dict[str, Any]) -> bool:
    """Whether a `pulumi stack export` holds any resource besides the stack itself."""
    resources = (export.get("deployment") or {}).get("resources") or []
    return any(resource.get("type") != "pulumi:pulumi:Stack" for resource in resources)


def before_up(stack: str, fleet: Fleet, export: dict[str, Any]) -> int:
    """0 when `up` may go on; 1, saying why, when a state that records nothing would take over what
    the hosts already hold of the stack (a folder of files alone is not reason enough)."""
    if records_anything(export):
        return 0
    found = [item for item in find(fleet, set()) if item.kind != "storage folder"]
    if not found:
        return 0
    print(
        f"error: the state of stack {stack} records nothing, but its hosts already hold {len(found)} object(s) "
        f"of it:\n{report(item.removed() for item in found)}\n"
        "They belong to another state of this stack (a team backend: is PULUMI_BACKEND_URL set in this shell? "
        'README, "Team state"), or to a run killed before it wrote any state. `make up` would take them over '
        "and restart the VMs, so nothing was changed.\n"
        "Point PULUMI_BACKEND_URL at the stack's state; or, when they are this state's own (a run killed "
        f"outright), `make up STACK={stack} ADOPT=1` takes them over; `make leftovers STACK={stack} REMOVE=1` "
        "removes them.",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backends.libvirt.leftovers", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="the stack whose Pulumi.<stack>.yaml declares the hosts")
    parser.add_argument("--state", type=Path, help="`pulumi stack export` of the stack (default: nothing is managed)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--remove", action="store_true", help="remove what is found")
    action.add_argument(
        "--before-up",
        action="store_true",
        help="fail when the state records nothing while the hosts hold objects of the stack",
    )
    args = parser.parse_args(argv)
    fleet = load_fleet(Path(f"Pulumi.{args.stack}.yaml"))
    export = json.loads(args.state.read_text()) if args.state else {}
    managed = managed_objects(export)
    if args.before_up:
        return before_up(args.stack, fleet, export)
    if args.remove:
        removed = remove(fleet, managed)
        print(
            f"removed {len(removed)} object(s) of stack {args.stack}"
            + (":\n" + report(item.removed() for item in removed) if removed else "")
        )
        return 0
    unreachable: list[str] = []
    found = find(fleet, managed, unreachable)
    for error in unreachable:
        print(f"not checked for leftovers: {error}", file=sys.stderr)
    if not found and not unreachable:
        print(f"nothing of stack {args.stack} is on its hosts outside its state")
        return 0
    if found:
        print(
            f"stack {args.stack} has {len(found)} object(s) on its hosts outside its state:\n{report(found)}",
            file=sys.stderr,
        )
        print(f"remove them all with `make leftovers STACK={args.stack} REMOVE=1`", file=sys.stderr)
    if unreachable:
        print(
            f"{len(unreachable)} host(s) could not be checked; run `make leftovers STACK={args.stack}` when they "
            "answer, or take a host that is gone for good out of the declaration",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
