"""The snapshots of one stack's VMs, read from every libvirt host of its declaration.

A stack's VMs are the domains on its hosts whose description carries the stack's mark
(`names.marked_prefix`); each is named `<prefix>-<vm>`. Hosts are read in parallel, each bounded by
`host_call` (`VMFLEET_HOST_TIMEOUT`); one that cannot be read is named in `unreachable`, the rest are
still listed. Host pools of other platforms are named in `not_listed`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from backends.libvirt import host_call, names, snapshots
from vmfleet.each_host import on_each
from vmfleet.spec import Fleet, Host


class BadRequest(Exception):
    """No such VM or snapshot, or a missing argument; the message says which, and what there is."""


@dataclass(frozen=True)
class VmSnapshot:
    """One snapshot of one of the stack's VMs."""

    vm: str
    host: str
    uri: str
    domain: str
    name: str
    taken: dt.datetime
    age_days: int
    state: str
    description: str
    ours: bool
    current: bool
    retention: str
    """`kept`, `deleted by the retention` (vmfleet's, past `keep` or `max_age_days`), or `not vmfleet's`."""

    def as_json(self) -> dict[str, Any]:
        return {
            "vm": self.vm,
            "host": self.host,
            "domain": self.domain,
            "snapshot": self.name,
            "taken": self.taken.isoformat().replace("+00:00", "Z"),
            "age_days": self.age_days,
            "vm_state": self.state,
            "description": self.description,
            "vmfleet": self.ours,
            "current": self.current,
            "retention": self.retention,
        }


@dataclass
class StackSnapshots:
    snapshots: list[VmSnapshot] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    not_listed: list[str] = field(default_factory=list)

    def prune(self, keep: int, max_age_days: int, now: dt.datetime) -> list[tuple[str, str]]:
        """Delete, VM by VM, the vmfleet snapshots the retention no longer keeps; (vm, name) of each."""
        deleted: list[tuple[str, str]] = []
        for vm, uri, domain in sorted({(row.vm, row.uri, row.domain) for row in self.snapshots}):
            try:
                pruned = snapshots.on_host(
                    uri, domain, "prune the snapshots", lambda d: snapshots.prune(d, keep, max_age_days, now)
                )
            except (host_call.HostError, host_call.HostTimeout) as error:
                self.unreachable.append(str(error))
                continue
            deleted += [(vm, name) for name in pruned or []]
        return deleted


@dataclass(frozen=True)
class StackVm:
    """One VM of the stack on its host, to revert."""

    vm: str
    host: str
    uri: str
    domain: str

    def revert(self, snapshot: str) -> snapshots.SnapshotInfo:
        def run(domain: Any) -> snapshots.SnapshotInfo:
            try:
                return snapshots.revert(domain, snapshot)
            except KeyError as error:
                raise BadRequest(error.args[0]) from None

        reverted = snapshots.on_host(self.uri, self.domain, f"revert to snapshot {snapshot}", run)
        if reverted is None:
            raise BadRequest(f"domain {self.domain} is gone from {self.host}")
        return reverted


def libvirt_hosts(fleet: Fleet) -> tuple[list[Host], list[str]]:
    """The declaration's libvirt hosts, and a note for each pool of another platform."""
    hosts, others = [], []
    for pool in fleet.host_pools:
        if pool.platform == "libvirt":
            hosts += [host for host in pool.hosts if isinstance(host, Host)]
        else:
            others.append(f"host pool {pool.name} ({pool.platform}): its snapshots are not listed by vmfleet yet")
    return hosts, others


def read_stack(fleet: Fleet, now: dt.datetime) -> StackSnapshots:
    """Every snapshot of the stack's VMs on its libvirt hosts, oldest first per VM."""
    hosts, others = libvirt_hosts(fleet)
    found = StackSnapshots(not_listed=others)
    policy = fleet.snapshots
    for outcome in on_each(hosts, lambda host: _read_host(host, fleet.prefix)):
        host, reading = outcome.item, outcome.result()  # _read_host gives why a host could not be read
        if isinstance(reading, str):
            found.unreachable.append(reading)
            continue
        for domain, infos in sorted(reading.items()):
            doomed = set(snapshots.expired(infos, policy.keep, policy.max_age_days, now))
            for info in infos:
                taken = dt.datetime.fromtimestamp(info.created, dt.UTC)
                found.snapshots.append(
                    VmSnapshot(
                        vm=domain.removeprefix(f"{fleet.prefix}-"),
                        host=host.name,
                        uri=host.uri,
                        domain=domain,
                        name=info.name,
                        taken=taken,
                        age_days=max(0, (now - taken).days),
                        state=info.state,
                        description=info.description,
                        ours=info.ours,
                        current=info.current,
                        retention="deleted by the retention"
                        if info.name in doomed
                        else "kept"
                        if info.ours
                        else "not vmfleet's",
                    )
                )
    return found


def find_vm(fleet: Fleet, vm: str) -> StackVm:
    """The host of the stack's VM `vm`; BadRequest naming the VMs there are when there is none."""
    hosts, _ = libvirt_hosts(fleet)
    domain = names.domain(fleet.prefix, vm)
    seen: list[str] = []
    for host in hosts:
        reading = _read_host(host, fleet.prefix)
        if isinstance(reading, str):
            raise BadRequest(reading)
        if domain in reading:
            return StackVm(vm=vm, host=host.name, uri=host.uri, domain=domain)
        seen += [name.removeprefix(f"{fleet.prefix}-") for name in reading]
    raise BadRequest(f"the stack has no VM {vm!r} on its libvirt hosts (it has: {', '.join(sorted(seen)) or 'none'})")


def _read_host(host: Host, prefix: str) -> dict[str, list[snapshots.SnapshotInfo]] | str:
    """Domain name -> its snapshots, for the stack's domains on the host; or why it could not be read."""

    def run(connection: Any, _progress: host_call.Progress) -> dict[str, list[snapshots.SnapshotInfo]]:
        found = {}
        for domain in connection.listAllDomains(0):
            try:
                description = ET.fromstring(domain.XMLDesc(0)).findtext("description") or ""
                if names.marked_prefix(description) == prefix:
                    found[domain.name()] = snapshots.listing(domain)
            except Exception as error:
                if not host_call.is_missing(error):
                    raise
                # undefined between the listing and this read (another stack's run): not there now
        return found

    try:
        return host_call.call(host.uri, f"list the snapshots of stack {prefix}", run, read_only=True)
    except (host_call.HostError, host_call.HostTimeout) as error:
        return f"host {host.name}: {error}"
