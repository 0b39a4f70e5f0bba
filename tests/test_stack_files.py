"""The repository's real stacks load, validate and build under mocks through the real program."""

from __future__ import annotations

import pulumi
import pytest

from tests.declarations import stack_declaration, stack_secrets, valid
from tests.harness import PROXMOX_VM, last_registrations, run_program


@pytest.mark.parametrize(("stack", "vm_type"), [("dev", "libvirt:index/domain:Domain"), ("prod", PROXMOX_VM)])
def test_stack_file_builds(stack: str, vm_type: str) -> None:
    built = run_program(stack_declaration(stack), stack=stack, secrets=stack_secrets(stack))
    assert built.fleet is not None
    machines = [vm for vm in built.of_type(vm_type) if not vm.inputs.get("template")]
    assert len(machines) == len(built.fleet.inventory) > 0
    for machine in machines:
        assert machine.inputs["name"].startswith(f"{stack}-")


def test_dev_vms_sit_behind_their_segments_filters() -> None:
    built = run_program(stack_declaration("dev"), stack="dev")
    for domain in built.of_type("libvirt:index/domain:Domain"):
        assert domain.inputs["xml"]["xslt"], f"{domain.name} sits on a firewalled segment"


def test_dev_fleet_is_small_and_local() -> None:
    built = run_program(stack_declaration("dev"), stack="dev", secrets=stack_secrets("dev"))
    assert built.fleet is not None
    assert {item["host"] for item in built.fleet.inventory.values()} == {"localhost"}
    assert len(built.fleet.inventory) == 6
    assert all(128 <= item["memory_mib"] <= 512 for item in built.fleet.inventory.values())
    assert {p.inputs["uri"] for p in built.of_type("pulumi:providers:libvirt")} == {"qemu:///system"}


def test_prod_fleet_spreads_over_its_cluster_and_is_protected_backed_up_and_ha() -> None:
    built = run_program(stack_declaration("prod"), stack="prod", secrets=stack_secrets("prod"))
    assert built.fleet is not None
    assert built.fleet.utilization["fleet"]["hosts_in_use"] == 5
    machines = [vm for vm in built.of_type(PROXMOX_VM) if not vm.inputs.get("template")]
    assert len(machines) == 25 and all(vm.protect for vm in machines)
    for host in built.fleet.utilization["hosts"].values():
        assert host["vcpus_allocated"] <= host["vcpus_capacity"]
        assert host["memory_mib_allocated"] <= host["memory_mib_capacity"]
    jobs = {job.inputs["resourceId"]: job for job in built.of_type("proxmoxve:backup/job:Job")}
    assert set(jobs) == {"prod-gold", "prod-silver"}
    assert len(jobs["prod-gold"].inputs["vmids"]) == 5, "two load balancers and three databases"
    assert len(built.of_type("proxmoxve:index/haresource:Haresource")) == 5, "the critical ones"
    assert {pool.inputs["poolId"] for pool in built.of_type("proxmoxve:index/poolLegacy:PoolLegacy")} == {
        "prod-storefront",
        "prod-data-platform",
    }
    assert {role.inputs["roleId"] for role in built.of_type("proxmoxve:index/roleLegacy:RoleLegacy")} == {
        "prod-vm-user",
        "prod-vm-admin",
        "prod-infra-admin",
        "prod-security-admin",
    }


def test_bad_declaration_stops_the_program_before_any_resource_with_a_readable_error() -> None:
    raw = valid()
    raw["vms"][0]["tags"]["expires"] = "31/12/2027"
    raw["vms"][1]["template"] = "golden"
    with pytest.raises(pulumi.RunError) as caught:
        run_program(raw)
    message = str(caught.value)
    assert message.startswith("Pulumi.test.yaml (vmfleet:fleet) has 2 problems; nothing was deployed:")
    assert "vms[0] (web).tags.expires: found '31/12/2027'" in message
    assert "vms[1] (db).template: 'golden' is not a declared template" in message


def test_no_resource_is_registered_for_a_bad_declaration() -> None:
    raw = valid()
    raw["vms"][0]["count"] = 40  # two hosts of 2 cores x 2.0 overcommit hold 8 one-vCPU VMs
    with pytest.raises(pulumi.RunError, match="cannot hold its VMs"):
        run_program(raw)
    assert last_registrations() == [], "placement fails before the first resource registers"


def test_password_secret_must_be_a_secret_in_the_stack() -> None:
    raw = valid()
    raw["vms"][0]["cloud_init"] = {"users": [{"name": "ops", "password_secret": "ops-pw"}]}
    with pytest.raises(pulumi.RunError, match="pulumi config set --secret ops-pw"):
        run_program(raw)
    built = run_program(raw, secrets={"ops-pw": "$6$abc"})
    assert built.named("test-web-01-cloudinit")
