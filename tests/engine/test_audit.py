"""The fleet audit against a real stack on the local libvirt, with sprawl made beside it by hand.

A stack is brought up (two web VMs, one batch VM expiring inside the notice window); then a domain
is defined by hand with no tags, one web VM is retagged on the host, and a snapshot of the other is
taken and aged by redefining its creation time. The audit must report exactly those findings, in
JSON; its Markdown and Prometheus forms must parse. A host that stops answering is reported by
name while the others are still audited. Idle detection samples the real VMs' CPU time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.libvirt.tags import TAGS_NAMESPACE, TAGS_PREFIX, tags_element
from tests.declarations import ROOT
from tests.engine.harness import URI, EphemeralStack, free_cidrs, small_fleet
from tests.engine.stalling_socket import StallingSocket

pytestmark = pytest.mark.engine

TODAY = dt.date.today()


def audit_fleet(stack: EphemeralStack) -> dict[str, Any]:
    fleet = small_fleet(stack.prefix, free_cidrs(1), stack.storage_dir, (TODAY + dt.timedelta(days=60)).isoformat())
    # Room for whatever else runs on this machine's hypervisor: every VM on a host counts in consolidation.
    fleet["host_pools"][0]["hosts"][0].update({"cpu_cores": 64, "memory_mib": 65536})
    fleet["templates"][0]["patched"] = (TODAY - dt.timedelta(days=10)).isoformat()
    fleet["vms"][0]["count"] = 2
    expiring = (TODAY + dt.timedelta(days=5)).isoformat()
    fleet["vms"].append(
        {"name": "batch", "pool": "local", "template": "tiny", "segments": ["front"], "tags": {"expires": expiring}}
    )
    return fleet


def run_audit(stack: EphemeralStack, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert stack.stack is not None
    state = stack.folder / "export.json"
    state.write_text(json.dumps({"version": 3, "deployment": stack.stack.export_stack().deployment}))
    command = [sys.executable, "-m", "audit", "--stack", stack.stack_name, "--state", str(state), *arguments]
    return subprocess.run(command, cwd=stack.project, capture_output=True, text=True, timeout=timeout, env=os.environ)


def ours(report: dict[str, Any], prefix: str) -> set[tuple[str, str]]:
    """(kind, subject) of every finding about this stack's objects (the machine may hold others)."""
    return {(f["kind"], f["subject"]) for f in report["findings"] if f["subject"].startswith(f"{prefix}-")}


@pytest.fixture
def deployed(ephemeral: EphemeralStack) -> EphemeralStack:
    # The audit reads the pack's defaults from policies/ (a stack without a policy config gets them).
    (ephemeral.project / "policies").symlink_to(ROOT / "policies")
    ephemeral.declare(audit_fleet(ephemeral))
    ephemeral.up()
    return ephemeral


@pytest.fixture
def handmade(deployed: EphemeralStack) -> Iterator[str]:
    """A domain defined by hand beside the stack (no tags, a disk of its own), shut off."""
    import libvirt

    name = f"{deployed.prefix}-handmade"
    folder = f"/var/lib/libvirt/vmfleet/{name}"
    conn = libvirt.open(URI)
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{name}</name><target><path>{folder}</path></target></pool>", 0
    )
    pool.build(0)
    pool.create(0)
    volume = pool.createXML(
        f"<volume><name>{name}.qcow2</name><capacity unit='GiB'>1</capacity>"
        "<target><format type='qcow2'/></target></volume>",
        0,
    )
    domain = conn.defineXML(
        f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
        <description>made by hand for a quick test</description><os><type arch='x86_64'>hvm</type></os>
        <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
        <source file='{volume.path()}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"""
    )
    try:
        yield name
    finally:
        domain.undefine()
        volume.delete(0)
        pool.destroy()
        pool.delete(0)
        pool.undefine()
        conn.close()


@pytest.fixture
def aged_snapshot(deployed: EphemeralStack) -> Iterator[str]:
    """A snapshot of web-01, its creation time moved 30 days back (libvirt's redefine)."""
    import libvirt

    conn = libvirt.open(URI)
    domain = conn.lookupByName(f"{deployed.prefix}-web-01")
    snapshot = domain.snapshotCreateXML("<domainsnapshot><name>before-change</name></domainsnapshot>", 0)
    aged = int(time.time()) - 30 * 86_400
    xml = re.sub(r"<creationTime>\d+</creationTime>", f"<creationTime>{aged}</creationTime>", snapshot.getXMLDesc(0))
    domain.snapshotCreateXML(xml, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    try:
        yield "before-change"
    finally:
        domain.snapshotLookupByName("before-change").delete(0)  # before the stack's destroy undefines it
        conn.close()


def retag_on_host(domain_name: str, tags: dict[str, str]) -> None:
    set_tags_xml(domain_name, tags_element(tags))


def set_tags_xml(domain_name: str, xml: str) -> None:
    """What `virsh metadata --set` does: the domain's tags element replaced, live and persistent."""
    import libvirt

    conn = libvirt.open(URI)
    domain = conn.lookupByName(domain_name)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if domain.isActive() else 0)
    domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, TAGS_PREFIX, TAGS_NAMESPACE, flags)
    conn.close()


