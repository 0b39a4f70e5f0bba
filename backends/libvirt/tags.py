"""A VM's tags as a `<metadata>` element of its libvirt domain, as a Pulumi dynamic resource.

People and tools on the host see them (`virsh metadata <domain> --uri https://vmfleet.dev/xmlns/tags/1`).
Setting metadata is a live, in-place change: retagging never restarts or replaces the VM. Tags
edited or removed on the host show in refresh and `up` writes the declared ones back.
"""

from __future__ import annotations

from typing import Any, Optional
from xml.etree import ElementTree as ET

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from backends.libvirt.host_call import Progress, call, is_missing, lookup
from backends.libvirt.provider_base import LibvirtProvider, gone
from backends.state_registry import RecordedProvider

TAGS_NAMESPACE = "https://vmfleet.dev/xmlns/tags/1"
TAGS_PREFIX = "vmfleet"


def tags_element(tags: dict[str, str]) -> str:
    """`<tags><tag key="owner">alice@example.com</tag>...</tags>`, keys sorted."""
    root = ET.Element("tags")
    for key in sorted(tags):
        ET.SubElement(root, "tag", key=key).text = tags[key]
    return ET.tostring(root, encoding="unicode")


def parse_tags_element(xml: str) -> dict[str, str]:
    """The tags from a metadata element written by `tags_element`."""
    root = ET.fromstring(xml)
    return {element.get("key", ""): element.text or "" for element in root.iter() if element.tag.endswith("tag")}


def read_tags_element(xml: str) -> tuple[dict[str, str], list[str]]:
    """The tags in a metadata element found on a host, and what is malformed in it.

    Unlike `parse_tags_element` (which reads what `tags_element` wrote), this expects anything: an
    element edited by hand or by another tool. Every `<tag key="...">` is read; anything else (a
    child that is not a tag, a tag without a key, a key given twice, text that is not XML) is named
    in the problems, and the rest is still read.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        return {}, [f"the tags element is not XML ({error})"]
    tags: dict[str, str] = {}
    problems: list[str] = []
    if _local_name(root.tag) != "tags":
        problems.append(f"the element is <{_local_name(root.tag)}>, not <tags>")
    for position, element in enumerate(root, start=1):
        name = _local_name(element.tag)
        key = element.get("key")
        if name != "tag":
            problems.append(f"element {position} is <{name}>, not <tag key=...>")
        elif not key:
            problems.append(f"tag {position} has no key attribute")
        elif key in tags:
            problems.append(f"tag {key!r} is given twice ({tags[key]!r} and {element.text or ''!r})")
        else:
            tags[key] = element.text or ""
    return tags, problems


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


class DomainTagsProvider(RecordedProvider, LibvirtProvider):
    """Writes tags into a domain's metadata. Inputs: `uri`, `domain`, `domain_id`, `tags`."""

    state_name = "libvirt/domain-tags"
    replace_keys = ("uri", "domain")
    update_keys = ("tags", "domain_id")
    kind = "domain tags"

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        live_drift = "live_tags" in olds and olds["live_tags"] != news.get("tags")
        return DiffResult(
            changes=bool(result.changes or live_drift), replaces=result.replaces, delete_before_replace=True
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._write(props)
        return CreateResult(id_=f"{props['domain']}/tags", outs=dict(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._write(news)
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import libvirt

        def inspect(conn: Any, _progress: Progress) -> ReadResult:
            domain = lookup(conn.lookupByName, props["domain"])
            if domain is None:
                return gone()
            # `virsh metadata` edits a running VM's live definition by default and the persistent
            # one only with --config: both are read, and `diff` compares both with the declaration.
            # A domain undefined on the host while it runs (transient) has no persistent definition
            # until the Domain's update gives it back; its live tags stand for both until then.
            live = _read_tags(domain, libvirt.VIR_DOMAIN_AFFECT_LIVE) if domain.isActive() else None
            persistent = _read_tags(domain, libvirt.VIR_DOMAIN_AFFECT_CONFIG) if domain.isPersistent() else live
            live = persistent if live is None else live
            return ReadResult(id_=id_, outs={**props, "tags": persistent, "live_tags": live})

        return call(props["uri"], f"read tags of domain {props['domain']}", inspect)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        import libvirt

        def remove(conn: Any, _progress: Progress) -> None:
            domain = lookup(conn.lookupByName, props["domain"])
            if domain is None:
                return
            try:
                domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, TAGS_NAMESPACE, _affect(domain))
            except Exception as error:
                if not is_missing(error):
                    raise

        call(props["uri"], f"remove tags of domain {props['domain']}", remove)

    @staticmethod
    def _write(props: dict[str, Any]) -> None:
        import libvirt

        def write(conn: Any, _progress: Progress) -> None:
            domain = conn.lookupByName(props["domain"])
            domain.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                tags_element(props["tags"]),
                TAGS_PREFIX,
                TAGS_NAMESPACE,
                _affect(domain),
            )

        call(props["uri"], f"write tags of domain {props['domain']}", write)


def _read_tags(domain: Any, place: int) -> dict[str, str]:
    import libvirt

    try:
        return parse_tags_element(domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, TAGS_NAMESPACE, place))
    except Exception as error:
        if not is_missing(error):
            raise
        return {}  # removed on the host


def _affect(domain: Any) -> int:
    """Where a metadata change goes: the persistent definition, and the live one while it runs."""
    import libvirt

    flags: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG if domain.isPersistent() else 0
    if domain.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    return flags


class DomainTags(Resource):
    """The tags of one libvirt domain, written where `virsh` shows them."""

    def __init__(
        self,
        resource_name: str,
        uri: pulumi.Input[str],
        domain: str,
        domain_id: pulumi.Input[str],
        tags: dict[str, str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {"uri": uri, "domain": domain, "domain_id": domain_id, "tags": tags}
        super().__init__(DomainTagsProvider(), resource_name, props, opts)
