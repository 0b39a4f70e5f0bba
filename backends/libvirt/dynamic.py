"""Two libvirt objects pulumi-libvirt cannot manage, as Pulumi dynamic resources (libvirt-python).

- `NetworkFilter`: a libvirt nwfilter (the segment firewall). Rule changes redefine the filter in
  place, keeping its UUID; libvirt re-applies it to running VMs at once.
- `DomainTags`: the VM's tags as a `<metadata>` element of the libvirt domain, so people and tools
  on the host see them (`virsh metadata <domain> --uri https://vmfleet.dev/xmlns/tags/1`). Setting
  metadata is a live, in-place change: retagging never restarts or replaces the VM.

The provider classes are pickled by reference, so the dynamic-provider process imports this module
from the project directory; `libvirt` is imported lazily, where the provider runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional
from xml.etree import ElementTree as ET

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

TAGS_NAMESPACE = "https://vmfleet.dev/xmlns/tags/1"
TAGS_PREFIX = "vmfleet"


@contextmanager
def _connection(uri: str) -> Iterator[Any]:
    import libvirt

    # libvirt-python prints every error to stderr by default, even ones we handle (a lookup of a
    # filter that does not exist yet); errors still raise libvirtError.
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    conn = libvirt.open(uri)
    try:
        yield conn
    finally:
        conn.close()


def _is_missing(error: Exception) -> bool:
    import libvirt

    return isinstance(error, libvirt.libvirtError) and error.get_error_code() in (
        libvirt.VIR_ERR_NO_NWFILTER,
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_NO_DOMAIN_METADATA,
    )


def _gone() -> ReadResult:
    """What `read` returns for an object deleted behind Pulumi's back: an empty id means gone."""
    return ReadResult(id_="", outs={})


def _with_uuid(xml: str, uuid: str) -> str:
    """Redefining a filter under its own name must keep its UUID, or libvirt refuses."""
    without = re.sub(r"\s*<uuid>[^<]*</uuid>", "", xml)
    return re.sub(r"(<filter\b[^>]*>)", rf"\1<uuid>{uuid}</uuid>", without, count=1)


class NetworkFilterProvider(ResourceProvider):
    """CRUD for one nwfilter on one host. Inputs: `uri`, `name`, `xml`."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        with _connection(props["uri"]) as conn:
            existing = _lookup_filter(conn, props["name"])
            if existing is not None:
                raise RuntimeError(
                    f"nwfilter {props['name']!r} already exists on {props['uri']}; another stack uses the "
                    "same name prefix, or it was left behind (remove it with `virsh nwfilter-undefine`)"
                )
            created = conn.nwfilterDefineXML(props["xml"])
            return CreateResult(id_=created.UUIDString(), outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in ("uri", "name") if olds.get(key) != news.get(key)]
        changed = replaces or olds.get("xml") != news.get("xml")
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with _connection(news["uri"]) as conn:
            conn.nwfilterDefineXML(_with_uuid(news["xml"], _id))
            return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _connection(props["uri"]) as conn:
            found = _lookup_filter(conn, props["name"])
            if found is None or found.UUIDString() != id_:
                return _gone()
            live = found.XMLDesc(0)
            xml = props["xml"] if filter_rules(live) == filter_rules(props["xml"]) else _canonical_filter(live)
            return ReadResult(id_=id_, outs={**props, "xml": xml})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _connection(props["uri"]) as conn:
            found = _lookup_filter(conn, props["name"])
            if found is not None:
                found.undefine()


def _lookup_filter(conn: Any, name: str) -> Any:
    try:
        return conn.nwfilterLookupByName(name)
    except Exception as error:
        if _is_missing(error):
            return None
        raise


def filter_rules(xml: str) -> list[tuple[str, ...]]:
    """The rules of a filter, independent of formatting and of what libvirt adds (UUID)."""
    rules = []
    for rule in ET.fromstring(xml).findall("rule"):
        matches = [(child.tag, *sorted(f"{k}={v}" for k, v in child.attrib.items())) for child in rule]
        rules.append((rule.get("action", ""), rule.get("direction", ""), rule.get("priority", ""), *map(repr, matches)))
    return sorted(rules)


def _canonical_filter(xml: str) -> str:
    """libvirt adds a UUID and reformats; the stored input stays the comparison base."""
    root = ET.fromstring(xml)
    for uuid in root.findall("uuid"):
        root.remove(uuid)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


class NetworkFilter(Resource):
    """A libvirt nwfilter defined from XML on the host at `uri`."""

    name: pulumi.Output[str]

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


class DomainTagsProvider(ResourceProvider):
    """Writes tags into a domain's metadata. Inputs: `uri`, `domain`, `domain_id`, `tags`."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._write(props)
        return CreateResult(id_=f"{props['domain']}/tags", outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in ("uri", "domain") if olds.get(key) != news.get(key)]
        changed = replaces or any(olds.get(key) != news.get(key) for key in ("tags", "domain_id"))
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._write(news)
        return UpdateResult(outs=dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import libvirt

        with _connection(props["uri"]) as conn:
            try:
                domain = conn.lookupByName(props["domain"])
                xml = domain.metadata(
                    libvirt.VIR_DOMAIN_METADATA_ELEMENT, TAGS_NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
                )
                return ReadResult(id_=id_, outs={**props, "tags": parse_tags_element(xml)})
            except Exception as error:
                if _is_missing(error):
                    return _gone()
                raise

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        import libvirt

        with _connection(props["uri"]) as conn:
            try:
                domain = conn.lookupByName(props["domain"])
                domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, TAGS_NAMESPACE, _affect(domain))
            except Exception as error:
                if not _is_missing(error):
                    raise

    @staticmethod
    def _write(props: dict[str, Any]) -> None:
        import libvirt

        with _connection(props["uri"]) as conn:
            domain = conn.lookupByName(props["domain"])
            domain.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                tags_element(props["tags"]),
                TAGS_PREFIX,
                TAGS_NAMESPACE,
                _affect(domain),
            )


def _affect(domain: Any) -> int:
    import libvirt

    flags: int = libvirt.VIR_DOMAIN_AFFECT_CONFIG
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