def test_the_audit_reports_exactly_what_was_done_to_the_hosts(
    deployed: EphemeralStack, handmade: str, aged_snapshot: str, tmp_path: Path
) -> None:
    prefix = deployed.prefix
    before = run_audit(deployed, "--format", "json", "--idle-window", "0")
    assert before.returncode == 1, before.stderr
    before_retag = ours(json.loads(before.stdout), prefix)
    assert before_retag == {
        ("unmanaged", handmade),
        ("missing-tags", handmade),
        ("expiring", f"{prefix}-batch-01"),
        ("old-snapshot", f"{prefix}-web-01"),
    }

    declared = dict(deployed.declaration["defaults"]["tags"], environment="test", role="web")
    retag_on_host(f"{prefix}-web-02", {**declared, "owner": "someone-else@example.com"})

    result = run_audit(deployed, "--format", "json", "--idle-window", "0")
    assert result.returncode == 1, result.stderr  # violations, every host read
    report = json.loads(result.stdout)
    assert ours(report, prefix) == {
        ("unmanaged", handmade),
        ("missing-tags", handmade),
        ("tag-drift", f"{prefix}-web-02"),
        ("expiring", f"{prefix}-batch-01"),
        ("old-snapshot", f"{prefix}-web-01"),
    }
    findings = {(f["kind"], f["subject"]): f for f in report["findings"]}
    unmanaged = findings[("unmanaged", handmade)]
    assert unmanaged["details"]["size"] == "1 vCPU, 64 MiB, 1 GiB disk"
    assert unmanaged["details"]["age_days"] == 0  # the disk's birth time, made minutes ago
    assert "made by hand for a quick test" in unmanaged["found"]
    assert findings[("missing-tags", handmade)]["details"]["missing"] == [
        "owner",
        "project",
        "environment",
        "cost_center",
        "expires",
    ]
    assert findings[("tag-drift", f"{prefix}-web-02")]["details"]["differences"] == {
        "owner": {"declared": "qa@example.com", "host": "someone-else@example.com"}
    }
    expiring = findings[("expiring", f"{prefix}-batch-01")]
    assert (expiring["owner"], expiring["details"]["days_left"]) == ("qa@example.com", 5)
    assert report["owners"]["qa@example.com"] == [
        {
            "vm": f"{prefix}-batch-01",
            "host": "localhost",
            "expires": (TODAY + dt.timedelta(days=5)).isoformat(),
            "days_left": 5,
            "state": "running",
        }
    ]
    assert findings[("old-snapshot", f"{prefix}-web-01")]["details"]["snapshots"] == {aged_snapshot: 30}
    rows = {row["name"]: row for row in report["vms"]}
    assert rows[f"{prefix}-web-01"]["managed_by"] == "this stack"
    assert rows[f"{prefix}-web-01"]["age_source"] == "state"
    assert rows[handmade]["managed_by"] == "nobody" and rows[handmade]["state"] == "shut off"
    host = next(row for row in report["hosts"] if row["host"] == "localhost")
    assert host["managed"] == 3 and host["unmanaged"] >= 1
    assert report["exit_code"] == 1 and not report["partial"]

    markdown = run_audit(deployed, "--format", "markdown", "--idle-window", "0")
    assert markdown.returncode == 1
    assert_markdown_tables(markdown.stdout, ["Findings", "Leases by owner", "Consolidation", "Templates", "VMs"])
    assert f"`{handmade}`" in markdown.stdout

    out = tmp_path / "textfile" / "vmfleet_audit.prom"
    metrics = run_audit(deployed, "--format", "prometheus", "--out", str(out), "--idle-window", "0")
    assert metrics.returncode == 1, metrics.stderr
    samples = prometheus_samples(out.read_text())
    stack = deployed.stack_name
    assert (
        samples[("vmfleet_audit_findings", (("kind", "tag-drift"), ("severity", "violation"), ("stack", stack)))] == 1
    )
    assert samples[("vmfleet_audit_out_of_rule", (("stack", stack),))] == 1
    assert (
        samples[("vmfleet_audit_host_vms", (("host", "localhost"), ("managed_by", "this_stack"), ("stack", stack)))]
        == 3
    )
    snapshot_count = (
        "vmfleet_audit_vm_snapshots",
        (("host", "localhost"), ("stack", stack), ("vm", f"{prefix}-web-01")),
    )
    assert samples[snapshot_count] == 1

    table = run_audit(deployed, "--idle-window", "0")
    assert table.returncode == 1 and handmade in table.stdout and "Consolidation" in table.stdout

    set_tags_xml(handmade, '<tags><tag key="owner">bob@example.com</tag><tag>no key</tag></tags>')
    malformed = run_audit(deployed, "--format", "json", "--idle-window", "0")
    report = json.loads(malformed.stdout)
    assert ours(report, prefix) - before_retag == {("tag-drift", f"{prefix}-web-02"), ("malformed-metadata", handmade)}
    problem = next(f for f in report["findings"] if f["kind"] == "malformed-metadata")
    assert problem["found"] == f"tags metadata ({TAGS_NAMESPACE}): tag 2 has no key attribute"
    assert next(f for f in report["findings"] if f["kind"] == "unmanaged" and f["subject"] == handmade)["owner"] == (
        "bob@example.com"
    )


