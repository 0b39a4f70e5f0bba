"""Components under Pulumi mocks: what each creates, with which key properties, names and parents."""

from __future__ import annotations

import base64
import json
import subprocess
from xml.etree import ElementTree as ET

import pytest

from tests.declarations import valid
from tests.harness import Built, Registration, build_fleet, is_secret
from vmfleet import metadata

DOMAIN = "libvirt:index/domain:Domain"
PROVIDER = "pulumi:providers:libvirt"
DYNAMIC = "pulumi-python:dynamic:Resource"


def of_kind(built: Built, state_name: str) -> list[Registration]:
    """Dynamic resources served by the provider registered under `state_name` (state_registry)."""

    def provider(registration: Registration) -> bytes:
        recorded = registration.inputs["__provider"]  # the SDK marks it secret
        return base64.b64decode(recorded["value"] if isinstance(recorded, dict) else recorded)

    return [r for r in built.of_type(DYNAMIC) if state_name.encode() in provider(r)]


@pytest.fixture(scope="module")
def built() -> Built:
    # Three VMs over two hosts: web-01 on h1, web-02 on h2, db-01 (segments db, web) on h1.
    return build_fleet(valid())


def test_component_tree_and_type_tokens(built: Built) -> None:
    fleet = built.named("fleet")
    assert fleet.type == "vmfleet:fleet:Fleet" and not fleet.custom
    children = {(r.type, r.name) for r in built.children_of(fleet)}
    assert children == {
        ("vmfleet:fleet:HostPool", "fleet-pool-a"),
        ("vmfleet:fleet:VmTemplate", "fleet-tiny"),
        ("vmfleet:network:NetworkSegment", "fleet-web"),
        ("vmfleet:network:NetworkSegment", "fleet-db"),
        ("vmfleet:network:Firewall", "fleet-web-firewall"),
        ("vmfleet:network:Firewall", "fleet-db-firewall"),
        ("vmfleet:compute:TaggedVm", "fleet-web-01"),
        ("vmfleet:compute:TaggedVm", "fleet-web-02"),
        ("vmfleet:compute:TaggedVm", "fleet-db-01"),
    }


def test_every_provider_resource_has_a_component_parent(built: Built) -> None:
    for registration in built.registrations:
        if registration.type == "vmfleet:fleet:Fleet":
            continue
        assert registration.parent_type.startswith("vmfleet:"), f"{registration.urn} is not under a component"


def test_host_pool_makes_a_provider_and_a_storage_pool_per_host(built: Built) -> None:
    providers = {r.name: r for r in built.of_type(PROVIDER)}
    assert set(providers) == {"test-h1", "test-h2"}
    assert providers["test-h2"].inputs["uri"] == "qemu+ssh://ops@h2.example.com/system"
    pools = of_kind(built, "libvirt/storage-pool")
    assert {(p.name, p.inputs["uri"]) for p in pools} == {
        ("test-h1-storage", "qemu:///system"),
        ("test-h2-storage", "qemu+ssh://ops@h2.example.com/system"),
    }
    assert {p.inputs["path"] for p in pools} == {"/var/lib/vmfleet-test"}
    assert {p.inputs["name"] for p in pools} == {"test-vmfleet"}
    assert all(p.inputs["active"] and p.inputs["autostart"] for p in pools), "drift to stopped is a change"
    assert all(p.parent_type == "vmfleet:fleet:HostPool" for p in pools + list(providers.values()))


def test_template_is_one_base_image_per_host_that_uses_it(built: Built) -> None:
    bases = of_kind(built, "libvirt/base-image")
    assert sorted(v.name for v in bases) == ["test-h1-tiny", "test-h2-tiny"]
    for base in bases:
        assert base.inputs["source"] == "/images/tiny.qcow2"
        assert base.inputs["name"] == "test-tiny-1.0.qcow2"
        assert base.inputs["format"] == "qcow2"
        assert base.parent_type == "vmfleet:fleet:VmTemplate"
    h1 = built.named("test-h1-tiny")
    assert built.named("test-h1-storage").urn in h1.dependencies, "the image goes into the host's pool"


def test_vm_disk_is_a_copy_on_write_clone_of_its_hosts_base_image(built: Built) -> None:
    disk = built.named("test-db-01-disk")
    assert disk in of_kind(built, "libvirt/disk")
    assert disk.inputs["base"] == "test-h1-tiny-id", "db-01 runs on h1, so it clones h1's base image"
    assert disk.inputs["base_format"] == "qcow2"
    assert disk.inputs["size"] == 2 * 1024**3, "the small size has a 2 GiB disk"
    assert disk.inputs["uri"] == "qemu:///system"
    assert built.named("test-web-02-disk").inputs["base"] == "test-h2-tiny-id"


def test_uploads_go_through_our_own_connections_not_the_domain_provider(built: Built) -> None:
    """The Domain provider's go-libvirt client deadlocks on streams; no upload goes through it."""
    assert not [r for r in built.registrations if r.type.startswith("libvirt:") and r.type != DOMAIN]
    isos = of_kind(built, "libvirt/cloud-init-disk")
    assert sorted(r.name for r in isos) == ["test-db-01-cloudinit", "test-web-01-cloudinit", "test-web-02-cloudinit"]
    first, second = built.named("test-web-01-cloudinit"), built.named("test-db-01-cloudinit")
    assert first.urn not in second.dependencies and second.urn not in first.dependencies, "uploads run in parallel"


