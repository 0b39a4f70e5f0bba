"""The libvirt documents we generate: nwfilter rules, tag metadata, and the dynamic providers' diffs."""

from __future__ import annotations

import ipaddress
from xml.etree import ElementTree as ET

from backends.libvirt import names
from backends.libvirt.nwfilter import NetworkFilterProvider, filter_rules, with_uuid
from backends.libvirt.nwfilter_xml import render
from backends.libvirt.tags import DomainTagsProvider, parse_tags_element, tags_element
from vmfleet.spec import Firewall

CIDRS = {"web": ipaddress.IPv4Network("10.1.1.0/24"), "app": ipaddress.IPv4Network("10.1.2.0/24")}


def rules_of(xml: str) -> list[tuple[str, str, str, str, dict[str, str]]]:
    root = ET.fromstring(xml)
    return [
        (r.get("action", ""), r.get("direction", ""), r.get("priority", ""), r[0].tag, dict(r[0].attrib))
        for r in root.findall("rule")
    ]


def test_filter_allows_dhcp_then_rules_then_default() -> None:
    firewall = Firewall.model_validate(
        {
            "segment": "app",
            "ingress": [{"protocol": "tcp", "ports": ["8080", "9000-9010"], "peer": "web"}],
            "egress": [{"protocol": "udp", "ports": "53", "peer": "10.0.0.0/8"}],
            "default_egress": "drop",
        }
    )
    xml = render("dev-app-fw", firewall, CIDRS)
    root = ET.fromstring(xml)
    assert (root.tag, root.get("name"), root.get("chain")) == ("filter", "dev-app-fw", "root")
    assert rules_of(xml) == [
        ("accept", "out", "100", "udp", {"srcportstart": "68", "dstportstart": "67"}),
        ("accept", "in", "100", "udp", {"srcportstart": "67", "dstportstart": "68"}),
        (
            "accept",
            "in",
            "200",
            "tcp",
            {"srcipaddr": "10.1.1.0", "srcipmask": "24", "dstportstart": "8080", "dstportend": "8080"},
        ),
        (
            "accept",
            "in",
            "200",
            "tcp",
            {"srcipaddr": "10.1.1.0", "srcipmask": "24", "dstportstart": "9000", "dstportend": "9010"},
        ),
        (
            "accept",
            "out",
            "201",
            "udp",
            {"dstipaddr": "10.0.0.0", "dstipmask": "8", "dstportstart": "53", "dstportend": "53"},
        ),
        ("drop", "in", "900", "all", {}),
        ("drop", "in", "900", "all-ipv6", {}),
        ("drop", "out", "900", "all", {}),
        ("drop", "out", "900", "all-ipv6", {}),
    ]


def test_accept_by_default_and_protocol_without_ports() -> None:
    firewall = Firewall.model_validate(
        {"segment": "web", "default_ingress": "accept", "ingress": [{"protocol": "icmp", "peer": "any"}]}
    )
    found = rules_of(render("x", firewall, CIDRS))
    assert ("accept", "in", "200", "icmp", {}) in found
    assert ("accept", "in", "900", "all", {}) in found
    assert ("accept", "out", "900", "all", {}) in found


def test_filter_rules_ignore_formatting_and_uuid() -> None:
    firewall = Firewall.model_validate({"segment": "web", "ingress": [{"ports": "22"}]})
    xml = render("dev-web-fw", firewall, CIDRS)
    as_libvirt_returns_it = with_uuid(xml.replace("\n", "").replace("  ", ""), "0b7a6f0e-1111-2222-3333-444455556666")
    assert "<uuid>0b7a6f0e-1111-2222-3333-444455556666</uuid>" in as_libvirt_returns_it
    assert filter_rules(as_libvirt_returns_it) == filter_rules(xml)
    changed = render("dev-web-fw", Firewall.model_validate({"segment": "web", "ingress": [{"ports": "23"}]}), CIDRS)
    assert filter_rules(changed) != filter_rules(xml)


def test_filter_rule_change_updates_in_place_and_rename_replaces() -> None:
    provider = NetworkFilterProvider()
    old = {"uri": "qemu:///system", "name": "dev-web-fw", "xml": "<filter name='dev-web-fw'/>"}
    assert provider.diff("id", old, dict(old)).changes is False
    in_place = provider.diff("id", old, {**old, "xml": "<filter name='dev-web-fw'><rule/></filter>"})
    assert in_place.changes and not in_place.replaces
    renamed = provider.diff("id", old, {**old, "name": "dev-www-fw"})
    assert renamed.replaces == ["name"]


def test_retag_is_an_update_never_a_replacement() -> None:
    provider = DomainTagsProvider()
    old = {"uri": "qemu:///system", "domain": "dev-web-01", "domain_id": "u1", "tags": {"owner": "a@example.com"}}
    retag = provider.diff("id", old, {**old, "tags": {"owner": "b@example.com"}})
    assert retag.changes and not retag.replaces
    recreated_domain = provider.diff("id", old, {**old, "domain_id": "u2"})
    assert recreated_domain.changes and not recreated_domain.replaces, "a new domain gets its tags rewritten"
    assert provider.diff("id", old, dict(old)).changes is False


def test_tags_element_round_trips_and_escapes() -> None:
    tags = {"owner": "a&b@example.com", "note": "<not xml>", "expires": "2027-01-31"}
    xml = tags_element(tags)
    assert xml.startswith('<tags><tag key="expires">2027-01-31</tag>')
    assert parse_tags_element(xml) == tags


def test_host_side_names_are_prefixed_and_bridges_fit_linux_limits() -> None:
    assert names.domain("dev", "web-01") == "dev-web-01"
    assert names.network("dev", "web") == "dev-web"
    assert names.nwfilter("dev", "web") == "dev-web-fw"
    bridge = names.bridge("a-very-long-prefix", "a-very-long-segment-name")
    assert len(bridge) <= 15 and bridge.startswith("vf")
    assert names.bridge("dev", "web") != names.bridge("ci", "web")
