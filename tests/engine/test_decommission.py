"""Gated decommission on the real libvirt: removing a group that was never retired is refused with
nothing changed; retiring it shuts its VMs down, archives each disk (checksum matching the
manifest) and its logs, deletes its snapshots, drops its DHCP and DNS entries and writes the
records; only then does removing the group destroy it, and the archive stays."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
import pytest
from pulumi import automation as auto

from backends.libvirt import names
from tests.engine.harness import URI, EphemeralStack, host_objects
from vmfleet.images import QEMU_IMG

pytestmark = pytest.mark.engine


def domain_running(domain_name: str) -> bool:
    conn = libvirt.open(URI)
    try:
        return bool(conn.lookupByName(domain_name).isActive())
    finally:
        conn.close()


def network_entries(network_name: str) -> tuple[list[str], list[str]]:
    """The DHCP host names and the DNS host addresses of a network, sorted."""
    conn = libvirt.open(URI)
    try:
        root = ET.fromstring(conn.networkLookupByName(network_name).XMLDesc(0))
    finally:
        conn.close()
    dhcp = sorted(host.get("name", "") for host in root.findall("ip/dhcp/host"))
    return dhcp, sorted(host.get("ip", "") for host in root.findall("dns/host"))


def take_snapshot(domain_name: str) -> None:
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(domain_name)
        domain.snapshotCreateXML("<domainsnapshot><name>operator-before-retire</name></domainsnapshot>", 0)
    finally:
        conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_removal_without_retire_is_refused_and_retire_then_removal_decommissions_and_destroys(
    ephemeral: EphemeralStack, fleet: dict[str, Any], tmp_path: Path
) -> None:
    prefix = ephemeral.prefix
    archive_dir = tmp_path / "archive"
    declared = copy.deepcopy(fleet)
    declared["archive_dir"] = str(archive_dir)
    declared["vms"][0]["count"] = 2
    declared["vms"].append({**copy.deepcopy(declared["vms"][0]), "name": "app", "count": 1})
    ephemeral.declare(declared)
    ephemeral.up()
    web1, web2, app1 = (names.domain(prefix, vm) for vm in ("web-01", "web-02", "app-01"))
    network = names.network(prefix, "front")
    assert network_entries(network)[0] == ["app-01", "web-01", "web-02"]
    take_snapshot(web1)

    # Removing the group outright: refused by the program, before anything changes.
    removed = copy.deepcopy(declared)
    del removed["vms"][0]
    ephemeral.declare(removed)
    with pytest.raises(auto.CommandError) as refused:
        ephemeral.up()
    message = str(refused.value)
    assert "found no group 'web': removing it destroys its VMs web-01, web-02 at once" in message
    assert "retire: {reason: ...}" in message and "remove_unretired" in message
    assert domain_running(web1) and domain_running(web2), "nothing changed"
    assert network_entries(network)[0] == ["app-01", "web-01", "web-02"]

    # Retire it: the next up decommissions both VMs.
    retiring = copy.deepcopy(declared)
    retiring["vms"][0]["retire"] = {"reason": "replaced by the new web tier (CHG-1234)", "archive": True}
    ephemeral.declare(retiring)
    planned = ephemeral.preview().changes()
    assert planned == {
        web1: "update",  # running: false, autostart: false
        web2: "update",
        f"{prefix}-web-01-decommission": "create",
        f"{prefix}-web-02-decommission": "create",
        f"{prefix}-web-01-front-address": "delete",
        f"{prefix}-web-02-front-address": "delete",
    }
    ephemeral.up()
    assert not domain_running(web1) and not domain_running(web2) and domain_running(app1)
    dhcp, dns = network_entries(network)
    assert dhcp == ["app-01"] and len(dns) == 1, "the retired VMs' DHCP reservations and DNS records are gone"
    conn = libvirt.open(URI)
    try:
        assert conn.lookupByName(web1).listAllSnapshots(0) == [], "its snapshots are deleted"
    finally:
        conn.close()
    assert ephemeral.stack is not None
    retired = ephemeral.stack.outputs()["retired"].value
    assert set(retired) == {"web-01", "web-02"}
    for vm in ("web-01", "web-02"):
        record = json.loads(Path(retired[vm]).read_text())
        folder = Path(record["archive"])
        assert folder.parent == archive_dir / ephemeral.stack_name
        manifest = json.loads((folder / "manifest.json").read_text())
        disk = folder / manifest["disk"]["file"]
        assert manifest["disk"]["sha256"] == sha256(disk), "the archived disk matches its manifest"
        # Streamed over libvirt with its template image under it, joined here into one image that
        # stands alone and holds what the VM's disk (still on the host) holds.
        live_disk, base_image = manifest["disk"]["layers"]
        assert Path(base_image).name == names.base_volume(prefix, "tiny", declared["templates"][0]["version"])
        info = json.loads(subprocess.run([QEMU_IMG, "info", "--output=json", str(disk)], capture_output=True,
                                         text=True, check=True).stdout)  # fmt: skip
        assert "backing-filename" not in info and info["format"] == "qcow2"
        compared = subprocess.run([QEMU_IMG, "compare", str(disk), live_disk], capture_output=True, text=True)
        assert compared.returncode == 0, compared.stdout + compared.stderr
        assert manifest["owner"] == "qa@example.com" and manifest["cost_center"] == "CC-7777"
        assert manifest["reason"] == "replaced by the new web tier (CHG-1234)"
        steps = {step["step"]: step for step in record["steps"]}
        assert list(steps) == [
            "shut down",
            "snapshots deleted",
            "DHCP reservation and DNS record removed",
            "final backup",
            "logs archived",
            "left out of",
        ]
        assert steps["shut down"]["detail"].startswith("clean shutdown (ACPI)"), steps["shut down"]
        if vm == "web-01":
            assert steps["snapshots deleted"]["detail"] == "operator-before-retire"
        console = folder / f"{names.domain(prefix, vm)}-console.log"
        assert f"vmfleet-tiny: ready hostname={vm} " in console.read_text(errors="replace")
        assert (folder / f"{names.domain(prefix, vm)}.log").is_file(), "QEMU's log"
        assert f"# Decommission of {vm} (stack {ephemeral.stack_name})" in (folder / "record.md").read_text()
    assert ephemeral.preview().changes() == {}, "a retired group stays as it is"

    # Now removing the group destroys it; the archive stays.
    ephemeral.declare(removed)
    ephemeral.up()
    left = host_objects(prefix)
    assert web1 not in left["domains"] and web2 not in left["domains"] and app1 in left["domains"]
    assert all(Path(path).is_file() for path in retired.values())
    assert "retired" not in ephemeral.stack.outputs() or ephemeral.stack.outputs()["retired"].value == {}
