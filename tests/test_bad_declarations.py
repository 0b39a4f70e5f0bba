"""A catalogue of bad declarations: each is one mutation of the valid test declaration, and each must
be refused by `vmfleet.load.plan` (so before any resource is registered) with a problem at its config
path, naming the group or item, showing the value found and saying what is wrong.

The base declaration passes with the same arguments (`test_the_base_declaration_passes`), so every
problem below comes from its mutation; remove a rule and its case fails.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from tests.declarations import valid
from tests.harness import last_registrations, run_program
from tests.images import make_image
from vmfleet.images import virtual_size
from vmfleet.load import FleetPlan, plan
from vmfleet.problems import FleetDeclarationError

SECRET_KEYS = frozenset({"ops-password", "pve-token"})
"""The stack config keys the catalogue treats as secrets."""


@dataclass(frozen=True)
class Images:
    """Real image files for the image cases, made with qemu-img."""

    one_gib: str
    big: str
    raw_disk: str
    directory: str
    missing: str


Value = Any | Callable[[Images], Any]
Mutation = Callable[[dict[str, Any], Images], Any]


def _resolve(value: Value, images: Images) -> Any:
    return value(images) if callable(value) else copy.deepcopy(value)


def _parent(raw: Any, location: Sequence[int | str]) -> Any:
    for part in location[:-1]:
        raw = raw[part]
    return raw


def put(*location: int | str, value: Value) -> Mutation:
    """Set the value at `location` (adding the key when absent)."""

    def mutate(raw: dict[str, Any], images: Images) -> Any:
        _parent(raw, location)[location[-1]] = _resolve(value, images)
        return raw

    return mutate


def drop(*location: int | str) -> Mutation:
    """Remove the key or list item at `location`."""

    def mutate(raw: dict[str, Any], images: Images) -> Any:
        del _parent(raw, location)[location[-1]]
        return raw

    return mutate


def append(*location: int | str, item: Value) -> Mutation:
    """Append `item` to the list at `location`."""

    def mutate(raw: dict[str, Any], images: Images) -> Any:
        _parent(raw, (*location, "end")).append(_resolve(item, images))
        return raw

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(raw: dict[str, Any], images: Images) -> Any:
        for mutation in mutations:
            raw = mutation(raw, images)
        return raw

    return mutate


@dataclass(frozen=True)
class Bad:
    """One bad declaration and what its error must say."""

    id: str
    mutate: Mutation
    path: str
    words: tuple[str, ...]
    found: Value = None
    """Text of the value found, as the message shows it (None: nothing was found, e.g. a missing key)."""
    previously_protected: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.id


HOST_3 = {
    "name": "h3",
    "uri": "qemu+ssh://h3.example.com/system",
    "cpu_cores": 2,
    "memory_mib": 2048,
    "storage_dir": "/x",
}
OPS_WITH_PASSWORD = {"users": [{"name": "ops", "password_secret": "ops-plain"}]}
PROXMOX_POOL = {
    "name": "pve",
    "platform": "proxmox",
    "proxmox": {"endpoint": "https://pve-01.example.com:8006/", "api_token_secret": "pve-token"},
    "hosts": [{"name": "pve-01", "cpu_cores": 16, "memory_mib": 65536}],
}
"""A Proxmox VE cluster pool the cases below break one way each (its token key is a secret)."""
GOLD = {"name": "gold", "schedule": "*-*-* 01:30", "storage": "pbs", "keep": {"daily": 7, "weekly": 4}}


CLOUD_IMAGE = {
    "name": "cloud",
    "image_url": "https://images.example.com/cloud-2026.11.qcow2",
    "os_family": "linux",
    "default_size": "nano",
    "version": "2026.11",
    "patched": "2026-11-01",
}


def on_a_cluster(raw: dict[str, Any], images: Images) -> Any:
    """Group web on the Proxmox pool from a downloaded image, in backup tier gold, db staying on
    libvirt: a valid start."""
    raw["host_pools"].append(copy.deepcopy(PROXMOX_POOL))
    raw["templates"].append(copy.deepcopy(CLOUD_IMAGE))
    raw["backup_tiers"] = [copy.deepcopy(GOLD)]
    raw["vms"][0]["pool"] = "pve"
    raw["vms"][0]["template"] = "cloud"
    raw["vms"][0]["tags"]["backup"] = "gold"
    return raw


def on_cluster(*mutations: Mutation) -> Mutation:
    return both(on_a_cluster, *mutations)


CASES = [
    Bad(
        "sdn-segment-without-vlan",
        on_cluster(put("segments", 0, "sdn", value=True)),
        "segments[0] (web).vlan",
        ("an SDN segment (sdn: true) needs a vlan",),
    ),
    Bad(
        "sdn-segment-without-a-cluster",
        put("segments", 1, "sdn", value=True),
        "segments[1] (db).sdn",
        ("needs a Proxmox VE host pool", "SDN"),
    ),
    Bad(
        "cluster-vm-on-an-unknown-node",
        on_cluster(put("vms", 0, "host", value="pve-09")),
        "vms[0] (web).host",
        ("is not a declared host of pool 'pve'", "pve-01"),
        "'pve-09'",
    ),
    Bad(
        "cluster-vm-with-packages",
        on_cluster(put("vms", 0, "cloud_init", value={"packages": ["nginx"]})),
        "vms[0] (web).cloud_init.packages",
        ("cloud-init sets one user and the network only",),
        "['nginx']",
    ),
    Bad(
        "cluster-vm-with-two-users",
        on_cluster(put("vms", 0, "cloud_init", value={"users": [{"name": "ops"}, {"name": "dev"}]})),
        "vms[0] (web).cloud_init.users",
        ("sets one user",),
    ),
    Bad(
        "cluster-vm-without-backup-tier",
        on_cluster(drop("vms", 0, "tags", "backup")),
        "vms[0] (web).tags.backup",
        ("every VM on a cluster belongs to a backup tier", "gold"),
    ),
    Bad(
        "backup-tier-unknown",
        on_cluster(put("vms", 0, "tags", "backup", value="platinum")),
        "vms[0] (web).tags.backup",
        ("not a declared backup tier",),
        "'platinum'",
    ),
    Bad(
        "no-backup-without-justification",
        on_cluster(put("vms", 0, "tags", "backup", value="none")),
        "vms[0] (web).tags.backup_justification",
        ("needs this tag to say why",),
    ),
    Bad(
        "backup-tier-on-libvirt",
        on_cluster(put("vms", 1, "tags", value={"backup": "gold"})),
        "vms[1] (db).tags.backup",
        ("needs a Proxmox VE host pool",),
        "'gold'",
    ),
    Bad(
        "critical-on-libvirt",
        on_cluster(put("vms", 1, "critical", value=True)),
        "vms[1] (db).critical",
        ("needs a Proxmox VE host pool", "HA"),
    ),
    Bad(
        "backup-tier-named-none",
        on_cluster(append("backup_tiers", item={**GOLD, "name": "none"})),
        "backup_tiers[1] (none).name",
        ("reserved for VMs without backups",),
        "'none'",
    ),
    Bad(
        "backup-tier-keeps-nothing",
        on_cluster(put("backup_tiers", 0, "keep", value={})),
        "backup_tiers[0] (gold).keep",
        ("must keep backups",),
    ),
    Bad(
        "cluster-vm-from-a-local-file",
        on_cluster(put("vms", 0, "template", value="tiny")),
        "templates[0] (tiny).image_path",
        ("downloads its image itself", "image_url"),
    ),
    Bad(
        "libvirt-vm-from-a-proxmox-template",
        on_cluster(
            append(
                "templates",
                item={
                    **{k: v for k, v in CLOUD_IMAGE.items() if k != "image_url"},
                    "name": "golden",
                    "proxmox_vm_id": 9000,
                    "proxmox_node": "pve-01",
                },
            ),
            put("vms", 1, "template", value="golden"),
        ),
        "templates[2] (golden).proxmox_vm_id",
        ("needs an image",),
        "9000",
    ),
    Bad(
        "proxmox-template-on-an-unknown-node",
        on_cluster(
            append(
                "templates",
                item={
                    **{k: v for k, v in CLOUD_IMAGE.items() if k != "image_url"},
                    "name": "golden",
                    "proxmox_vm_id": 9000,
                    "proxmox_node": "pve-09",
                },
            ),
        ),
        "templates[2] (golden).proxmox_node",
        ("is not a node of a Proxmox VE pool",),
        "'pve-09'",
    ),
    Bad(
        "backup-tiers-without-a-cluster",
        put("backup_tiers", value=[GOLD]),
        "backup_tiers",
        ("needs a Proxmox VE host pool",),
    ),
    Bad(
        "access-without-a-cluster",
        put("access", value=[{"role": "infra-admin", "groups": ["infra"]}]),
        "access",
        ("needs a Proxmox VE host pool",),
    ),
    Bad(
        "vm-user-without-scope",
        on_cluster(put("access", value=[{"role": "vm-user", "groups": ["devs"]}])),
        "access[0] (vm-user)",
        ("needs a scope", "projects or vm_groups"),
    ),
    Bad(
        "vm-admin-given-vm-groups",
        on_cluster(put("access", value=[{"role": "vm-admin", "groups": ["ops"], "vm_groups": ["web"]}])),
        "access[0] (vm-admin).vm_groups",
        ("is not given by vm_groups", "use projects"),
    ),
    Bad(
        "access-unknown-project",
        on_cluster(put("access", value=[{"role": "vm-admin", "groups": ["ops"], "projects": ["billing"]}])),
        "access[0] (vm-admin).projects[0]",
        ("is not a project of this fleet", "tests"),
        "'billing'",
    ),
    Bad(
        "access-unknown-vm-group",
        on_cluster(put("access", value=[{"role": "vm-user", "groups": ["devs"], "vm_groups": ["cache"]}])),
        "access[0] (vm-user).vm_groups[0]",
        ("is not a VM group of this fleet",),
        "'cache'",
    ),
    Bad(
        "access-for-nobody",
        on_cluster(put("access", value=[{"role": "security-admin"}])),
        "access[0] (security-admin)",
        ("needs groups or users",),
    ),
    Bad(
        "infra-admin-given-projects",
        on_cluster(put("access", value=[{"role": "infra-admin", "groups": ["infra"], "projects": ["tests"]}])),
        "access[0] (infra-admin).projects",
        ("applies to the whole cluster",),
    ),
    Bad(
        "platform-unknown",
        put("host_pools", 0, "platform", value="vmware"),
        "host_pools[0] (pool-a).platform",
        ("platform must be one of libvirt, proxmox",),
        "'vmware'",
    ),
    Bad(
        "proxmox-without-endpoint",
        append("host_pools", item={**PROXMOX_POOL, "proxmox": {"api_token_secret": "pve-token"}}),
        "host_pools[1] (pve).proxmox.endpoint",
        ("required key is missing",),
    ),
    Bad(
        "proxmox-endpoint-not-https",
        append(
            "host_pools",
            item={**PROXMOX_POOL, "proxmox": {"endpoint": "http://pve-01:8006/", "api_token_secret": "pve-token"}},
        ),
        "host_pools[1] (pve).proxmox.endpoint",
        ("expected text matching",),
        "'http://pve-01:8006/'",
    ),
    Bad(
        "proxmox-token-not-a-secret",
        append(
            "host_pools",
            item={
                **PROXMOX_POOL,
                "proxmox": {"endpoint": "https://pve-01.example.com:8006/", "api_token_secret": "pve-plain"},
            },
        ),
        "host_pools[1] (pve).proxmox.api_token_secret",
        ("is not a secret", "pulumi config set --secret pve-plain"),
        "'pve-plain'",
    ),
    Bad(
        "proxmox-node-with-a-libvirt-key",
        append(
            "host_pools",
            item={**PROXMOX_POOL, "hosts": [{"name": "pve-01", "cpu_cores": 16, "memory_mib": 65536, "uri": "x"}]},
        ),
        "host_pools[1] (pve).hosts[0] (pve-01).uri",
        ("unknown key",),
    ),
    Bad(
        "proxmox-clone-mode-unknown",
        append(
            "host_pools",
            item={
                **PROXMOX_POOL,
                "proxmox": {**PROXMOX_POOL["proxmox"], "clone": "snapshot"},  # type: ignore[dict-item]
            },
        ),
        "host_pools[1] (pve).proxmox.clone",
        ("'linked' or 'full'",),
        "'snapshot'",
    ),
    # shape: unknown keys, types, ranges, enumerations, patterns --------------------------------------
    Bad("not-a-mapping", lambda raw, images: ["web", "db"], "(top level)", ("expected a mapping of sections",), "list"),
    Bad("unknown-top-level-key", put("colour", value="blue"), "colour", ("unknown key", "a typo?")),
    Bad("unknown-key-in-group", put("vms", 1, "segmnts", value=["web"]), "vms[1] (db).segmnts", ("unknown key",)),
    Bad(
        "unknown-key-in-host",
        put("host_pools", 0, "hosts", 1, "ram", value=4),
        "host_pools[0] (pool-a).hosts[1] (h2).ram",
        ("unknown key",),
    ),
    Bad(
        "cores-not-a-number",
        put("host_pools", 0, "hosts", 0, "cpu_cores", value="many"),
        "host_pools[0] (pool-a).hosts[0] (h1).cpu_cores",
        ("valid integer",),
        "'many'",
    ),
    Bad("count-not-a-number", put("vms", 1, "count", value="three"), "vms[1] (db).count", ("integer",), "'three'"),
    Bad("missing-os-family", drop("templates", 0, "os_family"), "templates[0] (tiny).os_family", ("required key",)),
    Bad("missing-pool", drop("vms", 0, "pool"), "vms[0] (web).pool", ("required key is missing",)),
    Bad(
        "negative-count", put("vms", 0, "count", value=-1), "vms[0] (web).count", ("greater than or equal to 0",), "-1"
    ),
    Bad(
        "count-beyond-9999",
        put("vms", 0, "count", value=10000),
        "vms[0] (web).count",
        ("less than or equal to 9999",),
        "10000",
    ),
    Bad("size-without-vcpus", put("sizes", 0, "vcpus", value=0), "sizes[0] (nano).vcpus", ("greater than",), "0"),
    Bad(
        "size-memory-too-small",
        put("sizes", 1, "memory_mib", value=32),
        "sizes[1] (small).memory_mib",
        ("greater than or equal to 64",),
        "32",
    ),
    Bad(
        "overcommit-too-high",
        put("host_pools", 0, "cpu_overcommit", value=64),
        "host_pools[0] (pool-a).cpu_overcommit",
        ("less than or equal to 32",),
        "64",
    ),
    Bad(
        "segment-mode-unknown",
        put("segments", 0, "mode", value="bridged"),
        "segments[0] (web).mode",
        ("'isolated', 'nat' or 'routed'",),
        "'bridged'",
    ),
    Bad(
        "os-family-unknown",
        put("templates", 0, "os_family", value="plan9"),
        "templates[0] (tiny).os_family",
        ("'linux', 'bsd' or 'windows'",),
        "'plan9'",
    ),
    Bad(
        "domain-type-unknown",
        put("host_pools", 0, "hosts", 1, "domain_type", value="xen"),
        "host_pools[0] (pool-a).hosts[1] (h2).domain_type",
        ("'kvm', 'qemu' or 'auto'",),
        "'xen'",
    ),
    Bad(
        "protocol-unknown",
        put("firewalls", 0, "ingress", 0, "protocol", value="sctp"),
        "firewalls[0] (web).ingress[0].protocol",
        ("'tcp', 'udp', 'icmp' or 'all'",),
        "'sctp'",
    ),
    Bad(
        "group-name-pattern",
        put("vms", 0, "name", value="Web_Servers"),
        "vms[0] (Web_Servers).name",
        ("expected text matching",),
        "'Web_Servers'",
    ),
    Bad(
        "group-name-too-long",
        put("vms", 0, "name", value="w" * 25),
        f"vms[0] ({'w' * 25}).name",
        ("at most 24 characters",),
        "'wwwww",
    ),
    Bad(
        "host-uri-not-libvirt",
        put("host_pools", 0, "hosts", 1, "uri", value="http://h2.example.com/system"),
        "host_pools[0] (pool-a).hosts[1] (h2).uri",
        ("expected text matching",),
        "'http://h2.example.com/system'",
    ),
    Bad(
        "cidr-not-an-address",
        put("segments", 1, "cidr", value="10.99.300.0/24"),
        "segments[1] (db).cidr",
        ("IPv4 network",),
        "'10.99.300.0/24'",
    ),
    Bad(
        "cidr-too-small",
        put("segments", 0, "cidr", value="10.99.1.0/30"),
        "segments[0] (web)",
        ("use a /29 or larger network",),
        "found cidr 10.99.1.0/30",
    ),
    Bad(
        "vlan-out-of-range",
        put("segments", 1, "vlan", value=5000),
        "segments[1] (db).vlan",
        ("less than or equal to 4094",),
        "5000",
    ),
    Bad(
        "port-range-backwards",
        put("firewalls", 0, "ingress", 0, "ports", value=["80", "9000-80"]),
        "firewalls[0] (web).ingress[0]",
        ("must lie within 1-65535, low to high",),
        "'9000-80'",
    ),
    Bad(
        "ports-on-icmp",
        put("firewalls", 1, "ingress", 0, "protocol", value="icmp"),
        "firewalls[1] (db).ingress[0]",
        ("ports only apply to tcp and udp",),
        "found ports ['5432'] with protocol 'icmp'",
    ),
    Bad(
        "two-image-sources",
        put("templates", 0, "image_url", value="https://images.example.com/tiny.qcow2"),
        "templates[0] (tiny)",
        ("give exactly one of image_path",),
        "found image_path '/",
    ),
    Bad(
        "template-version-pattern",
        put("templates", 0, "version", value="1.0 beta"),
        "templates[0] (tiny).version",
        ("expected text matching",),
        "'1.0 beta'",
    ),
    Bad(
        "template-patched-not-a-date",
        put("templates", 0, "patched", value="yesterday"),
        "templates[0] (tiny).patched",
        ("valid date",),
        "'yesterday'",
    ),
    Bad("name-prefix-pattern", put("name_prefix", value="Dev"), "name_prefix", ("expected text matching",), "'Dev'"),
    Bad("environment-pattern", put("environment", value="Test"), "environment", ("expected text matching",), "'Test'"),
    Bad(
        "user-name-pattern",
        put("vms", 0, "cloud_init", value={"users": [{"name": "Root"}]}),
        "vms[0] (web).cloud_init.users[0] (Root).name",
        ("expected text matching",),
        "'Root'",
    ),
    # references -------------------------------------------------------------------------------------
    Bad(
        "dangling-pool",
        put("vms", 0, "pool", value="pool-z"),
        "vms[0] (web).pool",
        ("is not a declared host pool", "declared: pool-a"),
        "'pool-z'",
    ),
    Bad(
        "dangling-template",
        put("vms", 1, "template", value="golden"),
        "vms[1] (db).template",
        ("is not a declared template", "declared: tiny"),
        "'golden'",
    ),
    Bad(
        "dangling-size",
        put("vms", 1, "size", value="huge"),
        "vms[1] (db).size",
        ("is not a declared size", "declared: big, nano, small"),
        "'huge'",
    ),
    Bad(
        "dangling-segment",
        put("vms", 1, "segments", value=["db", "dmz"]),
        "vms[1] (db).segments[1]",
        ("is not a declared segment", "declared: db, web"),
        "'dmz'",
    ),
    Bad(
        "dangling-host",
        put("vms", 0, "host", value="h9"),
        "vms[0] (web).host",
        ("is not a declared host of pool 'pool-a'", "declared: h1, h2"),
        "'h9'",
    ),
    Bad(
        "dangling-default-size",
        put("templates", 0, "default_size", value="jumbo"),
        "templates[0] (tiny).default_size",
        ("is not a declared size",),
        "'jumbo'",
    ),
    Bad(
        "dangling-firewall-segment",
        put("firewalls", 0, "segment", value="dmz"),
        "firewalls[0] (dmz).segment",
        ("is not a declared segment",),
        "'dmz'",
    ),
    Bad(
        "dangling-firewall-peer",
        put("firewalls", 1, "ingress", 0, "peer", value="frontend"),
        "firewalls[1] (db).ingress[0].peer",
        ("expected 'any', an IPv4 CIDR", "a declared segment (db, web)"),
        "'frontend'",
    ),
    Bad(
        "segment-listed-twice",
        put("vms", 0, "segments", value=["web", "web"]),
        "vms[0] (web).segments[1]",
        ("is listed twice",),
        "'web'",
    ),
    # duplicates and overlaps ----------------------------------------------------------------------
    Bad(
        "duplicate-pool-name",
        append("host_pools", item={"name": "pool-a", "hosts": [HOST_3]}),
        "host_pools[1] (pool-a).name",
        ("is already used by host_pools[0] (pool-a)", "host pool names must be unique"),
        "'pool-a'",
    ),
    Bad(
        "duplicate-host-name",
        append("host_pools", 0, "hosts", item={**HOST_3, "name": "h1"}),
        "host_pools[0] (pool-a).hosts[2] (h1).name",
        ("is already used by host_pools[0] (pool-a).hosts[0] (h1)", "host names must be unique"),
        "'h1'",
    ),
    Bad(
        "duplicate-host-uri",
        append("host_pools", 0, "hosts", item={**HOST_3, "uri": "qemu:///system"}),
        "host_pools[0] (pool-a).hosts[2] (h3).uri",
        ("is already used by host_pools[0] (pool-a).hosts[0] (h1)", "host URIs must be unique"),
        "'qemu:///system'",
    ),
    Bad(
        "duplicate-size",
        append("sizes", item={"name": "nano", "vcpus": 2, "memory_mib": 128, "disk_gib": 1}),
        "sizes[3] (nano).name",
        ("is already used by sizes[0] (nano)",),
        "'nano'",
    ),
    Bad(
        "duplicate-template",
        append("templates", item=lambda images: {**valid()["templates"][0], "image_path": images.one_gib}),
        "templates[1] (tiny).name",
        ("is already used by templates[0] (tiny)",),
        "'tiny'",
    ),
    Bad(
        "duplicate-segment",
        append("segments", item={"name": "web", "cidr": "10.98.0.0/24"}),
        "segments[2] (web).name",
        ("is already used by segments[0] (web)",),
        "'web'",
    ),
    Bad(
        "duplicate-group",
        append("vms", item={"name": "db", "pool": "pool-a", "template": "tiny", "segments": ["db"]}),
        "vms[2] (db).name",
        ("is already used by vms[1] (db)", "VM group names must be unique"),
        "'db'",
    ),
    Bad(
        "two-firewalls-for-a-segment",
        append("firewalls", item={"segment": "web"}),
        "firewalls[2] (web).segment",
        ("is already used by firewalls[0] (web)", "one firewall per segment"),
        "'web'",
    ),
    Bad(
        "overlapping-cidrs",
        put("segments", 1, "cidr", value="10.99.0.0/16"),
        "segments[1] (db).cidr",
        ("overlaps segments[0] (web) (10.99.1.0/24)", "disjoint"),
        "10.99.0.0/16",
    ),
    # tags -------------------------------------------------------------------------------------------
    Bad(
        "required-tag-missing",
        drop("defaults", "tags", "owner"),
        "vms[0] (web).tags.owner",
        ("required tag is missing", "defaults.tags"),
    ),
    Bad(
        "owner-not-an-address",
        put("vms", 0, "tags", "owner", value="alice"),
        "vms[0] (web).tags.owner",
        ("e-mail",),
        "'alice'",
    ),
    Bad(
        "owner-group-malformed",
        put("vms", 0, "tags", "owner", value="group:"),
        "vms[0] (web).tags.owner",
        ("'group:<name>'",),
        "'group:'",
    ),
    Bad(
        "cost-center-malformed",
        put("vms", 1, "tags", value={"cost_center": "marketing"}),
        "vms[1] (db).tags.cost_center",
        ("'CC-1234'",),
        "'marketing'",
    ),
    Bad(
        "expires-not-iso",
        put("vms", 0, "tags", "expires", value="31/12/2027"),
        "vms[0] (web).tags.expires",
        ("YYYY-MM-DD",),
        "'31/12/2027'",
    ),
    Bad(
        "expires-impossible-date",
        put("vms", 0, "tags", "expires", value="2027-02-30"),
        "vms[0] (web).tags.expires",
        ("not a calendar date",),
        "'2027-02-30'",
    ),
    Bad(
        "environment-tag-differs",
        put("vms", 0, "tags", "environment", value="prod"),
        "vms[0] (web).tags.environment",
        ("must equal the fleet's environment 'test'",),
        "'prod'",
    ),
    Bad(
        "tag-key-malformed",
        put("vms", 0, "tags", "Bad-Key", value="x"),
        "vms[0] (web).tags.Bad-Key",
        ("tag key 'Bad-Key' is not accepted",),
        "'x'",
    ),
    Bad("tag-empty", put("vms", 0, "tags", "note", value=" "), "vms[0] (web).tags.note", ("is empty",), "''"),
    Bad(
        "tag-too-long",
        put("vms", 0, "tags", "note", value="n" * 300),
        "vms[0] (web).tags.note",
        ("300 characters long; at most 256",),
        "'nnnn",
    ),
    Bad(
        "default-tag-malformed",
        put("defaults", "tags", "expires", value="soon"),
        "defaults.tags.expires",
        ("YYYY-MM-DD",),
        "'soon'",
    ),
    # sizes, secrets, capacity -------------------------------------------------------------------------
    Bad(
        "explicit-size-beyond-catalog",
        put("vms", 0, "resources", value={"vcpus": 8}),
        "vms[0] (web).resources.vcpus",
        ("catalog's range 1-2",),
        "found 8",
    ),
    Bad(
        "password-not-a-secret",
        put("vms", 0, "cloud_init", value=OPS_WITH_PASSWORD),
        "vms[0] (web).cloud_init.users[0] (ops).password_secret",
        ("is not a secret in this stack's config", "pulumi config set --secret ops-plain"),
        "'ops-plain'",
    ),
    Bad(
        "does-not-fit",
        put("vms", 0, "count", value=40),
        "host_pools[0] (pool-a)",
        ("cannot hold its VMs", "web-40 from vms[0] (web)", "Fix:"),
        "demand 41 vCPU",
    ),
    Bad(
        "pinned-does-not-fit",
        both(put("vms", 1, "size", value="big"), put("vms", 1, "count", value=3), put("vms", 1, "host", value="h1")),
        "host_pools[0] (pool-a)",
        ("cannot hold its VMs", "db-03 from vms[1] (db): 2 vCPU, 1024 MiB (pinned to h1)"),
        "demand 8 vCPU / 3328 MiB",
    ),
    # images -----------------------------------------------------------------------------------------
    Bad(
        "image-larger-than-disk",
        put("templates", 0, "image_path", value=lambda images: images.big),
        "vms[0] (web).size",
        ("smaller than template 'tiny''s image, which needs 3 GiB", "read", "at least 3 GiB"),
        "found a disk of 1 GiB (size 'nano')",
    ),
    Bad(
        "min-disk-larger-than-disk",
        put("templates", 0, "min_disk_gib", value=3),
        "vms[1] (db).size",
        ("needs 3 GiB (templates[0] (tiny).min_disk_gib says 3; qemu-img reads 1 GiB in",),
        "found a disk of 2 GiB (size 'small')",
    ),
    Bad(
        "image-file-missing",
        put("templates", 0, "image_path", value=lambda images: images.missing),
        "templates[0] (tiny).image_path",
        ("no such file on this machine",),
        lambda images: repr(images.missing),
    ),
    Bad(
        "image-path-is-a-directory",
        put("templates", 0, "image_path", value=lambda images: images.directory),
        "templates[0] (tiny).image_path",
        ("not a regular file",),
        lambda images: repr(images.directory),
    ),
    Bad(
        "image-not-in-declared-format",
        put("templates", 0, "image_path", value=lambda images: images.raw_disk),
        "templates[0] (tiny).image_path",
        ("cannot read it as a qcow2 image", "check image_format"),
        lambda images: repr(images.raw_disk),
    ),
    # lifecycle --------------------------------------------------------------------------------------
    Bad(
        "protected-vms-removed-with-protect-false",
        both(put("vms", 0, "count", value=0), put("vms", 0, "protect", value=False)),
        "vms[0] (web).count",
        ("web-01, web-02 of group 'web'", "protect: true", "1. keep them (count: 2)", "2. then lower count to 0"),
        "found 0",
        previously_protected=("web-01", "web-02"),
    ),
    Bad(
        "protected-group-removed",
        drop("vms", 0),
        "vms",
        ("its VMs web-01, web-02 were deployed with protect: true", "2. then remove the group"),
        "found no group 'web'",
        previously_protected=("web-01", "web-02"),
    ),
]

BY_ID = {case.id: case for case in CASES}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    directory = tmp_path_factory.mktemp("catalogue-images")
    return Images(
        one_gib=make_image(directory, "one.qcow2", "1G"),
        big=make_image(directory, "big.qcow2", "3G"),
        raw_disk=make_image(directory, "disk.raw", "1G", "raw"),
        directory=str(directory),
        missing=str(directory / "absent.qcow2"),
    )


def base(images: Images) -> dict[str, Any]:
    """The valid declaration, its template image a real 1 GiB file."""
    raw = valid()
    raw["templates"][0]["image_path"] = images.one_gib
    return raw


def plan_as_the_program_does(raw: Any, previously_protected: Sequence[str] = ()) -> FleetPlan:
    return plan(
        raw,
        source="Pulumi.test.yaml (vmfleet:fleet)",
        is_secret=SECRET_KEYS.__contains__,
        inspect_image=virtual_size,
        previously_protected=previously_protected,
    )


def test_the_catalogue_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 40
    assert len(BY_ID) == len(CASES)


def test_the_cluster_start_passes(images: Images) -> None:
    """The valid start the cluster cases break one way each."""
    raw = on_a_cluster(base(images), images)
    raw["access"] = [
        {"role": "vm-user", "groups": ["devs"], "vm_groups": ["web"]},
        {"role": "vm-admin", "groups": ["ops"], "projects": ["tests"]},
        {"role": "infra-admin", "users": ["ann@corp"]},
        {"role": "security-admin", "groups": ["secops"]},
    ]
    raw["vms"][0]["critical"] = True
    assert plan_as_the_program_does(raw).instances


def test_the_base_declaration_passes(images: Images) -> None:
    protected = sorted({vm for case in CASES for vm in case.previously_protected})
    raw = base(images)
    raw["defaults"]["protect"] = True
    raw["vms"][0]["cloud_init"] = {"users": [{"name": "ops", "password_secret": "ops-password"}]}
    result = plan_as_the_program_does(raw, previously_protected=protected)
    assert [vm.name for vm in result.instances] == ["web-01", "web-02", "db-01"]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_declaration_is_refused_at_its_path_with_the_value_found(case: Bad, images: Images) -> None:
    raw = case.mutate(base(images), images)
    with pytest.raises(FleetDeclarationError) as caught:
        plan_as_the_program_does(raw, case.previously_protected)
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert case.path in problems, f"no problem at {case.path}; got {caught.value}"
    message = problems[case.path]
    for word in case.words:
        assert word in message, f"{word!r} not in {case.path}: {message}"
    found = _resolve(case.found, images)
    if found is not None:
        assert found in message, f"the value found ({found}) is not shown: {message}"


THROUGH_THE_PROGRAM = [
    "cores-not-a-number",
    "dangling-template",
    "duplicate-host-uri",
    "cost-center-malformed",
    "password-not-a-secret",
    "does-not-fit",
    "image-larger-than-disk",
    "image-file-missing",
    "protected-vms-removed-with-protect-false",
]


@pytest.mark.parametrize("case_id", THROUGH_THE_PROGRAM)
def test_the_program_registers_nothing_and_shows_no_traceback(case_id: str, images: Images) -> None:
    case = BY_ID[case_id]
    raw = case.mutate(base(images), images)
    previous = {"protected": list(case.previously_protected)} if case.previously_protected else None
    with pytest.raises(pulumi.RunError) as caught:
        run_program(raw, keep_image_paths=True, previous_outputs=previous)
    text = str(caught.value)
    assert text.startswith("Pulumi.test.yaml (vmfleet:fleet) has ")
    assert f"  - {case.path}: " in text
    assert "Traceback" not in text and 'File "' not in text
    assert last_registrations() == [], "refused before the first resource registers"
