"""The audit's view of a libvirt host: every domain on it, managed or not, read without changing anything.

Read through a read-only connection with the same bounded call as every other libvirt operation
(`host_call.call`), so a host that stops answering is reported by name instead of holding the audit.
One domain that cannot be read (its metadata malformed, a disk gone) is reported on that domain and
the others are still read.

Where each fact comes from (libvirt 9 API):
- size: `virDomainGetInfo` (vCPUs, maximum memory) and `virDomainGetBlockInfo` per disk (capacity);
- memory in use: `balloon.rss` of `virConnectGetAllDomainStats`, CPU time: its `cpu.time`;
- tags: the `https://vmfleet.dev/xmlns/tags/1` metadata element (`tags.py`), the stack by the
  description's mark (`names.domain_marker`);
- disk times: the volume's `<timestamps>` (btime, mtime). libvirt 9.0 reports btime 0 (it does not
  read birth times); on this machine's own hypervisor the disk file's birth time is read with
  `stat --format=%W` instead;
- snapshots: `virDomainListAllSnapshots` and each snapshot's `<creationTime>`.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from audit.inventory import CpuSample, HostInventory, RecordedVm, Snapshot, VmOnHost
from backends.libvirt import describe, names
from backends.libvirt.host_call import Progress, call, is_libvirt_error
from backends.libvirt.probe import LOCAL_URIS
from backends.libvirt.tags import TAGS_NAMESPACE, read_tags_element
from vmfleet import metadata
from vmfleet.spec import Host, HostPool, Node

KIB_PER_MIB = 1024
GIB = 1024**3
DOMAIN_STATES = {
    0: "no state",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutting down",
    5: "shut off",
    6: "crashed",
    7: "suspended",
}
"""`virDomainState` in `virsh list`'s words."""


class LibvirtInventory:
    """`audit.inventory.Inventory` for libvirt host pools."""

    def collect(self, pool: HostPool, host: Node) -> HostInventory:
        uri = _uri(host)

        def read(conn: Any, _progress: Progress) -> HostInventory:
            import libvirt

            info = conn.getInfo()  # [model, memory MiB, cpus, ...]
            try:
                memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)  # KiB
                total_mib, free_mib = memory["total"] // KIB_PER_MIB, memory.get("free", 0) // KIB_PER_MIB or None
            except libvirt.libvirtError:
                total_mib, free_mib = int(info[1]), None
            flags = libvirt.VIR_DOMAIN_STATS_BALLOON
            rss = {domain.name(): stats.get("balloon.rss") for domain, stats in conn.getAllDomainStats(flags)}
            vms = [
                _vm(conn, domain, rss.get(domain.name()), local=uri in LOCAL_URIS) for domain in conn.listAllDomains(0)
            ]
            return HostInventory(
                pool=pool.name,
                host=host.name,
                address=uri,
                cpus=int(info[2]),
                memory_mib=int(total_mib),
                memory_free_mib=free_mib,
                vms=tuple(sorted((vm for vm in vms if vm is not None), key=lambda vm: vm.name)),
            )

        return call(uri, f"audit host {host.name}", read, read_only=True)

    def sample_cpu(self, pool: HostPool, host: Node) -> CpuSample:
        import time

        uri = _uri(host)

        def read(conn: Any, _progress: Progress) -> CpuSample:
            import libvirt

            stats = conn.getAllDomainStats(
                libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_VCPU,
                libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE,
            )
            at = time.monotonic()
            return CpuSample(
                host=host.name,
                at=at,
                cpu_time_ns={
                    domain.name(): int(values["cpu.time"]) for domain, values in stats if "cpu.time" in values
                },
                vcpus={domain.name(): int(values.get("vcpu.current", 1)) for domain, values in stats},
            )

        return call(uri, f"sample CPU use on host {host.name}", read, read_only=True)

    def recorded(self, export: Mapping[str, Any]) -> dict[str, RecordedVm]:
        """Domains in the state with their creation time and the tags the last `up` deployed.

        The tags are the Domain's tag document (`vmfleet.metadata`), which lives in the state only:
        a refresh keeps it, where it would overwrite the DomainTags' record with the host's tags.
        """
        resources = (export.get("deployment") or {}).get("resources") or []
        found: dict[str, RecordedVm] = {}
        for resource in resources:
            outputs = resource.get("outputs") or {}
            name = outputs.get("name")
            if resource.get("type") != describe.DOMAIN_TYPE or not isinstance(name, str):
                continue
            document = metadata.parse(outputs.get("metadata")) or {}
            tags = document.get("tags")
            found[name] = RecordedVm(
                host_name=name,
                vm=str(document.get("vm") or name),
                created=_state_time(resource.get("created")),
                tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
            )
        return found


def _uri(host: Node) -> str:
    if not isinstance(host, Host):
        raise TypeError(f"host {host.name} is not a libvirt host")
    return host.uri


def _vm(conn: Any, domain: Any, rss_kib: int | None, *, local: bool) -> VmOnHost | None:
    """One domain as the audit sees it; None when it vanished while being read.

    What of it cannot be read as vmfleet metadata is in its `metadata_problems`; a domain libvirt
    cannot describe at all fails the host's reading, naming the domain.
    """
    try:
        return _read_vm(conn, domain, rss_kib, local=local)
    except Exception as error:
        raise RuntimeError(f"domain {domain.name()} could not be read: {error}") from error


