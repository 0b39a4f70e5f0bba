"""What a policy knows about a VM, read from the provider resource whoever created it.

Policies judge provider resources (a libvirt Domain today; a Proxmox VM when that backend lands),
not our components, so a VM made outside vmfleet is judged too. This module is the only place that
knows how each provider resource spells a VM's facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from vmfleet import metadata

LIBVIRT_DOMAIN = "libvirt:index/domain:Domain"
VM_TYPES = (LIBVIRT_DOMAIN,)


@dataclass(frozen=True)
class VmFacts:
    """Plain facts about one VM."""

    name: str
    vcpus: int | None
    memory_mib: int | None
    document: dict[str, Any] | None
    """The vmfleet metadata document, or None when the VM carries none (not made by vmfleet)."""
    networks: list[str] = field(default_factory=list)
    filters_by_network: dict[str, str] = field(default_factory=dict)
    protect: bool = False

    @property
    def tags(self) -> dict[str, str]:
        tags = (self.document or {}).get("tags") or {}
        return {str(key): str(value) for key, value in tags.items()}

    def fact(self, key: str) -> Any:
        """A value from the metadata document, None when absent."""
        return (self.document or {}).get(key)


def vm_facts(resource_type: str, props: Mapping[str, Any], name: str, protect: bool | None) -> VmFacts | None:
    """The facts of a VM resource, or None when the resource is not a VM."""
    if resource_type == LIBVIRT_DOMAIN:
        return _libvirt_domain(props, name, bool(protect))
    return None


def _libvirt_domain(props: Mapping[str, Any], resource_name: str, protect: bool) -> VmFacts:
    interfaces = props.get("networkInterfaces") or []
    stylesheet = (props.get("xml") or {}).get("xslt") or ""
    return VmFacts(
        name=str(props.get("name") or resource_name),
        vcpus=_integer(props.get("vcpu"), default=1),
        memory_mib=_integer(props.get("memory"), default=512),
        document=metadata.parse(props.get("metadata")),
        networks=[str(nic.get("networkName") or nic.get("networkId") or "?") for nic in interfaces],
        filters_by_network=filters_in_stylesheet(stylesheet),
        protect=protect,
    )


def _integer(value: Any, default: int) -> int:
    # The engine hands numbers over as floats; an absent value is the provider's default.
    return default if value is None else int(value)


def filters_in_stylesheet(stylesheet: str) -> dict[str, str]:
    """Network name -> nwfilter name, from the `xml.xslt` vmfleet generates for a Domain."""
    if not stylesheet.strip():
        return {}
    try:
        root = ET.fromstring(stylesheet)
    except ET.ParseError:
        return {}
    found: dict[str, str] = {}
    for template in root:
        match = template.get("match") or ""
        marker = "source/@network='"
        if marker not in match:
            continue
        network = match.split(marker, 1)[1].split("'", 1)[0]
        for element in template.iter():
            if element.tag == "filterref" and element.get("filter"):
                found[network] = element.get("filter", "")
    return found