def assert_markdown_tables(text: str, headings: list[str]) -> None:
    """Each heading is followed by a table that a CommonMark parser with GitHub tables reads as one."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    found: dict[str, int] = {}
    current = None
    for position, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            current = tokens[position + 1].content.split(" (")[0]
        if token.type == "table_open" and current is not None:
            found[current] = found.get(current, 0) + 1
    assert all(found.get(heading) for heading in headings), (headings, found)


def prometheus_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_host_that_stops_answering_is_named_and_the_others_are_audited(
    deployed: EphemeralStack, tmp_path: Path
) -> None:
    stalled = StallingSocket(tmp_path / "stalled.sock")
    stalled.stall()
    try:
        stack_file = deployed.project / f"Pulumi.{deployed.stack_name}.yaml"
        declared = stack_file.read_text()
        document = yaml.safe_load(declared)
        hosts = document["config"]["vmfleet:fleet"]["host_pools"][0]["hosts"]
        hosts.append({**hosts[0], "name": "hung", "uri": stalled.uri})
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        os.environ["VMFLEET_HOST_TIMEOUT"] = "3"
        try:
            started = time.monotonic()
            result = run_audit(deployed, "--format", "json", "--idle-window", "0", timeout=120)
        finally:
            del os.environ["VMFLEET_HOST_TIMEOUT"]
        elapsed = time.monotonic() - started
    finally:
        stalled.close()
        stack_file.write_text(declared)  # the hung host was declared for the audit only, not for the teardown
    assert result.returncode == 2, result.stderr  # partial, and nothing out of rule on the host it read
    report = json.loads(result.stdout)
    assert [(item["host"], item["address"]) for item in report["unreachable"]] == [("hung", stalled.uri)]
    assert "no answer from the host within 3 s" in report["unreachable"][0]["reason"]
    assert {row["host"] for row in report["hosts"]} == {"localhost"}
    assert ours(report, deployed.prefix) == {("expiring", f"{deployed.prefix}-batch-01")}
    assert "PARTIAL: host hung" in result.stderr
    assert elapsed < 60


def test_make_audit_prints_the_report_alone_on_standard_output() -> None:
    """`make audit FORMAT=json > file` gives a JSON document: the set-up's messages go to standard error."""
    result = subprocess.run(
        ["make", "--no-print-directory", "audit", "STACK=dev", "FORMAT=json", "IDLE_WINDOW=0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = json.loads(result.stdout)
    assert report["exit_code"] in (0, 1), result.stderr  # in rule or not (another checkout's VMs), every host read
    assert result.returncode == (0 if report["exit_code"] == 0 else 2)  # make's own status when its recipe fails
    assert report["stack"] == "dev" and [row["host"] for row in report["hosts"]] == ["localhost"]
    assert "==> stack dev, state" in result.stderr
    assert f"==> stack dev: {'out of rule' if report['exit_code'] else 'in rule'}, " in result.stderr


def test_idle_detection_samples_the_real_cpu_time_of_running_vms(deployed: EphemeralStack) -> None:
    names = {f"{deployed.prefix}-{vm}" for vm in ("web-01", "web-02", "batch-01")}
    busy_threshold = run_audit(deployed, "--format", "json", "--idle-window", "4", "--idle-threshold", "100")
    report = json.loads(busy_threshold.stdout)
    use = {row["name"]: row["cpu_percent"] for row in report["vms"] if row["name"] in names}
    assert set(use) == names and all(0 < percent < 100 for percent in use.values()), use
    assert {subject for kind, subject in ours(report, deployed.prefix) if kind == "idle"} == names

    # The same VMs against a threshold below what an emulated guest uses at rest: none is idle.
    strict = run_audit(deployed, "--format", "json", "--idle-window", "4", "--idle-threshold", "0.01")
    assert not {subject for kind, subject in ours(json.loads(strict.stdout), deployed.prefix) if kind == "idle"}
