"""VM addresses (vmfleet/addressing.py), the segment room check, and how libvirt serves them
(network DHCP ranges, reservation XML, MACs)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from backends.libvirt import names
from backends.libvirt.network import network_xml
from backends.libvirt.reservation import dhcp_host_xml, dns_host_xml, reservation_facts
from tests.declarations import valid
from tests.harness import build_fleet, run_program
from vmfleet import addressing
from vmfleet.load import parse, plan
from vmfleet.problems import FleetDeclarationError
from vmfleet.spec import Segment


def addresses_of(raw: dict[str, Any], previous: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    return plan(raw, previous_addresses=previous).address_texts()


def test_each_vm_gets_the_lowest_free_address_of_each_segment_after_the_gateway() -> None:
    assert addresses_of(valid()) == {
        "web-01": {"web": "10.99.1.2"},
        "web-02": {"web": "10.99.1.3"},
        "db-01": {"db": "10.99.2.2", "web": "10.99.1.4"},
    }


def test_growing_a_group_never_renumbers_a_vm() -> None:
    first = addresses_of(valid())
    grown = valid()
    grown["vms"][0]["count"] = 4  # web-03 and web-04 join; db-01 keeps 10.99.1.4
    after = addresses_of(grown, first)
    assert {vm: after[vm] for vm in first} == first
    assert (after["web-03"], after["web-04"]) == ({"web": "10.99.1.5"}, {"web": "10.99.1.6"})
    # Without the previous addresses the plan would have renumbered db-01: stickiness is what keeps it.
    assert addresses_of(grown)["db-01"]["web"] == "10.99.1.6"


def test_a_freed_address_is_reused_and_a_kept_one_that_is_now_reserved_moves() -> None:
    first = addresses_of(valid())
    shrunk = valid()
    shrunk["vms"][0]["count"] = 1
    assert addresses_of(shrunk, first) == {
        "web-01": {"web": "10.99.1.2"},
        "db-01": {"db": "10.99.2.2", "web": "10.99.1.4"},
    }
    reserved = valid()
    reserved["segments"][0]["reserved"] = ["10.99.1.2-10.99.1.3"]
    moved = addresses_of(reserved, first)
    assert moved["db-01"]["web"] == "10.99.1.4"  # kept: not reserved
    assert (moved["web-01"], moved["web-02"]) == ({"web": "10.99.1.5"}, {"web": "10.99.1.6"})


def test_previous_addresses_that_are_no_longer_valid_are_dropped() -> None:
    previous = {"web-01": {"web": "10.50.0.9"}, "web-02": {"web": "not an address"}, "db-01": {"web": "10.99.1.2"}}
    assert addresses_of(valid(), previous) == {
        "web-01": {"web": "10.99.1.3"},
        "web-02": {"web": "10.99.1.4"},
        "db-01": {"db": "10.99.2.2", "web": "10.99.1.2"},
    }


def test_a_segment_too_small_for_its_vms_is_refused_with_the_numbers() -> None:
    raw = valid()
    raw["segments"][0]["cidr"] = "10.99.1.0/29"
    raw["segments"][0]["reserved"] = ["10.99.1.6"]
    raw["vms"][0]["count"] = 4
    with pytest.raises(FleetDeclarationError) as raised:
        plan(raw)
    assert str(raised.value).splitlines()[1] == (
        "  - segments[0] (web).cidr: found 10.99.1.0/29: it holds 4 VM addresses (8 addresses, less the network, "
        "gateway and broadcast addresses and 1 reserved), and 5 VMs are on it (web: 4, db: 1); use a /28 or "
        "larger, or reserve fewer"
    )
    raw["vms"][0]["count"] = 3
    assert len(plan(raw).addresses) == 4


@pytest.mark.parametrize(
    ("reserved", "message"),
    [
        (["10.99.9.5"], "reserved '10.99.9.5' lies outside the segment's cidr 10.99.1.0/24"),
        (["10.99.1.1"], "reserved '10.99.1.1' holds the gateway 10.99.1.1"),
        (["10.99.1.9-10.99.1.3"], "range '10.99.1.9-10.99.1.3' runs high to low"),
        (["ten"], "'ten' is not an address or a range such as 10.77.1.200-10.77.1.254"),
    ],
)
def test_a_bad_reserved_range_names_itself(reserved: list[str], message: str) -> None:
    raw = valid()
    raw["segments"][0]["reserved"] = reserved
    with pytest.raises(FleetDeclarationError) as raised:
        plan(raw)
    assert "segments[0] (web)" in str(raised.value) and message in str(raised.value)


def test_room_counts_overlapping_reserved_ranges_once() -> None:
    segment = Segment(
        name="web", cidr=ipaddress.IPv4Network("10.0.0.0/28"), reserved=["10.0.0.5-10.0.0.8", "10.0.0.7-10.0.0.9"]
    )
    assert addressing.room(segment) == addressing.SegmentRoom(total=16, reserved=5, usable=8)
    assert [str(a) for a in addressing.vm_addresses(segment)] == [f"10.0.0.{n}" for n in (2, 3, 4, 10, 11, 12, 13, 14)]


def test_names_are_the_vm_in_its_segments_domain() -> None:
    raw = valid()
    raw["segments"][1]["dns_domain"] = "db.corp.example.com"
    fleet = parse(raw, "test")
    web, db = fleet.segments
    assert addressing.fqdn(fleet, web, "web-01") == "web-01.web.test.vmfleet.internal"
    assert addressing.fqdn(fleet, db, "db-01") == "db-01.db.corp.example.com"
    raw["dns_domain"] = "lab.example.net"
    assert addressing.fqdn(parse(raw, "test"), web, "web-01") == "web-01.web.lab.example.net"


def test_dhcp_leaves_out_the_gateway_and_the_reserved_ranges() -> None:
    xml = network_xml("n", "b", "none", "10.0.0.0/24", True, ["10.0.0.200-10.0.0.254", "10.0.0.5", "10.0.0.2"])
    assert '<range start="10.0.0.3" end="10.0.0.4" /><range start="10.0.0.6" end="10.0.0.199" />' in xml
    assert '<range start="10.0.0.2" end="10.0.0.254" />' in network_xml("n", "b", "none", "10.0.0.0/24", True)


def test_a_nic_mac_is_as_unique_as_its_address() -> None:
    assert names.mac("10.77.1.10") == "52:54:0a:4d:01:0a"
    assert names.mac("10.77.2.10") != names.mac("10.77.1.10")


def test_reservation_facts_read_back_what_the_reservation_writes() -> None:
    network = (
        "<network><dns>"
        + dns_host_xml("10.0.0.7", ["web-01.web.dev.vmfleet.internal", "web-01"])
        + "</dns><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.254'/>"
        + dhcp_host_xml("52:54:0a:00:00:07", "10.0.0.7", "web-01")
        + dhcp_host_xml("52:54:0a:00:00:08", "10.0.0.8", "web-02")
        + "</dhcp></ip></network>"
    )
    assert reservation_facts(network, "52:54:0A:00:00:07", "10.0.0.7") == {
        "dhcp": [{"mac": "52:54:0a:00:00:07", "ip": "10.0.0.7", "hostname": "web-01"}],
        "dns": [["web-01.web.dev.vmfleet.internal", "web-01"]],
    }
    assert reservation_facts(network, "52:54:0a:00:00:09", "10.0.0.9") == {"dhcp": [], "dns": []}


def test_each_nic_gets_its_mac_and_a_reservation_that_the_vm_waits_for() -> None:
    built = build_fleet(valid())
    reservations = {r.name: r.inputs for r in built.registrations if r.name.endswith("-address")}
    assert set(reservations) == {
        "test-web-01-web-address",
        "test-web-02-web-address",
        "test-db-01-db-address",
        "test-db-01-web-address",
    }
    db_on_web = reservations["test-db-01-web-address"]
    assert {key: db_on_web[key] for key in ("network", "mac", "ip", "hostname", "fqdn", "present")} == {
        "network": "test-web",
        "mac": "52:54:0a:63:01:04",
        "ip": "10.99.1.4",
        "hostname": "db-01",
        "fqdn": "db-01.web.test.vmfleet.internal",
        "present": True,
    }
    domain = next(r for r in built.registrations if r.type == "libvirt:index/domain:Domain" and r.name == "test-db-01")
    assert [nic["mac"] for nic in domain.inputs["networkInterfaces"]] == ["52:54:0a:63:02:02", "52:54:0a:63:01:04"]
    reservation_urns = {
        r.urn for r in built.registrations if r.name.startswith("test-db-01-") and r.name.endswith("-address")
    }
    assert reservation_urns <= set(domain.dependencies)


def test_the_addresses_are_exported_and_read_back() -> None:
    previous = {"web-01": {"web": "10.99.1.9"}}
    built = build_fleet(valid(), previous_outputs={"addresses": previous})
    assert built.fleet is not None
    assert built.fleet.inventory["web-01"]["addresses"] == {
        "web": {"address": "10.99.1.9", "fqdn": "web-01.web.test.vmfleet.internal"}
    }
    exported = run_program(valid(), previous_outputs={"addresses": previous}).exports["addresses"]
    assert exported == {
        "web-01": {"web": "10.99.1.9"},
        "web-02": {"web": "10.99.1.2"},
        "db-01": {"db": "10.99.2.2", "web": "10.99.1.3"},
    }