def test_segments_get_a_network_only_on_hosts_with_their_vms(built: Built) -> None:
    networks = {n.name: n for n in of_kind(built, "libvirt/network")}
    assert set(networks) == {"test-h1-web", "test-h2-web", "test-h1-db"}
    db = networks["test-h1-db"]
    assert db.inputs["mode"] == "nat"
    assert db.inputs["cidr"] == "10.99.2.0/24"
    assert db.inputs["name"] == "test-db"
    assert db.inputs["dhcp"] is True
    assert len(db.inputs["bridge"]) <= 15
    assert networks["test-h1-web"].inputs["mode"] == "none", "isolated segments have no forwarding"


def test_domain_sizing_and_interfaces(built: Built) -> None:
    domain = built.named("test-db-01")
    assert domain.type == DOMAIN
    assert domain.inputs["vcpu"] == 1 and domain.inputs["memory"] == 256
    assert domain.inputs["type"] == "qemu"
    assert domain.inputs["name"] == "test-db-01"
    assert domain.inputs["disks"] == [{"volumeId": "test-db-01-disk-id"}]
    assert domain.inputs["cloudinit"] == "test-db-01-cloudinit-id"
    nics = domain.inputs["networkInterfaces"]
    assert [nic["networkName"] for nic in nics] == ["test-db", "test-web"]
    assert [nic["networkId"] for nic in nics] == ["test-h1-db-id", "test-h1-web-id"], "a replaced network replaces"
    assert domain.parent_type == "vmfleet:compute:TaggedVm"
    network_urns = {built.named("test-h1-db").urn, built.named("test-h1-web").urn}
    assert network_urns <= set(domain.dependencies), "interfaces use the networks' ids, so the domain waits for them"


def test_firewall_is_an_nwfilter_attached_to_each_interface(built: Built) -> None:
    filters = {r.name: r for r in built.of_type(DYNAMIC) if r.name.endswith("-nwfilter")}
    assert set(filters) == {"test-h1-web-nwfilter", "test-h2-web-nwfilter", "test-h1-db-nwfilter"}
    db_filter = filters["test-h1-db-nwfilter"]
    assert db_filter.inputs["name"] == "test-db-fw"
    assert db_filter.inputs["uri"] == "qemu:///system"
    rules = ET.fromstring(db_filter.inputs["xml"]).findall("rule")
    allowed = [r for r in rules if r.get("action") == "accept" and r.get("priority") == "200"]
    assert allowed[0][0].attrib == {
        "srcipaddr": "10.99.1.0",
        "srcipmask": "24",
        "dstportstart": "5432",
        "dstportend": "5432",
    }, "the peer segment 'web' is resolved to its CIDR"
    assert db_filter.parent_type == "vmfleet:network:Firewall"

    domain = built.named("test-db-01")
    xslt = domain.inputs["xml"]["xslt"]
    assert "source/@network='test-db'" in xslt and 'filter="test-db-fw"' in xslt
    assert "source/@network='test-web'" in xslt and 'filter="test-web-fw"' in xslt
    assert {filters["test-h1-db-nwfilter"].urn, filters["test-h1-web-nwfilter"].urn} <= set(domain.dependencies)


def test_tags_are_plain_metadata_on_the_domain_and_written_to_the_host(built: Built) -> None:
    domain = built.named("test-web-01")
    document = metadata.parse(domain.inputs["metadata"])
    assert document is not None
    assert document["tags"] == {
        "cost_center": "CC-1234",
        "environment": "test",
        "expires": "2027-01-31",
        "owner": "owner@example.com",
        "project": "tests",
        "role": "frontend",
    }
    assert (document["size"], document["template"], document["host"]) == ("nano", "tiny", "h1")
    assert document["segments"] == ["web"]
    assert "owner@example.com" not in domain.inputs["description"], "description changes replace the VM"

    host_tags = built.named("test-web-01-tags")
    assert host_tags.type == DYNAMIC
    assert host_tags.inputs["tags"] == document["tags"]
    assert host_tags.inputs["domain"] == "test-web-01"
    assert host_tags.inputs["domain_id"] == "test-web-01-id"
    assert domain.urn in host_tags.dependencies


def test_cloud_init_without_secrets_is_plain(built: Built) -> None:
    disk = built.named("test-web-01-cloudinit")
    assert disk in of_kind(built, "libvirt/cloud-init-disk")
    assert disk.inputs["user_data"].startswith("#cloud-config\n")
    assert "hostname: web-01" in disk.inputs["user_data"]
    assert "instance-id: web-01-1.0" in disk.inputs["meta_data"]


