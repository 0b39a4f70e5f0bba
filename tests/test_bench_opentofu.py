"""The benchmark's OpenTofu configuration: the same VMs on the same hosts as our plan, the same objects
per VM and per host as our libvirt backend makes (less the firewalls v0.8.1 cannot express). No tofu
is run here: the side by side (`python -m bench --opentofu`) is opt-in, its tools built on demand."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from backends.libvirt import names
from bench.fleet import declaration
from bench.opentofu import PROVIDER_SOURCE, PROVIDER_VERSION, configuration, resource_counts
from vmfleet.load import FleetPlan, plan

PREFIX = "bench"
REFERENCE = re.compile(r"\$\{(libvirt_[a-z_]+)\.([A-Za-z0-9_-]+)\.(id|name)\}")


def uri(host: str) -> str:
    return f"qemu+unix:///system?socket=/tmp/vmfleet-bench/{host}.sock"


@pytest.fixture(scope="module")
def fleet_plan() -> FleetPlan:
    raw = declaration(
        10,
        environment="dev",
        prefix=PREFIX,
        image="/var/lib/vmfleet/images/vmfleet-tiny-1.0.qcow2",
        expires=dt.date.today() + dt.timedelta(days=60),
        host_uri=uri,
    )
    return plan(raw, source="the benchmark fleet", is_secret=lambda _key: False)


@pytest.fixture(scope="module")
def config(fleet_plan: FleetPlan) -> dict[str, Any]:
    return configuration(fleet_plan, PREFIX)


def provider_host(block: dict[str, Any]) -> str:
    provider: str = block["provider"]
    assert provider.startswith("libvirt."), f"resource without a host's provider alias: {block}"
    return provider.removeprefix("libvirt.")


def test_is_json_that_round_trips(config: dict[str, Any]) -> None:
    text = json.dumps(config)
    assert json.loads(text) == config
    assert config["terraform"]["required_providers"]["libvirt"] == {
        "source": PROVIDER_SOURCE,
        "version": PROVIDER_VERSION,
    }


def test_one_provider_per_host_with_its_uri(fleet_plan: FleetPlan, config: dict[str, Any]) -> None:
    hosts = [host.name for pool in fleet_plan.fleet.host_pools for host in pool.hosts]
    assert [provider["alias"] for provider in config["provider"]["libvirt"]] == hosts
    assert all(provider["uri"] == uri(provider["alias"]) for provider in config["provider"]["libvirt"])


def test_resource_counts_per_vm_and_per_host(fleet_plan: FleetPlan, config: dict[str, Any]) -> None:
    host_of = fleet_plan.placement.host_of
    vms = len(fleet_plan.instances)
    hosts = sum(len(pool.hosts) for pool in fleet_plan.fleet.host_pools)
    images = {(host_of[vm.name], vm.template) for vm in fleet_plan.instances}
    networks = {(host_of[vm.name], segment) for vm in fleet_plan.instances for segment in vm.segments}
    assert vms == 10
    assert resource_counts(config) == {
        "libvirt_pool": hosts,
        "libvirt_volume": len(images) + vms,  # base volumes, then one disk per VM
        "libvirt_network": len(networks),
        "libvirt_cloudinit_disk": vms,
        "libvirt_domain": vms,
    }
    base_volumes = {key for key, block in config["resource"]["libvirt_volume"].items() if "base_volume_id" not in block}
    assert base_volumes == {f"{host}_{template}" for host, template in images}
    assert set(config["resource"]["libvirt_network"]) == {f"{host}_{segment}" for host, segment in networks}


def test_vms_are_ours_on_the_hosts_we_place_them(fleet_plan: FleetPlan, config: dict[str, Any]) -> None:
    domains = config["resource"]["libvirt_domain"]
    assert {vm: provider_host(block) for vm, block in domains.items()} == dict(fleet_plan.placement.host_of)
    for vm in fleet_plan.instances:
        domain = domains[vm.name]
        assert domain["name"] == names.domain(PREFIX, vm.name)
        assert (domain["vcpu"], domain["memory"]) == (vm.vcpus, vm.memory_mib)
        assert len(domain["network_interface"]) == len(vm.segments)
        disk = config["resource"]["libvirt_volume"][f"{vm.name}_disk"]
        assert disk["size"] == vm.disk_gib * 1024**3
        assert provider_host(disk) == provider_host(config["resource"]["libvirt_cloudinit_disk"][vm.name])
        assert config["resource"]["libvirt_cloudinit_disk"][vm.name]["user_data"].startswith("#cloud-config")


def test_every_reference_is_to_a_resource_on_the_same_host(config: dict[str, Any]) -> None:
    resources = config["resource"]
    checked = 0
    for kind, blocks in resources.items():
        for key, block in blocks.items():
            for kind_to, key_to, _attribute in REFERENCE.findall(json.dumps(block)):
                assert key_to in resources[kind_to], f"{kind}.{key} refers to a missing {kind_to}.{key_to}"
                assert provider_host(resources[kind_to][key_to]) == provider_host(block), f"{kind}.{key}"
                checked += 1
    assert checked >= 10 * 5  # per VM: disk -> base and pool, cloud-init -> pool, domain -> disk, cloud-init, network
