"""The Proxmox VE backend under Pulumi mocks, through the real `__main__.py`: what each VM, template,
segment and firewall becomes on a cluster, with the key properties of each."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.declarations import valid
from tests.harness import Built, is_secret, run_program
from vmfleet import metadata

VM = "proxmoxve:index/vmLegacy:VmLegacy"
PROVIDER = "pulumi:providers:proxmoxve"
TOKEN = "vmfleet@pve!ci=6a0f5f0c-0000-4000-8000-000000000000"
ENDPOINT = "https://pve-01.dc1.example.com:8006/"


def cluster_fleet() -> dict[str, Any]:
    """web (2) and db (1) on a two-node cluster; db on VLAN 12 (firewalled) and web; web peers db."""
    raw = valid()
    raw["host_pools"] = [
        {
            "name": "pve",
            "platform": "proxmox",
            "cpu_overcommit": 2.0,
            "proxmox": {"endpoint": ENDPOINT, "api_token_secret": "pve-token", "clone": "linked"},
            "hosts": [
                {"name": "pve-01", "cpu_cores": 2, "memory_mib": 2048},
                {"name": "pve-02", "cpu_cores": 2, "memory_mib": 2048},
            ],
        }
    ]
    raw["templates"] = [
        {
            "name": "cloud",
            "image_url": "https://images.example.com/cloud-2026.11.qcow2",
            "os_family": "linux",
            "default_size": "nano",
            "version": "2026.11",
            "patched": "2026-11-01",
            "min_disk_gib": 1,
        }
    ]
    raw["backup_tiers"] = [{"name": "gold", "schedule": "*-*-* 01:30", "storage": "pbs", "keep": {"daily": 7}}]
    raw["defaults"]["tags"]["backup"] = "gold"
    for group in raw["vms"]:
        group["pool"] = "pve"
        group["template"] = "cloud"
    raw["vms"][1]["protect"] = True
    raw["vms"][1]["critical"] = True
    raw["access"] = [
        {"role": "vm-user", "groups": ["web-devs"], "vm_groups": ["web"]},
        {"role": "vm-admin", "groups": ["tests-ops"], "users": ["ann@corp"], "projects": ["tests"]},
        {"role": "infra-admin", "groups": ["infra"]},
    ]
    raw["vms"][1]["cloud_init"] = {
        "users": [{"name": "ops", "ssh_authorized_keys": ["ssh-ed25519 AAAA ops"], "password_secret": "ops-pw"}]
    }
    return raw


@pytest.fixture(scope="module")
def built() -> Built:
    return run_program(cluster_fleet(), secrets={"pve-token": TOKEN, "ops-pw": "$6$hash-of-ops"})


def vms(built: Built) -> dict[str, Any]:
    return {r.name: r for r in built.of_type(VM) if not r.inputs.get("template")}


def vm_id(built: Built, name: str) -> int:
    """The id the (mocked) cluster gave a VM."""
    return int(built.states[name]["vmId"])


def test_one_provider_per_cluster_with_the_token_as_a_secret(built: Built) -> None:
    providers = built.of_type(PROVIDER)
    assert [p.name for p in providers] == ["test-pve"]
    assert providers[0].inputs["endpoint"] == ENDPOINT
    assert is_secret(providers[0].inputs["apiToken"]), "the API token reaches the engine as a secret"
    assert providers[0].inputs["apiToken"]["value"] == TOKEN


def test_a_template_is_a_downloaded_image_and_a_template_vm_per_node_that_uses_it(built: Built) -> None:
    images = built.of_type("proxmoxve:download/file:File")
    templates = [r for r in built.of_type(VM) if r.inputs.get("template")]
    nodes = {vm.inputs["nodeName"] for vm in vms(built).values()}
    assert {image.inputs["nodeName"] for image in images} == nodes == {t.inputs["nodeName"] for t in templates}
    image = images[0]
    assert image.inputs["url"] == "https://images.example.com/cloud-2026.11.qcow2"
    assert image.inputs["contentType"] == "import" and image.inputs["datastoreId"] == "local"
    names = [image.inputs["fileName"] for image in images]
    assert len(set(names)) == len(names), "per-node names: a shared image datastore holds every node's copy"
    template = templates[0]
    assert template.inputs["name"] == "test-cloud-2026.11"
    assert template.inputs["started"] is False
    assert template.inputs["disks"][0]["importFrom"].endswith("-image-id"), "made from the downloaded image"


def test_a_vm_is_a_clone_of_its_nodes_template_sized_from_the_catalog(built: Built) -> None:
    machines = vms(built)
    db = machines["test-db-01"]
    templates = {t.inputs["nodeName"]: t for t in built.of_type(VM) if t.inputs.get("template")}
    assert db.inputs["clone"]["full"] is False, "linked clones, as the cluster declares"
    assert db.inputs["clone"]["retries"] >= 3, "clones of one template retry on its lock"
    assert db.inputs["clone"]["vmId"] >= 100
    assert templates[db.inputs["nodeName"]].urn in db.dependencies
    assert db.inputs["cpu"] == {"cores": 1, "sockets": 1, "type": "x86-64-v2-AES"}, "runs RHEL 9-class guests"
    assert db.inputs["operatingSystem"] == {"type": "l26"}
    assert db.inputs["memory"] == {"dedicated": 256}
    assert db.inputs["disks"] == [{"interface": "scsi0", "datastoreId": "local-lvm", "size": 2}]
    assert db.inputs["started"] is True and db.inputs["onBoot"] is True
    assert db.protect and not machines["test-web-01"].protect


def test_nics_are_tagged_with_their_segments_vlan_and_filtered_where_firewalled(built: Built) -> None:
    nics = vms(built)["test-db-01"].inputs["networkDevices"]
    assert nics == [
        {"bridge": "vmbr0", "vlanId": 12, "firewall": True},  # db, VLAN 12
        {"bridge": "vmbr0", "firewall": True},  # web, untagged
    ]


def test_description_holds_the_tag_document_and_tags_the_mandatory_ones(built: Built) -> None:
    db = vms(built)["test-db-01"]
    document = metadata.parse(db.inputs["description"])
    assert document is not None and document["vm"] == "db-01" and document["tags"]["backup"] == "gold"
    assert db.inputs["tags"] == sorted(db.inputs["tags"])
    assert "owner.owner_example.com" in db.inputs["tags"] and "backup.gold" in db.inputs["tags"]


def test_every_vm_is_in_its_projects_resource_pool(built: Built) -> None:
    pools = built.of_type("proxmoxve:index/poolLegacy:PoolLegacy")
    assert [pool.inputs["poolId"] for pool in pools] == ["test-tests"]
    assert {vm.inputs["poolId"] for vm in vms(built).values()} == {"test-tests"}


def test_firewall_is_a_security_group_per_segment_ip_sets_for_peers_and_vm_options(built: Built) -> None:
    groups = {g.inputs["name"]: g for g in built.of_type("proxmoxve:cluster/firewall/security/groupLegacy:GroupLegacy")}
    assert set(groups) == {"test-web", "test-db"}, "once per cluster, not per node"
    assert groups["test-db"].inputs["rules"] == [
        {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "5432", "source": "+test-web"}
    ]
    assert groups["test-web"].inputs["rules"] == [{"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "80,443"}]
    ipsets = built.of_type("proxmoxve:firewall/ipsetLegacy:IpsetLegacy")
    assert [(s.inputs["name"], s.inputs["cidrs"]) for s in ipsets] == [("test-web", [{"name": "10.99.1.0/24"}])]
    options = built.named("test-db-01-firewall")
    assert options.inputs["inputPolicy"] == "DROP" and options.inputs["outputPolicy"] == "ACCEPT"
    assert options.inputs["dhcp"] is True and options.inputs["enabled"] is True
    rules = built.named("test-db-01-rules").inputs["rules"]
    assert rules == [{"securityGroup": "test-db", "iface": "net0"}, {"securityGroup": "test-web", "iface": "net1"}]


def test_cloud_init_sets_the_user_with_its_secret_password_and_dhcp(built: Built) -> None:
    init = vms(built)["test-db-01"].inputs["initialization"]
    assert is_secret(init), "the block holding the password hash reaches the engine as a secret"
    init = init["value"]
    assert init["ipConfigs"] == [{"ipv4": {"address": "dhcp"}}, {"ipv4": {"address": "dhcp"}}]
    account = init["userAccount"]
    assert account == {"username": "ops", "keys": ["ssh-ed25519 AAAA ops"], "password": "$6$hash-of-ops"}
    assert not is_secret(vms(built)["test-web-01"].inputs["initialization"]), "no password, nothing to hide"


def static_segments_fleet(*static: str) -> dict[str, Any]:
    """`cluster_fleet` with the named segments static (`dhcp: false`); db keeps 10.99.2.2-.9 for appliances."""
    raw = cluster_fleet()
    for segment in raw["segments"]:
        if segment["name"] in static:
            segment["dhcp"] = False
    raw["segments"][1]["reserved"] = ["10.99.2.2-10.99.2.9"]
    return raw


def test_a_static_segments_nic_gets_its_planned_address_and_the_first_nic_the_default_route() -> None:
    built = run_program(static_segments_fleet("db"), secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    db_configs = vms(built)["test-db-01"].inputs["initialization"]["value"]["ipConfigs"]
    assert db_configs == [
        {"ipv4": {"address": "10.99.2.10/24", "gateway": "10.99.2.1"}},  # db: static, first, past the reserved
        {"ipv4": {"address": "dhcp"}},  # web: the VLAN's DHCP server
    ]
    web = vms(built)["test-web-01"].inputs["initialization"]["ipConfigs"]
    assert web == [{"ipv4": {"address": "dhcp"}}]
    inventory = built.exports["inventory"]
    assert inventory["db-01"]["addresses"] == {"db": {"address": "10.99.2.10"}}, "no DNS of vmfleet's on a VLAN"
    assert inventory["web-01"]["addresses"] == {}, "the VLAN's DHCP server picks a DHCP segment's address"


def test_a_static_nic_after_the_first_routes_nothing_by_default() -> None:
    built = run_program(static_segments_fleet("web"), secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    db_configs = vms(built)["test-db-01"].inputs["initialization"]["value"]["ipConfigs"]
    assert db_configs == [{"ipv4": {"address": "dhcp"}}, {"ipv4": {"address": "10.99.1.4/24"}}]
    web_configs = [vms(built)[f"test-web-0{n}"].inputs["initialization"]["ipConfigs"] for n in (1, 2)]
    assert web_configs == [
        [{"ipv4": {"address": "10.99.1.2/24", "gateway": "10.99.1.1"}}],
        [{"ipv4": {"address": "10.99.1.3/24", "gateway": "10.99.1.1"}}],
    ]


def test_static_addresses_on_a_cluster_are_sticky() -> None:
    """A VM keeps the address the last deployment exported, so growing a group renumbers nothing."""
    raw = static_segments_fleet("web")
    raw["vms"][0]["count"] = 3
    previous = {"addresses": {"web-01": {"web": "10.99.1.7"}, "db-01": {"web": "10.99.1.2"}}}
    built = run_program(raw, secrets={"pve-token": TOKEN, "ops-pw": "$6$h"}, previous_outputs=previous)
    addresses = {name: machine.inputs["initialization"] for name, machine in vms(built).items()}
    plain = {
        name: (init["value"] if is_secret(init) else init)["ipConfigs"][-1]["ipv4"]["address"]
        for name, init in addresses.items()
    }
    assert plain == {
        "test-web-01": "10.99.1.7/24",
        "test-web-02": "10.99.1.3/24",
        "test-web-03": "10.99.1.4/24",
        "test-db-01": "10.99.1.2/24",
    }


def test_an_existing_template_vm_is_cloned_without_a_download() -> None:
    raw = cluster_fleet()
    raw["templates"][0] = {
        **{k: v for k, v in raw["templates"][0].items() if k != "image_url"},
        "proxmox_vm_id": 9000,
        "proxmox_node": "pve-01",
    }
    built = run_program(raw, secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    assert built.of_type("proxmoxve:download/file:File") == []
    clones = [vm.inputs["clone"] for vm in vms(built).values()]
    assert {(clone["vmId"], clone["nodeName"]) for clone in clones} == {(9000, "pve-01")}, "cloned from its node"


def test_libvirt_and_proxmox_pools_in_one_fleet_each_get_their_own_resources() -> None:
    raw = cluster_fleet()
    libvirt_pool = copy.deepcopy(valid()["host_pools"][0])
    raw["host_pools"].append(libvirt_pool)
    raw["templates"].append(valid()["templates"][0])
    raw["vms"][0]["pool"], raw["vms"][0]["template"] = libvirt_pool["name"], "tiny"
    raw["vms"][0]["tags"] = {"role": "frontend"}
    raw["defaults"]["tags"].pop("backup")
    raw["vms"][1]["tags"] = {"backup": "gold"}
    built = run_program(raw, secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    assert {d.inputs["name"] for d in built.of_type("libvirt:index/domain:Domain")} == {"test-web-01", "test-web-02"}
    assert set(vms(built)) == {"test-db-01"}
    # Addresses are shown where the platform serves them: libvirt does, Proxmox VE not yet.
    inventory = built.exports["inventory"]
    assert inventory["web-01"]["addresses"] and inventory["db-01"]["addresses"] == {}
    assert built.exports["addresses"]["db-01"], "planned (and kept) all the same"


def test_a_backup_job_per_tier_with_its_vms_schedule_and_retention(built: Built) -> None:
    jobs = built.of_type("proxmoxve:backup/job:Job")
    assert [job.inputs["resourceId"] for job in jobs] == ["test-gold"]
    job = jobs[0].inputs
    assert (job["schedule"], job["storage"], job["mode"]) == ("*-*-* 01:30", "pbs", "snapshot")
    assert job["pruneBackups"] == {"keep-daily": "7"}
    machines = vms(built)
    assert sorted(job["vmids"]) == sorted(str(vm_id(built, name)) for name in machines)
    assert {vm.urn for vm in machines.values()} <= set(jobs[0].dependencies)


def test_critical_vms_are_ha_resources_that_prefer_their_node_and_go_first(built: Built) -> None:
    ha = built.of_type("proxmoxve:index/haresource:Haresource")
    db = vms(built)["test-db-01"]
    assert [resource.inputs["resourceId"] for resource in ha] == [f"vm:{vm_id(built, 'test-db-01')}"]
    assert db.urn in ha[0].dependencies, "HA depends on the VM, so a destroy removes HA first"
    group = built.of_type("proxmoxve:index/hagroup:Hagroup")[0].inputs
    assert ha[0].inputs["group"] == group["group"] == f"test-prefer-{db.inputs['nodeName']}"
    assert group["nodes"][db.inputs["nodeName"]] == 2 and sorted(group["nodes"].values()) == [1, 2]


def ha_rules_fleet() -> dict[str, Any]:
    """`cluster_fleet` on PVE 9 HA rules, with the web group critical and kept apart."""
    raw = cluster_fleet()
    raw["host_pools"][0]["proxmox"]["ha"] = "rules"
    raw["vms"][0].update({"critical": True, "anti_affinity": True})
    return raw


def test_on_ha_rules_each_critical_vm_prefers_its_node_by_a_rule_of_its_own() -> None:
    built = run_program(ha_rules_fleet(), secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    assert built.of_type("proxmoxve:index/hagroup:Hagroup") == [], "no PVE 8 HA groups"
    ha = {r.name: r for r in built.of_type("proxmoxve:index/haresource:Haresource")}
    assert set(ha) == {"test-web-01-ha", "test-web-02-ha", "test-db-01-ha"}
    assert all("group" not in resource.inputs for resource in ha.values())
    rules = {r.inputs["rule"]: r for r in built.of_type("proxmoxve:index/harule:Harule")}
    db_rule = rules["test-db-01-prefer"]
    node = vms(built)["test-db-01"].inputs["nodeName"]
    assert db_rule.inputs["type"] == "node-affinity" and db_rule.inputs["strict"] is False
    assert db_rule.inputs["resources"] == [f"vm:{vm_id(built, 'test-db-01')}"]
    assert db_rule.inputs["nodes"] == {"pve-01": 2 if node == "pve-01" else 1, "pve-02": 2 if node == "pve-02" else 1}
    assert ha["test-db-01-ha"].urn in db_rule.dependencies, "a rule names HA resources that exist"


def test_on_ha_rules_a_critical_anti_affinity_group_is_kept_apart_by_a_negative_rule() -> None:
    built = run_program(ha_rules_fleet(), secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    machines = vms(built)
    assert machines["test-web-01"].inputs["nodeName"] != machines["test-web-02"].inputs["nodeName"]
    apart = [r for r in built.of_type("proxmoxve:index/harule:Harule") if r.inputs["type"] == "resource-affinity"]
    assert [r.inputs["rule"] for r in apart] == ["test-web-apart"], "db has one VM: nothing to keep apart"
    assert apart[0].inputs["affinity"] == "negative"
    assert apart[0].inputs["resources"] == [f"vm:{vm_id(built, f'test-web-0{n}')}" for n in (1, 2)]
    ha = {r.name: r for r in built.of_type("proxmoxve:index/haresource:Haresource")}
    assert {ha["test-web-01-ha"].urn, ha["test-web-02-ha"].urn} <= set(apart[0].dependencies)


def test_on_ha_groups_a_kept_apart_group_gets_no_rule() -> None:
    raw = ha_rules_fleet()
    raw["host_pools"][0]["proxmox"]["ha"] = "groups"
    built = run_program(raw, secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    assert built.of_type("proxmoxve:index/harule:Harule") == []
    assert len(built.of_type("proxmoxve:index/hagroup:Hagroup")) == 2


def test_access_grants_become_roles_groups_and_acls_on_their_scope(built: Built) -> None:
    roles = {r.inputs["roleId"]: r.inputs["privileges"] for r in built.of_type("proxmoxve:index/roleLegacy:RoleLegacy")}
    assert roles["test-vm-user"] == ["VM.Audit", "VM.Console", "VM.PowerMgmt"]
    assert "Sys.Modify" in roles["test-infra-admin"] and not [
        p for p in roles["test-infra-admin"] if p.startswith("VM.")
    ]
    assert "Permissions.Modify" not in roles["test-vm-admin"]
    groups = {g.inputs["groupId"] for g in built.of_type("proxmoxve:index/groupLegacy:GroupLegacy")}
    assert groups == {"web-devs", "tests-ops", "infra"}
    acls = {
        (a.inputs["roleId"], a.inputs["path"], a.inputs.get("groupId") or a.inputs.get("userId"))
        for a in built.of_type("proxmoxve:index/acl:Acl")
    }
    web_paths = {f"/vms/{vm_id(built, name)}" for name in vms(built) if "-web-" in name}
    assert {(role, path, who) for role, path, who in acls if role == "test-vm-user"} == {
        ("test-vm-user", path, "web-devs") for path in web_paths
    }
    assert {(role, path, who) for role, path, who in acls if role == "test-vm-admin"} == {
        ("test-vm-admin", "/pool/test-tests", "tests-ops"),
        ("test-vm-admin", "/pool/test-tests", "ann@corp"),
    }
    assert ("test-infra-admin", "/", "infra") in acls


def test_an_sdn_segment_is_a_vnet_with_a_subnet_that_nics_attach_to() -> None:
    raw = cluster_fleet()
    raw["segments"][1]["sdn"] = True  # db, VLAN 12
    built = run_program(raw, secrets={"pve-token": TOKEN, "ops-pw": "$6$h"})
    [zone] = built.of_type("proxmoxve:sdn/zone/vlan:Vlan")
    assert zone.inputs["bridge"] == "vmbr0" and sorted(zone.inputs["nodes"]) == ["pve-01", "pve-02"]
    assert len(zone.inputs["resourceId"]) <= 8
    [vnet] = built.of_type("proxmoxve:sdn/vnet:Vnet")
    assert vnet.inputs["tag"] == 12 and vnet.inputs["zone"] == zone.inputs["resourceId"]
    assert vnet.inputs["alias"] == "test-db" and len(vnet.inputs["resourceId"]) <= 8
    [subnet] = built.of_type("proxmoxve:sdn/subnet:Subnet")
    assert (subnet.inputs["cidr"], subnet.inputs["gateway"]) == ("10.99.2.0/24", "10.99.2.1")
    [applier] = built.of_type("proxmoxve:sdn/applier:Applier")
    assert {vnet.urn, subnet.urn, zone.urn} <= set(applier.dependencies)
    nics = vms(built)["test-db-01"].inputs["networkDevices"]
    assert nics[0] == {"bridge": vnet.inputs["resourceId"], "firewall": True}, "the VNet tags; the NIC does not"
    assert nics[1] == {"bridge": "vmbr0", "firewall": True}
