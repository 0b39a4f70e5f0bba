"""Snapshots on the real libvirt: `up` snapshots a running VM before it updates or replaces it,
the retention prunes, a replacement keeps them, `make rollback` reverts, and a destroy deletes them
before the VM, leaving nothing."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from typing import Any
from xml.etree import ElementTree as ET

import libvirt
import pytest

from backends.libvirt import names
from tests.engine.harness import NOTHING, URI, EphemeralStack, host_objects

pytestmark = pytest.mark.engine

UPDATE = re.compile(r"^vmfleet-\d{8}T\d{6}Z-update$")
REPLACE = re.compile(r"^vmfleet-\d{8}T\d{6}Z-replace$")


def snapshots_of(domain_name: str) -> list[dict[str, str]]:
    """name, description, state and creationTime of each snapshot, oldest first."""
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(domain_name)
        found = []
        for snapshot in domain.listAllSnapshots(0):
            root = ET.fromstring(snapshot.getXMLDesc(0))
            found.append({key: root.findtext(key) or "" for key in ("name", "description", "state", "creationTime")})
    finally:
        conn.close()
    return sorted(found, key=lambda item: (int(item["creationTime"]), item["name"]))


def domain_facts(domain_name: str) -> tuple[str, int, bool]:
    """UUID, memory in MiB, running."""
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(domain_name)
        return domain.UUIDString(), domain.maxMemory() // 1024, bool(domain.isActive())
    finally:
        conn.close()


def age(domain_name: str, snapshot: str, days: int) -> None:
    """Make the snapshot `days` older, as libvirt allows: redefine it with an earlier creationTime."""
    conn = libvirt.open(URI)
    try:
        domain = conn.lookupByName(domain_name)
        found = domain.snapshotLookupByName(snapshot, 0)
        root = ET.fromstring(found.getXMLDesc(libvirt.VIR_DOMAIN_SNAPSHOT_XML_SECURE))
        created = root.find("creationTime")
        assert created is not None and created.text
        created.text = str(int(created.text) - days * 86400)
        domain.snapshotCreateXML(ET.tostring(root, encoding="unicode"), libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    finally:
        conn.close()


def snapshots_cli(stack: EphemeralStack, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "snapshots", *arguments, "--stack", stack.stack_name]
    return subprocess.run(command, cwd=stack.project, capture_output=True, text=True, timeout=300, env=os.environ)


def with_user(declaration: dict[str, Any], user: str) -> dict[str, Any]:
    changed = copy.deepcopy(declaration)
    changed["vms"][0]["cloud_init"] = {"users": [{"name": user}]}
    return changed


def test_updates_and_replacements_snapshot_first_retention_prunes_rollback_reverts_destroy_leaves_nothing(
    ephemeral: EphemeralStack, fleet: dict[str, Any]
) -> None:
    web = names.domain(ephemeral.prefix, "web-01")
    declared = copy.deepcopy(fleet)
    declared["snapshots"] = {"keep": 2, "max_age_days": 14}
    ephemeral.declare(declared)
    ephemeral.up()
    assert snapshots_of(web) == [], "creating a VM takes no snapshot"

    # An update in place of the running VM (a new cloud-init seed): a snapshot first, saying why.
    declared = with_user(declared, "ops")
    ephemeral.declare(declared)
    assert ephemeral.preview().changes()[web] == "update"
    ephemeral.up()
    first = snapshots_of(web)
    assert len(first) == 1 and UPDATE.match(first[0]["name"]), first
    assert first[0]["description"] == "before update by pulumi up: cloudinit changed"
    assert first[0]["state"] == "running"

    # Two more updates: at most `keep` (2) are kept, the oldest goes.
    for user in ("ops2", "ops3"):
        declared = with_user(declared, user)
        ephemeral.declare(declared)
        ephemeral.up()
    kept = snapshots_of(web)
    assert len(kept) == 2 and first[0]["name"] not in [item["name"] for item in kept]

    # A change of tags only reaches the host as metadata: no snapshot for it.
    tagged = copy.deepcopy(declared)
    tagged["vms"][0]["tags"] = {"role": "frontend"}
    ephemeral.declare(tagged)
    ephemeral.up()
    assert snapshots_of(web) == kept

    # None older than max_age_days: the prune `make up` ends with deletes an aged one.
    age(web, kept[0]["name"], days=30)
    listed = snapshots_cli(ephemeral, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["snapshot"]: row for row in json.loads(listed.stdout)["snapshots"]}
    assert rows[kept[0]["name"]]["retention"] == "deleted by the retention" and rows[kept[0]["name"]]["age_days"] == 30
    assert rows[kept[1]["name"]]["retention"] == "kept"
    pruned = snapshots_cli(ephemeral, "prune")
    assert pruned.returncode == 0 and f"deleted snapshot {kept[0]['name']} of web-01" in pruned.stdout, pruned
    assert [item["name"] for item in snapshots_of(web)] == [kept[1]["name"]]

    # A replacement (a bigger size): a snapshot first, and the VM's snapshots carried over to the
    # new domain (a new UUID), where they can be reverted to.
    before_uuid, before_mib, _ = domain_facts(web)
    resized = copy.deepcopy(tagged)
    resized["vms"][0]["size"] = "small"
    ephemeral.declare(resized)
    assert ephemeral.preview().changes()[web] == "replace"
    ephemeral.up()
    after_uuid, after_mib, running = domain_facts(web)
    assert after_uuid != before_uuid and (before_mib, after_mib) == (128, 256) and running
    carried = snapshots_of(web)
    assert [item["name"] for item in carried][:1] == [kept[1]["name"]] and len(carried) == 2
    assert REPLACE.match(carried[1]["name"]) and carried[1]["state"] == "running"

    # Rollback to the snapshot before the resize: the VM runs at its old size again, and Pulumi,
    # whose state holds the new one, plans to put it back.
    rolled = snapshots_cli(ephemeral, "rollback", "--vm", "web-01", "--snapshot", carried[1]["name"])
    assert rolled.returncode == 0, rolled.stderr
    assert f"web-01 on localhost reverted to {carried[1]['name']}" in rolled.stdout
    _, reverted_mib, running = domain_facts(web)
    assert reverted_mib == 128 and running
    assert ephemeral.preview().changes()[web] == "replace", "the declaration (256 MiB) differs from the host now"
    missing = snapshots_cli(ephemeral, "rollback", "--vm", "web-01", "--snapshot", "no-such")
    assert missing.returncode == 2 and "has no snapshot 'no-such'" in missing.stderr

    # Destroy: the hook deletes every snapshot before the VM; nothing of the stack is left.
    down = ephemeral.cli_down()
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
    assert f"deleted the snapshots of {web} before it is destroyed" in down.stdout
    assert host_objects(ephemeral.prefix) == NOTHING


def test_listing_is_not_thrown_off_by_domains_that_come_and_go(fleet: dict[str, Any]) -> None:
    """Other stacks define and undefine domains on a shared host all the time; a domain that vanishes
    between libvirt's listing and its read is simply not there (a newcomer's `make up` failed on it)."""
    import datetime as dt
    import threading

    from snapshots.listing import read_stack
    from vmfleet.load import parse

    spec = parse(fleet, "the test declaration")
    stop = threading.Event()

    def churn() -> None:
        conn = libvirt.open(URI)
        try:
            while not stop.is_set():
                name = f"{spec.prefix}-churn"
                domain = conn.defineXML(
                    f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                    "<os><type arch='x86_64'>hvm</type></os></domain>"
                )
                domain.undefine()
        finally:
            conn.close()

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        problems = [read_stack(spec, dt.datetime.now(dt.UTC)).unreachable for _ in range(40)]
    finally:
        stop.set()
        worker.join(timeout=30)
    assert [found for found in problems if found] == []