def _read_vm(conn: Any, domain: Any, rss_kib: int | None, *, local: bool) -> VmOnHost | None:
    import libvirt

    try:
        state, max_memory_kib, _memory, vcpus, _cpu_time = domain.info()
        xml = ET.fromstring(domain.XMLDesc(0))
    except libvirt.libvirtError as error:
        if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    description = xml.findtext("description") or ""
    title = xml.findtext("title") or ""
    tags, problems = _tags(domain)
    disk_gib, born, last_written = _disks(conn, domain, xml, local=local)
    snapshots = _snapshots(domain, problems)
    running = DOMAIN_STATES.get(state) == "running"
    return VmOnHost(
        name=domain.name(),
        state=DOMAIN_STATES.get(state, f"state {state}"),
        vcpus=int(vcpus),
        memory_mib=int(max_memory_kib) // KIB_PER_MIB,
        disk_gib=round(disk_gib, 2),
        stack_prefix=names.marked_prefix(description),
        description=" - ".join(text for text in (title, description) if text),
        tags=tags,
        metadata_problems=tuple(problems),
        memory_used_mib=round(rss_kib / KIB_PER_MIB, 1) if running and rss_kib else None,
        born=born,
        last_written=last_written,
        snapshots=snapshots,
    )


def _tags(domain: Any) -> tuple[dict[str, str] | None, list[str]]:
    import libvirt

    try:
        xml = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, TAGS_NAMESPACE, 0)
    except libvirt.libvirtError as error:
        if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None, []
        return None, [f"its tags could not be read: {error}"]
    tags, problems = read_tags_element(xml)
    return tags, [f"tags metadata ({TAGS_NAMESPACE}): {problem}" for problem in problems]


def _disks(
    conn: Any, domain: Any, xml: ET.Element, *, local: bool
) -> tuple[float, dt.datetime | None, dt.datetime | None]:
    """Total capacity of the domain's disks (GiB), their earliest birth and latest modification.

    A disk whose size cannot be read at all (its file gone) counts for nothing.
    """
    import libvirt

    total_bytes = 0
    births: list[dt.datetime] = []
    writes: list[dt.datetime] = []
    for disk in xml.findall("devices/disk[@device='disk']"):
        target = disk.find("target")
        source = disk.find("source")
        if target is None or source is None:
            continue
        volume = _volume(conn, source)
        try:
            total_bytes += int(domain.blockInfo(target.get("dev", ""))[0])
        except libvirt.libvirtError:
            if volume is not None:  # blockInfo reads the file itself; the pool's record will do
                total_bytes += int(volume.info()[1])  # [type, capacity, allocation]
        if volume is None:
            continue
        try:
            stamps = ET.fromstring(volume.XMLDesc(0)).find("target/timestamps")
        except Exception:
            continue
        birth = _epoch(stamps.findtext("btime") if stamps is not None else None)
        path = volume.path()
        if birth is None and local:
            birth = _local_birth_time(path)
        if birth is not None:
            births.append(birth)
        written = _epoch(stamps.findtext("mtime") if stamps is not None else None)
        if written is not None:
            writes.append(written)
    return total_bytes / GIB, min(births, default=None), max(writes, default=None)


def _volume(conn: Any, source: ET.Element) -> Any:
    """The storage volume behind a disk's `<source>`, or None when it is not one the host knows."""
    try:
        if source.get("file"):
            return conn.storageVolLookupByPath(source.get("file"))
        if source.get("pool") and source.get("volume"):
            return conn.storagePoolLookupByName(source.get("pool")).storageVolLookupByName(source.get("volume"))
    except Exception as error:
        if not is_libvirt_error(error):
            raise
    return None


def _snapshots(domain: Any, problems: list[str]) -> tuple[Snapshot, ...]:
    try:
        found = domain.listAllSnapshots(0)
    except Exception as error:
        problems.append(f"its snapshots could not be listed ({_words(error)})")
        return ()
    snapshots = []
    for snapshot in found:
        try:
            created = _epoch(ET.fromstring(snapshot.getXMLDesc(0)).findtext("creationTime"))
        except Exception as error:
            problems.append(f"snapshot {snapshot.getName()}: unreadable ({_words(error)})")
            continue
        if created is None:
            problems.append(f"snapshot {snapshot.getName()}: no creation time")
            continue
        snapshots.append(Snapshot(name=snapshot.getName(), created=created))
    return tuple(sorted(snapshots, key=lambda item: item.created))


def _epoch(text: str | None) -> dt.datetime | None:
    """A libvirt timestamp (`1796171823.603749982`) as UTC; None for none, 0 or garbage."""
    try:
        seconds = float(text or 0)
    except ValueError:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None


def _local_birth_time(path: str) -> dt.datetime | None:
    """A file's birth time on this machine (statx, through coreutils), when its file system keeps one."""
    try:
        result = subprocess.run(["stat", "--format=%W", path], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return _epoch(result.stdout.strip()) if result.returncode == 0 else None


def _state_time(text: object) -> dt.datetime | None:
    """The engine's `created` (`2026-12-02T00:37:06.097419068Z`: nanoseconds) as UTC."""
    if not isinstance(text, str):
        return None
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        return dt.datetime.fromisoformat(trimmed).astimezone(dt.UTC)
    except ValueError:
        return None


def _words(error: BaseException) -> str:
    return str(error).strip() or type(error).__name__
