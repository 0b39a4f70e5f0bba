"""A retired VM's decommission on libvirt, carried out once by the `up` that retires it.

`Decommission` is a dynamic resource created after the VM's Domain. Its create works through the
checklist, in order, and records each step with what it found:
1. shut down: an ACPI shutdown (`virDomainShutdown`, pressed again every 10 s), waited for up to
   `shutdown_timeout_s`, then forced off (`virDomainDestroy`) if the guest did not power off;
2. snapshots deleted, with their data (`snapshots.delete_all`);
3. its DHCP reservation and DNS record removed from each segment network (the same removal as
   `AddressReservation`'s delete; the program no longer declares them, so their resources go too);
4. a final backup of the disk: the volume and its backing template image streamed from the host
   over its libvirt connection and joined into one compressed qcow2 that stands alone
   (`volume_download`), with its SHA-256 (skipped with `archive: false`);
5. the console log and QEMU's log copied into the archive (local hosts: libvirt has no call that
   reads a host's files, so a remote host's logs stay there, and the record says so);
6. the program left it out of backup tiers and monitoring targets (`left_out_of`);
7. the manifest (`manifest.json`: tags, owner, cost center, dates, checksum) and the decommission
   record (`record.json`, `record.md`) written.
The archive is `<archive_dir>/<stack>/<vm>-<UTC time>/`, on the machine that runs `up`, whatever
host the VM is on. A failed step fails the create: the resource is not recorded, and the next `up`
runs the whole checklist again (each step is safe to repeat), in a new archive folder. Nothing is
undone by deleting the resource (the VM's own removal destroys it): the archive and the records stay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource

from backends.libvirt import snapshots
from backends.libvirt.host_call import Progress, call, lookup
from backends.libvirt.provider_base import LibvirtProvider
from backends.libvirt.reservation import AddressReservationProvider
from backends.libvirt.volume_download import Layer, download_chain, join
from backends.state_registry import RecordedProvider
from vmfleet.decommission import is_local

RECORD_SCHEMA = "vmfleet/decommission/1"
SHUTDOWN_REPEAT_S = 10
"""The ACPI power button is pressed again this often while the guest runs (one still booting has no
handler for it yet, and an ACPI event is not queued)."""


class DecommissionProvider(RecordedProvider, LibvirtProvider):
    """Inputs: `uri`, `stack`, `vm`, `domain`, `pool`, `volume`, `archive` (bool), `archive_dir`,
    `reason`, `facts` (the VM's tag document), `reservations` (the AddressReservation inputs of each
    NIC), `logs` (paths on the host), `left_out_of`, `shutdown_timeout_s`. Nothing changes it once made."""

    state_name = "libvirt/decommission"
    identity_keys = ("stack", "vm", "archive_dir", "left_out_of", "reservations")
    kind = "decommission"

    def create(self, props: dict[str, Any]) -> CreateResult:
        started = dt.datetime.now(dt.UTC)
        folder = Path(props["archive_dir"]) / props["stack"] / f"{props['vm']}-{started:%Y%m%dT%H%M%SZ}"
        folder.mkdir(parents=True, exist_ok=True)
        steps: list[dict[str, Any]] = []

        def step(name: str, detail: str) -> None:
            steps.append({"step": name, "done": True, "detail": detail, "at": _now_text()})

        step("shut down", self._shut_down(props))
        deleted = snapshots.on_host(props["uri"], props["domain"], "delete the snapshots", snapshots.delete_all)
        step("snapshots deleted", ", ".join(deleted or []) or "it had none")
        step("DHCP reservation and DNS record removed", self._drop_addresses(props))
        backup: dict[str, Any] = {}
        if props["archive"]:
            backup = self._backup(props, folder)
            step("final backup", f"{backup['file']} ({backup['bytes']} bytes, sha256 {backup['sha256']})")
        else:
            steps.append({"step": "final backup", "done": False, "detail": "archive: false", "at": _now_text()})
        step("logs archived", self._copy_logs(props, folder))
        step("left out of", ", ".join(props["left_out_of"]))
        manifest = _manifest(props, started, backup)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        record = {**manifest, "steps": steps, "archive": str(folder)}
        (folder / "record.json").write_text(json.dumps(record, indent=2) + "\n")
        (folder / "record.md").write_text(markdown(record))
        outs = {
            **props,
            "archive_path": str(folder),
            "record": str(folder / "record.json"),
            "retired_at": manifest["retired_at"],
            "disk_sha256": backup.get("sha256", ""),
        }
        return CreateResult(id_=f"{props['stack']}/{props['vm']}", outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=props)  # a record of what was done: nothing on a host to read

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the archive and the records outlive the VM

    # ------------------------------------------------------------------------------- steps
    def _shut_down(self, props: dict[str, Any]) -> str:
        limit = float(props["shutdown_timeout_s"])

        def stop(conn: Any, progress: Progress) -> str:
            domain = conn.lookupByName(props["domain"])
            if not domain.isActive():
                return "it was shut off already"
            began = pressed = time.monotonic()
            domain.shutdown()
            while time.monotonic() - began < limit:
                progress.touch()
                if not domain.isActive():
                    return f"clean shutdown (ACPI) in {time.monotonic() - began:.0f} s"
                if time.monotonic() - pressed >= SHUTDOWN_REPEAT_S:  # a guest still booting missed the press
                    domain.shutdown()
                    pressed = time.monotonic()
                time.sleep(1)
            domain.destroy()
            return f"forced off: the guest did not power off within {limit:.0f} s of the ACPI shutdown"

        return call(props["uri"], f"shut down domain {props['domain']}", stop)

    def _drop_addresses(self, props: dict[str, Any]) -> str:
        dropped = []
        for reservation in props["reservations"]:
            AddressReservationProvider().delete("", reservation)
            dropped.append(f"{reservation['ip']} ({reservation['fqdn']}) on {reservation['network']}")
        return ", ".join(dropped) or "it had none"

    def _backup(self, props: dict[str, Any], folder: Path) -> dict[str, Any]:
        """The disk with its backing chain, streamed here over the host's libvirt connection (so a
        remote host's as a local one's) and joined into one compressed qcow2 (`volume_download`)."""
        stem = f"{props['vm']}-disk"

        def fetch(conn: Any, progress: Progress) -> list[Layer]:
            pool = conn.storagePoolLookupByName(props["pool"])
            volume = lookup(pool.storageVolLookupByName, props["volume"])
            if volume is None:
                raise RuntimeError(f"the disk volume {props['volume']} is gone from pool {props['pool']}")
            return download_chain(conn, volume, folder, stem, progress)

        layers = call(props["uri"], f"download the disk of {props['domain']}", fetch)
        target = folder / f"{stem}.qcow2"
        join(layers, target)
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return {
            "file": target.name,
            "source": f"{layers[0].host_path} on {props['uri']}",
            "layers": [layer.host_path for layer in layers],
            "bytes": target.stat().st_size,
            "sha256": digest.hexdigest(),
        }

    def _copy_logs(self, props: dict[str, Any], folder: Path) -> str:
        if not is_local(props["uri"]):  # libvirt has no call that reads a host's log files
            return f"not archived: {', '.join(props['logs'])} stay on {props['uri']}; copy them from that host"
        copied, missing = [], []
        for log in props["logs"]:
            source = Path(log)
            if source.is_file():
                shutil.copy2(source, folder / source.name)
                copied.append(source.name)
            else:
                missing.append(f"{log} (none)")
        return ", ".join([*copied, *missing])


def _whole(number: Any) -> Any:
    """A count as a count: numbers reach a dynamic provider as floats (`1.0`), the record says `1`."""
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _manifest(props: dict[str, Any], started: dt.datetime, backup: dict[str, Any]) -> dict[str, Any]:
    facts = props["facts"]
    tags = facts.get("tags") or {}
    return {
        "schema": RECORD_SCHEMA,
        "stack": props["stack"],
        "vm": props["vm"],
        "domain": props["domain"],
        "group": facts.get("group"),
        "host": facts.get("host"),
        "reason": props["reason"],
        "retired_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "owner": tags.get("owner"),
        "cost_center": tags.get("cost_center"),
        "project": tags.get("project"),
        "environment": tags.get("environment"),
        "expires": tags.get("expires"),
        "tags": tags,
        "template": f"{facts.get('template')} {facts.get('template_version')}",
        "size": f"{facts.get('size')} ({_whole(facts.get('vcpus'))} vCPU, {_whole(facts.get('memory_mib'))} MiB, "
        f"{_whole(facts.get('disk_gib'))} GiB disk)",
        "segments": facts.get("segments"),
        "disk": backup or None,
    }


def markdown(record: dict[str, Any]) -> str:
    """The decommission record for people: who, what, why, and the checklist with each result."""
    lines = [
        f"# Decommission of {record['vm']} (stack {record['stack']})",
        "",
        f"- **Reason:** {record['reason']}",
        f"- **Retired at:** {record['retired_at']}",
        f"- **Owner:** {record['owner']}; **cost center:** {record['cost_center']}; **project:** {record['project']}",
        f"- **Lease:** expires {record['expires']}",
        f"- **VM:** {record['domain']} on {record['host']}, {record['size']}, template {record['template']}",
        f"- **Archive:** `{record['archive']}`",
    ]
    if record.get("disk"):
        lines.append(f"- **Final backup:** `{record['disk']['file']}`, sha256 `{record['disk']['sha256']}`")
    lines += ["", "| step | done | detail | at |", "|---|---|---|---|"]
    for item in record["steps"]:
        detail = str(item["detail"]).replace("|", "\\|")
        lines.append(f"| {item['step']} | {'yes' if item['done'] else 'skipped'} | {detail} | {item['at']} |")
    lines += ["", "Tags: " + ", ".join(f"`{key}={value}`" for key, value in sorted(record["tags"].items())), ""]
    return "\n".join(lines)


class Decommission(Resource):
    """The decommission of one retired VM; `record` is the path of its record.json."""

    record: pulumi.Output[str]
    archive_path: pulumi.Output[str]
    retired_at: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: Optional[pulumi.ResourceOptions]) -> None:
        super().__init__(
            DecommissionProvider(), name, {**props, "record": None, "archive_path": None, "retired_at": None}, opts
        )
