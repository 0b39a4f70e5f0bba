"""The retire gate (vmfleet/decommission.py) and what a retired VM is in the program: refused
removals name the exact fix before anything registers; a retired VM is stopped, keeps no address
reservation, gets its decommission, leaves the backup tiers, and the lease policies leave it alone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from vmpolicies import expiry_notice, lifespan

from backends.libvirt.decommission import DecommissionProvider, _manifest
from tests.declarations import valid
from tests.harness import last_registrations, run_program
from tests.policies.helpers import violations
from vmfleet import metadata
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError

DEPLOYED = {"web-01": "h1", "web-02": "h2", "db-01": "h1"}


def refused(raw: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw, **kwargs)
    return [(problem.path, problem.message) for problem in caught.value.problems]


def test_removing_a_group_never_retired_is_refused_with_both_ways_out() -> None:
    raw = valid()
    del raw["vms"][0]
    [(path, message)] = refused(raw, previous_placement=DEPLOYED)
    assert path == "vms"
    assert message == (
        "found no group 'web': removing it destroys its VMs web-01, web-02 at once, and no `make up` has retired "
        "them. Either\n1. put the group back as it was, with retire: {reason: ...}, run `make up` (it shuts the VMs "
        "down, archives them and writes the decommission record), then remove it and run `make up` again;\n"
        "2. or destroy them without a decommission, on purpose: add {group: web, reason: ...} to remove_unretired "
        "(the run logs it)."
    )


def test_lowering_a_count_is_gated_too() -> None:
    raw = valid()
    raw["vms"][0]["count"] = 1
    [(path, message)] = refused(raw, previous_placement=DEPLOYED)
    assert path == "vms[0] (web).count"
    assert message.startswith("found 1: lowering it destroys web-02 of group 'web' at once")


def test_retired_vms_may_go_and_an_override_lets_the_others_go_on_record() -> None:
    raw = valid()
    del raw["vms"][0]
    assert [
        vm.name for vm in plan(raw, previous_placement=DEPLOYED, previously_retired=["web-01", "web-02"]).instances
    ] == ["db-01"]
    raw["remove_unretired"] = [{"group": "web", "reason": "lab rebuilt from scratch"}]
    overridden = plan(raw, previous_placement=DEPLOYED)
    assert overridden.removed_unretired == {"web": (["web-01", "web-02"], "lab rebuilt from scratch")}
    assert plan(raw).removed_unretired == {}, "a first deployment removes nothing"


def test_an_unretired_protected_vm_gets_one_error_with_the_unprotect_step() -> None:
    raw = valid()
    del raw["vms"][0]
    [(path, message)] = refused(raw, previous_placement=DEPLOYED, previously_protected=["web-01", "web-02"])
    assert path == "vms"
    assert "with retire: {reason: ...} and protect: false (web-01, web-02 were deployed protected" in message


def test_retirements_that_cannot_be_carried_out_are_refused() -> None:
    raw = valid()
    raw["vms"][0]["retire"] = {"reason": "decommissioned rack"}
    assert plan(raw).instances[0].retire is not None, "a pool with a remote host archives over libvirt"
    raw = valid()
    raw["remove_unretired"] = [{"group": "web", "reason": "old entry"}]
    [(path, message)] = refused(raw, previous_placement=DEPLOYED)
    assert path == "remove_unretired[0].group" and "still declared and drops none of its VMs" in message
    raw["vms"][0]["retire"] = {"reason": "x"}
    assert any(path == "vms[0] (web).retire.reason" for path, _ in refused(raw))


def test_the_program_refuses_before_it_registers_anything() -> None:
    raw = valid()
    del raw["vms"][0]
    with pytest.raises(pulumi.RunError) as caught:
        run_program(raw, previous_outputs={"placement": DEPLOYED})
    assert "found no group 'web'" in str(caught.value) and last_registrations() == []


def test_a_retired_vm_is_stopped_unreserved_decommissioned_and_out_of_the_backup_tiers() -> None:
    raw = valid()
    raw["vms"][0]["retire"] = {"reason": "replaced by web2 (CHG-7)", "archive": True}
    raw["archive_dir"] = "/srv/vmfleet-archive"
    raw["host_pools"][0]["hosts"][1]["uri"] = "qemu:///session"  # archives are copied from local hosts only
    built = run_program(raw)
    domain = built.named("test-web-01")
    assert domain.inputs["running"] is False and domain.inputs["autostart"] is False
    assert [nic["mac"] for nic in domain.inputs["networkInterfaces"]] == ["52:54:0a:63:01:02"], "NICs stay as they were"
    names = {registration.name for registration in built.registrations}
    assert "test-web-01-web-address" not in names and "test-db-01-web-address" in names
    decommission = built.named("test-web-01-decommission")
    assert decommission.inputs["archive_dir"] == "/srv/vmfleet-archive" and decommission.inputs["archive"] is True
    assert decommission.inputs["reservations"] == [
        {
            "uri": decommission.inputs["uri"],
            "network": "test-web",
            "mac": "52:54:0a:63:01:02",
            "ip": "10.99.1.2",
            "hostname": "web-01",
            "fqdn": "web-01.web.test.vmfleet.internal",
            "dhcp": True,
        }
    ]
    assert decommission.inputs["logs"] == [
        "/var/log/libvirt/qemu/test-web-01-console.log",
        "/var/log/libvirt/qemu/test-web-01.log",
    ]
    assert domain.urn in decommission.dependencies
    assert json.loads(domain.inputs["metadata"])["retired"] == "replaced by web2 (CHG-7)"
    assert built.fleet is not None and built.fleet.inventory["web-01"]["retired"] == "replaced by web2 (CHG-7)"
    assert built.fleet.inventory["db-01"]["retired"] is None


def test_the_lease_policies_leave_a_vm_being_decommissioned_alone() -> None:
    raw = valid()
    raw["vms"][0]["tags"] = {"expires": "2020-01-31"}
    raw["vms"][0]["retire"] = {"reason": "its lease ran out", "archive": False}
    built = run_program(raw)
    retired = built.named("test-web-01").inputs
    active = {**retired, "metadata": metadata.encode({**json.loads(retired["metadata"]), "retired": ""})}
    assert violations(lifespan.POLICY, retired, {}) == []
    assert violations(expiry_notice.POLICY, retired, {}) == []
    assert any("expired on 2020-01-31" in text for text in violations(lifespan.POLICY, active, {}))


def test_a_remote_hosts_logs_stay_there_and_the_record_says_where(tmp_path: Path) -> None:
    """libvirt has no call that reads a host's files: the disk comes over the connection, the logs do not."""
    logs = ["/var/log/libvirt/qemu/dev-web-01-console.log", "/var/log/libvirt/qemu/dev-web-01.log"]
    detail = DecommissionProvider()._copy_logs({"uri": "qemu+ssh://ops@kvm-03/system", "logs": logs}, tmp_path)
    assert detail == (
        f"not archived: {logs[0]}, {logs[1]} stay on qemu+ssh://ops@kvm-03/system; copy them from that host"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_record_writes_counts_as_counts() -> None:
    """Numbers reach the provider as floats; the manifest says `1 vCPU`, not `1.0 vCPU`."""
    facts = {"size": "nano", "vcpus": 1.0, "memory_mib": 128.0, "disk_gib": 1.0, "tags": {}}
    props = {"facts": facts, "stack": "dev", "vm": "web-01", "domain": "dev-web-01", "reason": "r"}
    manifest = _manifest(props, dt.datetime(2026, 12, 2, tzinfo=dt.UTC), {})
    assert manifest["size"] == "nano (1 vCPU, 128 MiB, 1 GiB disk)"
