"""vmfleet's snapshots of libvirt VMs: taken before a change, pruned to the retention, carried over
a replacement of the domain, deleted before the VM, listed, and reverted to.

A vmfleet snapshot is an internal snapshot of a running domain: its disk and its memory, kept in
the qcow2 disk itself (`virDomainSnapshotCreateXML` with no flags; libvirt 9.0 leaves read-only
disks such as the cloud-init CD-ROM out). It is named `vmfleet-<UTC time>-<change>`, for instance
`vmfleet-20261202T061502Z-update`, and its description says what changed. Snapshots with any other
name (an operator's) are listed, kept, and deleted only with their VM.

The functions take a libvirt domain object; `on_host` runs one of them on a host through the
bounded `host_call.call`. Times are epoch seconds (a snapshot's `<creationTime>`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from backends.libvirt import host_call

PREFIX = "vmfleet-"
OURS = re.compile(r"^vmfleet-\d{8}T\d{6}Z-[a-z]+(-\d+)?$")
"""The names vmfleet gives its snapshots (a suffix `-2`, `-3` when two are taken in one second)."""

T = TypeVar("T")


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot of a domain, as libvirt holds it."""

    name: str
    created: int
    """Epoch seconds (`<creationTime>`)."""
    state: str
    """The domain's state when it was taken: `running`, `shutoff`, ..."""
    description: str
    current: bool
    """libvirt's current snapshot of the domain (the last taken or reverted to)."""

    @property
    def ours(self) -> bool:
        """Taken by vmfleet, so pruned by the retention."""
        return OURS.match(self.name) is not None


def on_host(uri: str, domain_name: str, what: str, operation: Callable[[Any], T]) -> T | None:
    """`operation(domain)` on the host at `uri`, bounded; None when the domain does not exist there."""

    def run(connection: Any, _progress: host_call.Progress) -> T | None:
        domain = host_call.lookup(connection.lookupByName, domain_name)
        return None if domain is None else operation(domain)

    return host_call.call(uri, f"{what} of domain {domain_name}", run)


def snapshot_name(now: dt.datetime, change: str, taken: Sequence[str] = ()) -> str:
    """`vmfleet-20261202T061502Z-update`; with `-2`, `-3`... when the name is in `taken`."""
    base = f"{PREFIX}{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{change}"
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def listing(domain: Any) -> list[SnapshotInfo]:
    """The domain's snapshots, oldest first."""
    found = []
    for snapshot in domain.listAllSnapshots(0):
        root = ET.fromstring(snapshot.getXMLDesc(0))
        found.append(
            SnapshotInfo(
                name=snapshot.getName(),
                created=int(root.findtext("creationTime") or 0),
                state=root.findtext("state") or "",
                description=root.findtext("description") or "",
                current=bool(snapshot.isCurrent(0)),
            )
        )
    return sorted(found, key=lambda info: (info.created, info.name))


def take(domain: Any, change: str, description: str, now: dt.datetime) -> str | None:
    """Snapshot the domain if it is running; its name, or None when it is not running."""
    if not domain.isActive():
        return None
    name = snapshot_name(now, change, [snapshot.getName() for snapshot in domain.listAllSnapshots(0)])
    document = (
        f"<domainsnapshot><name>{escape(name)}</name><description>{escape(description)}</description></domainsnapshot>"
    )
    domain.snapshotCreateXML(document, 0)
    return name


def expired(snapshots: Sequence[SnapshotInfo], keep: int, max_age_days: int, now: dt.datetime) -> list[str]:
    """The vmfleet snapshots the retention deletes: all but the newest `keep`, and any older than
    `max_age_days` whole days. Others' snapshots are never in it."""
    ours = sorted((info for info in snapshots if info.ours), key=lambda info: (info.created, info.name), reverse=True)
    limit = now.timestamp() - max_age_days * 86400
    return [info.name for position, info in enumerate(ours) if position >= keep or info.created < limit]


def prune(domain: Any, keep: int, max_age_days: int, now: dt.datetime) -> list[str]:
    """Delete what `expired` names (each with its data); the names deleted."""
    names = expired(listing(domain), keep, max_age_days, now)
    for name in names:
        domain.snapshotLookupByName(name, 0).delete(0)
    return names


def delete_all(domain: Any) -> list[str]:
    """Delete every snapshot of the domain with its data (before the VM itself goes); the names."""
    import libvirt

    names = [snapshot.getName() for snapshot in domain.listAllSnapshots(0)]
    for root in domain.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS):
        root.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
    return names


@dataclass(frozen=True)
class Detached:
    """A domain's snapshots taken off it before the domain is replaced; their data stays in its disk."""

    documents: tuple[str, ...]
    """Each snapshot's XML, parents before children."""
    current: str | None


def detach(domain: Any) -> Detached:
    """Remove the snapshots' metadata from the domain, keeping their data in its disk, so the domain
    can be undefined; `reattach` gives them to the domain that replaces it."""
    import libvirt

    snapshots = domain.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)
    documents = tuple(snapshot.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE) for snapshot in snapshots)
    current = next((snapshot.getName() for snapshot in snapshots if snapshot.isCurrent(0)), None)
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN
    for root in domain.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS):
        root.delete(flags)
    return Detached(documents=documents, current=current)


def reattach(domain: Any, detached: Detached) -> list[str]:
    """Define the detached snapshots on `domain` (the replacement, with a new UUID); the names."""
    import libvirt

    uuid = domain.UUIDString()
    names = []
    for document in detached.documents:
        root = ET.fromstring(document)
        inner = root.find("domain/uuid")
        if inner is not None:
            inner.text = uuid
        name = root.findtext("name") or ""
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
        if name == detached.current:
            flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
        domain.snapshotCreateXML(ET.tostring(root, encoding="unicode"), flags)
        names.append(name)
    return names


def revert(domain: Any, name: str) -> SnapshotInfo:
    """Revert the domain to its snapshot `name` (disk, memory and definition as they were); raises
    KeyError naming the snapshots there are when it has none of that name."""
    snapshots = {info.name: info for info in listing(domain)}
    if name not in snapshots:
        there = ", ".join(snapshots) or "none"
        raise KeyError(f"domain {domain.name()} has no snapshot {name!r} (it has: {there})")
    domain.revertToSnapshot(domain.snapshotLookupByName(name, 0), 0)
    return snapshots[name]
