"""What an audit reads from the hosts and from the stack's state, in words no backend owns.

Each backend (`backends/<platform>/inventory.py`) fills these records from its own API; the
findings (`audit.findings`) judge them without knowing which platform they came from. Times are
timezone-aware UTC; sizes carry their unit in the field name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from vmfleet.spec import HostPool, Node


@dataclass(frozen=True)
class Snapshot:
    """One snapshot of a VM, as its host records it."""

    name: str
    created: dt.datetime


@dataclass(frozen=True)
class VmOnHost:
    """One VM defined on a host, whoever made it."""

    name: str
    """Its name on the host (libvirt: the domain name, `dev-web-01`)."""
    state: str
    """In the host's words: `running`, `shut off`, `paused`, ..."""
    vcpus: int
    memory_mib: int
    """Memory it is given (libvirt: the domain's maximum memory), MiB."""
    disk_gib: float
    """Sum of the virtual sizes of its disks that the host knows as volumes, GiB."""
    stack_prefix: str | None
    """The vmfleet stack whose mark it carries (libvirt: its description), or None when none does."""
    description: str = ""
    tags: Mapping[str, str] | None = None
    """Its vmfleet tags on the host; None when it carries none."""
    metadata_problems: tuple[str, ...] = ()
    """What could not be read, or read as tags, in its metadata (a malformed element)."""
    memory_used_mib: float | None = None
    """Memory its process holds (resident set size) while it runs, MiB; None when not running."""
    born: dt.datetime | None = None
    """When its disks were made, when the host can tell (libvirt: the earliest disk birth time)."""
    last_written: dt.datetime | None = None
    """The latest modification of its disks (libvirt volume timestamps): for a VM that is shut
    off, when it last ran, near enough."""
    snapshots: tuple[Snapshot, ...] = ()

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class HostInventory:
    """Everything one host holds and offers, read at one moment."""

    pool: str
    host: str
    """The host's name in the declaration."""
    address: str
    """How it was reached (libvirt: the connection URI)."""
    cpus: int
    """Logical CPUs the host reports."""
    memory_mib: int
    """Memory the host reports, MiB."""
    memory_free_mib: int | None
    vms: tuple[VmOnHost, ...]


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU time of each running VM of one host, read at one moment."""

    host: str
    at: float
    """`time.monotonic()` seconds when it was read."""
    cpu_time_ns: Mapping[str, int]
    """VM name on the host -> CPU time it has used since it started, ns."""
    vcpus: Mapping[str, int]


@dataclass(frozen=True)
class Unreachable:
    """A host the audit could not read, and the reason in the words it failed with."""

    pool: str
    host: str
    address: str
    reason: str


@dataclass(frozen=True)
class RecordedVm:
    """What the stack's state records of one of its VMs."""

    host_name: str
    """Its name on the host."""
    vm: str
    """Its name in the declaration (`web-01`)."""
    created: dt.datetime | None
    """When the state first recorded it (the engine's `created` field)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The tags the last deployment wrote to the host (what the state says was declared then)."""


class Inventory(Protocol):
    """How the audit reads one platform's hosts and state; each backend provides one."""

    def collect(self, pool: HostPool, host: Node) -> HostInventory:
        """Every VM on `host` with its size, tags, disks and snapshots; raises when it cannot be read."""
        ...

    def sample_cpu(self, pool: HostPool, host: Node) -> CpuSample:
        """The CPU time of every running VM on `host`, now."""
        ...

    def recorded(self, export: Mapping[str, Any]) -> dict[str, RecordedVm]:
        """The platform's VMs in a `pulumi stack export` document, by name on the host."""
        ...