def test_cloud_init_with_a_password_stays_secret() -> None:
    raw = valid()
    raw["vms"][0]["cloud_init"] = {
        "users": [
            {"name": "ops", "sudo": True, "ssh_authorized_keys": ["ssh-ed25519 AAAA ops"], "password_secret": "ops-pw"}
        ]
    }
    built = build_fleet(raw)
    user_data = built.named("test-web-01-cloudinit").inputs["user_data"]
    assert is_secret(user_data), "user-data holding a password hash must reach the engine as a secret"
    assert "passwd: $6$hash-of-ops-pw" in user_data["value"]
    assert "ssh-ed25519 AAAA ops" in user_data["value"]
    assert not is_secret(built.named("test-db-01-cloudinit").inputs["user_data"])


def test_protect_option_reaches_the_domain() -> None:
    raw = valid()
    raw["defaults"]["protect"] = True
    raw["vms"][1]["protect"] = False
    built = build_fleet(raw)
    assert built.named("test-web-01").protect
    assert built.named("test-web-01-disk").protect, "a protected VM's data is protected too"
    assert not built.named("test-db-01").protect
    assert not built.named("test-db-01-disk").protect


def test_name_prefix_keeps_stacks_apart() -> None:
    raw = valid()
    raw["name_prefix"] = "ci-1234"
    built = build_fleet(raw)
    assert built.named("ci-1234-web-01").inputs["name"] == "ci-1234-web-01"
    assert built.named("ci-1234-h1-web").inputs["name"] == "ci-1234-web"
    assert {p.inputs["name"] for p in of_kind(built, "libvirt/storage-pool")} == {"ci-1234-vmfleet"}


def test_components_register_outputs_once_each(built: Built) -> None:
    components = [r for r in built.registrations if not r.custom]
    assert components
    for component in components:
        assert built.outputs_registered[component.urn] == 1, component.urn


def test_inventory_and_utilization_outputs(built: Built) -> None:
    assert built.fleet is not None
    inventory = built.fleet.inventory
    assert inventory["db-01"] == {
        "host": "h1",
        "pool": "pool-a",
        "segments": ["db", "web"],
        "addresses": {
            "db": {"address": "10.99.2.2", "fqdn": "db-01.db.test.vmfleet.internal"},
            "web": {"address": "10.99.1.4", "fqdn": "db-01.web.test.vmfleet.internal"},
        },
        "firewalled_segments": ["db", "web"],
        "size": "small",
        "vcpus": 1,
        "memory_mib": 256,
        "disk_gib": 2,
        "template": "tiny",
        "template_version": "1.0",
        "tags": {
            "environment": "test",
            "owner": "owner@example.com",
            "project": "tests",
            "cost_center": "CC-1234",
            "expires": "2027-01-31",
        },
        "expires": "2027-01-31",
        "retired": None,
    }
    assert built.fleet.utilization["fleet"]["vms"] == 3
    json.dumps(built.fleet.inventory), "outputs are plain JSON values"


def test_previous_placement_is_read_from_the_stack_outputs() -> None:
    built = build_fleet(valid(), previous_outputs={"placement": {"web-01": "h2", "web-02": "h1", "db-01": "h2"}})
    assert built.fleet is not None
    assert {vm: item["host"] for vm, item in built.fleet.inventory.items()} == {
        "web-01": "h2",
        "web-02": "h1",
        "db-01": "h2",
    }


def test_domain_stylesheet_really_adds_filterref_and_console_log_with_xsltproc(built: Built) -> None:
    """The provider runs xsltproc on the domain XML; run the same transform on a sample domain."""
    domain_xml = """<domain type='qemu'><name>test-db-01</name><devices>
      <interface type='network'><source network='test-db'/></interface>
      <interface type='network'><source network='test-web'/></interface>
      <interface type='network'><source network='other'/></interface>
      <console type='pty'><target type='serial' port='0'/></console>
    </devices></domain>"""
    xslt = built.named("test-db-01").inputs["xml"]["xslt"]
    result = _xsltproc(xslt, domain_xml)
    interfaces = ET.fromstring(result).findall("./devices/interface")
    refs = [(i.find("source").get("network"), i.find("filterref")) for i in interfaces]  # type: ignore[union-attr]
    assert [(net, ref.get("filter") if ref is not None else None) for net, ref in refs] == [
        ("test-db", "test-db-fw"),
        ("test-web", "test-web-fw"),
        ("other", None),
    ]
    console = ET.fromstring(result).find("./devices/console")
    assert console is not None and console.get("type") == "pty"
    assert [(child.tag, dict(child.attrib)) for child in console] == [
        ("log", {"file": "/var/log/libvirt/qemu/test-db-01-console.log", "append": "on"}),
        ("target", {"type": "serial", "port": "0"}),
    ]


def _xsltproc(stylesheet: str, document: str, tmp: str = "/tmp") -> str:
    import tempfile

    with tempfile.TemporaryDirectory(dir=tmp) as folder:
        sheet, doc = f"{folder}/t.xsl", f"{folder}/d.xml"
        with open(sheet, "w") as handle:
            handle.write(stylesheet)
        with open(doc, "w") as handle:
            handle.write(document)
        return subprocess.run(["xsltproc", sheet, doc], check=True, capture_output=True, text=True).stdout
