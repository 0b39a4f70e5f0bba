"""A segment's firewall as a libvirt nwfilter, managed as a Pulumi dynamic resource (libvirt-python).

pulumi-libvirt has no nwfilter resource. Rule changes redefine the filter in place, keeping its
UUID; libvirt re-applies it to running VMs at once. A filter edited on the host shows in refresh
(its live rules differ) and `up` writes the declared rules back; a deleted one is recreated.
"""

from __future__ import annotations

import re
from typing import Any, Optional
from xml.etree import ElementTree as ET

import pulumi
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from backends.libvirt.host_call import Progress, call, lookup
from backends.libvirt.provider_base import LibvirtProvider, gone
from backends.libvirt.storage import refuse_foreign
from backends.state_registry import RecordedProvider


def with_uuid(xml: str, uuid: str) -> str:
    """Redefining a filter under its own name must keep its UUID, or libvirt refuses."""
    without = re.sub(r"\s*<uuid>[^<]*</uuid>", "", xml)
    return re.sub(r"(<filter\b[^>]*>)", rf"\1<uuid>{uuid}</uuid>", without, count=1)


def filter_rules(xml: str) -> list[tuple[str, ...]]:
    """The rules of a filter, independent of formatting and of what libvirt adds (UUID)."""
    rules = []
    for rule in ET.fromstring(xml).findall("rule"):
        matches = [(child.tag, *sorted(f"{k}={v}" for k, v in child.attrib.items())) for child in rule]
        rules.append((rule.get("action", ""), rule.get("direction", ""), rule.get("priority", ""), *map(repr, matches)))
    return sorted(rules)


def canonical_filter(xml: str) -> str:
    """libvirt adds a UUID and reformats; the stored input stays the comparison base."""
    root = ET.fromstring(xml)
    for uuid in root.findall("uuid"):
        root.remove(uuid)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


class NetworkFilterProvider(RecordedProvider, LibvirtProvider):
    """CRUD for one nwfilter on one host. Inputs: `uri`, `name`, `xml`."""

    state_name = "libvirt/nwfilter"
    replace_keys = ("uri", "name")
    update_keys = ("xml",)
    kind = "nwfilter"

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, uri = props["name"], props["uri"]

        def define(conn: Any, _progress: Progress) -> str:
            existing = lookup(conn.nwfilterLookupByName, name)
            if existing is not None:
                # What a run killed mid-create leaves: take it over when it holds these very rules.
                if filter_rules(existing.XMLDesc(0)) != filter_rules(props["xml"]):
                    raise refuse_foreign("nwfilter", name, uri, f"virsh -c {uri} nwfilter-undefine {name}")
                return str(existing.UUIDString())
            return str(conn.nwfilterDefineXML(props["xml"]).UUIDString())

        return CreateResult(id_=call(uri, f"create nwfilter {name}", define), outs=dict(props))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        def redefine(conn: Any, _progress: Progress) -> None:
            conn.nwfilterDefineXML(with_uuid(news["xml"], id_))

        call(news["uri"], f"redefine nwfilter {news['name']}", redefine)
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        def inspect(conn: Any, _progress: Progress) -> ReadResult:
            found = lookup(conn.nwfilterLookupByName, props["name"])
            if found is None or found.UUIDString() != id_:
                return gone()
            live = found.XMLDesc(0)
            xml = props["xml"] if filter_rules(live) == filter_rules(props["xml"]) else canonical_filter(live)
            return ReadResult(id_=id_, outs={**props, "xml": xml})

        return call(props["uri"], f"read nwfilter {props['name']}", inspect)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        def remove(conn: Any, _progress: Progress) -> None:
            found = lookup(conn.nwfilterLookupByName, props["name"])
            if found is not None:
                found.undefine()

        call(props["uri"], f"delete nwfilter {props['name']}", remove)


class NetworkFilter(Resource):
    """A libvirt nwfilter defined from XML on the host at `uri`."""

    def __init__(
        self,
        resource_name: str,
        uri: pulumi.Input[str],
        filter_name: str,
        xml: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {"uri": uri, "name": filter_name, "xml": xml}
        super().__init__(NetworkFilterProvider(), resource_name, props, opts)
