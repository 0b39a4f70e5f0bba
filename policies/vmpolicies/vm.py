"""What a policy knows about a VM, read from the provider resource whoever created it.

Policies judge provider resources (a libvirt Domain, a Proxmox VE `VmLegacy`), not our components,
so a VM made outside vmfleet is judged too. This module is the only place that knows how each
provider resource spells a VM's facts.

Facts are read lazily, each when a policy first asks for it, because of preview: a property computed
from another resource's output has no value yet. The engine sends it as one of pulumi_policy's
sentinel strings (`pulumi_policy.proxy.UNKNOWN_STRING_VALUE` and friends), and pulumi_policy hands
the props to a policy wrapped in `unknown_checking_proxy`, which raises `UnknownValueError` when such
a value is read. Reading lazily means only the policies that judge that property meet it; this
module turns it into `UnknownFact`, which says in the user's words what is unknown and where, so
`base.vm_policy` can report a violation instead of letting the engine skip the policy with an
advisory "can't run policy during preview" note.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from xml.etree import ElementTree as ET

from pulumi_policy.proxy import UnknownValueError

from vmfleet import metadata

LIBVIRT_DOMAIN = "libvirt:index/domain:Domain"
PROXMOX_VM = "proxmoxve:index/vmLegacy:VmLegacy"
VM_TYPES = (LIBVIRT_DOMAIN, PROXMOX_VM)


class UnknownFact(Exception):
    """A fact a policy judges is computed from another resource's output, so it is unknown at preview."""

    def __init__(self, fact: str, prop: str) -> None:
        super().__init__(f"{fact} is not known at preview ({prop} is computed)")
        self.fact = fact
        """What is unknown, in the user's words: "its tags and size record"."""
        self.prop = prop
        """Where: the provider property path, e.g. `metadata` or `networkInterfaces[1].networkName`."""


def property_path(keys: Sequence[str]) -> str:
    """`networkInterfaces[1].networkName` from the keys UnknownValueError records."""
    path = ""
    for key in keys:
        if key.isdigit():
            path += f"[{key}]"
        else:
            path += f".{key}" if path else key
    return path


@contextmanager
def reading(fact: str) -> Iterator[None]:
    """Turn pulumi_policy's UnknownValueError, raised while `fact` is read, into an UnknownFact."""
    try:
        yield
    except UnknownValueError as unknown:
        raise UnknownFact(fact, property_path(unknown.props)) from None


class VmFacts(ABC):
    """Plain facts about one VM. Each property raises UnknownFact when what it reads is unknown."""

    platform: str
    """`libvirt` or `proxmox`: which kind of host pool the VM's provider resource belongs to."""

    def __init__(
        self,
        props: Mapping[str, Any],
        resource_name: str,
        protect: bool,
        provider_props: Mapping[str, Any] | None = None,
    ) -> None:
        self._props = props
        """The provider resource's props, camelCase, as pulumi_policy hands them over."""
        self.resource_name = resource_name
        """The Pulumi resource name (always known)."""
        self.protect = protect
        """Pulumi's `protect` option (a resource option, always known)."""
        self._provider_props = provider_props or {}

    @property
    def name(self) -> str:
        """The VM as messages name it: its host-side name, or the Pulumi resource name while that is unknown.

        Never raises, so an unknown name fails only the policy that judges names.
        """
        try:
            return self.host_name
        except UnknownFact:
            return self.resource_name

    @cached_property
    def host_name(self) -> str:
        """The VM's name on its host, as the naming convention judges it (every provider calls it `name`)."""
        with reading("its name"):
            return str(self._props.get("name") or self.resource_name)

    @property
    @abstractmethod
    def vcpus(self) -> int | None:
        """Virtual CPUs."""

    @property
    @abstractmethod
    def memory_mib(self) -> int | None:
        """Memory in MiB."""

    @property
    @abstractmethod
    def document(self) -> dict[str, Any] | None:
        """The vmfleet metadata document, or None when the VM carries none (not made by vmfleet)."""

    @property
    @abstractmethod
    def networks(self) -> list[str]:
        """The network of each interface, in interface order."""

    @property
    @abstractmethod
    def filters_by_network(self) -> dict[str, str]:
        """Network name -> the nwfilter every interface on that network is put behind."""

    @property
    @abstractmethod
    def host_address(self) -> str:
        """Where the VM runs, as the HostPool component's outputs name hosts (its `uri`)."""

    def _provider(self, key: str) -> str:
        """A property of the VM's provider resource (its connection), "" when there is none."""
        try:
            return str(self._provider_props.get(key) or "")
        except UnknownValueError as unknown:
            raise UnknownFact("its host", f"the provider's {property_path(unknown.props)}") from None

    @property
    def tags(self) -> dict[str, str]:
        tags = (self.document or {}).get("tags") or {}
        return {str(key): str(value) for key, value in tags.items()}

    def fact(self, key: str) -> Any:
        """A value from the metadata document, None when absent."""
        return (self.document or {}).get(key)


def vm_facts(
    resource_type: str,
    props: Mapping[str, Any],
    name: str,
    protect: bool | None,
    provider_props: Mapping[str, Any] | None = None,
) -> VmFacts | None:
    """The facts of a VM resource, or None when the resource is not a VM. Reads nothing yet.

    `provider_props`: the props of the VM's provider resource, needed only for `host_address`.
    """
    if resource_type == LIBVIRT_DOMAIN:
        return LibvirtDomainFacts(props, name, bool(protect), provider_props)
    if resource_type == PROXMOX_VM and not _is_template(props):
        return ProxmoxVmFacts(props, name, bool(protect), provider_props)
    return None


def _is_template(props: Mapping[str, Any]) -> bool:
    """A Proxmox template VM is an image to clone, never started: not a VM the rules govern."""
    try:
        return bool(props.get("template"))
    except UnknownValueError:
        return False  # judged as a VM: an unknown flag does not get a VM out of the rules


class LibvirtDomainFacts(VmFacts):
    """A pulumi-libvirt Domain's facts, from its camelCase props."""

    platform = "libvirt"

    @property
    def host_address(self) -> str:
        return self._provider("uri") or "(default provider)"

    @cached_property
    def vcpus(self) -> int | None:
        with reading("its vCPUs"):
            return _integer(self._props.get("vcpu"), default=1)

    @cached_property
    def memory_mib(self) -> int | None:
        with reading("its memory"):
            return _integer(self._props.get("memory"), default=512)

    @cached_property
    def document(self) -> dict[str, Any] | None:
        with reading("its tags and size record (the vmfleet metadata document)"):
            return metadata.parse(self._props.get("metadata"))

    @cached_property
    def networks(self) -> list[str]:
        with reading("its networks"):
            return [_network(nic) for nic in self._props.get("networkInterfaces") or []]

    @cached_property
    def filters_by_network(self) -> dict[str, str]:
        with reading("its firewall filters (the Domain's XSLT)"):
            return filters_in_stylesheet((self._props.get("xml") or {}).get("xslt") or "")


class ProxmoxVmFacts(VmFacts):
    """A Proxmox VE VM's (`VmLegacy`) facts: its description holds the vmfleet document (where
    vmfleet puts it; Proxmox tags are lossy words), vCPUs are cores x sockets, a NIC's network is
    `<bridge>.<vlan>` (`<bridge>` untagged) and its `firewall` flag puts it behind the VM's firewall."""

    platform = "proxmox"

    @cached_property
    def vcpus(self) -> int | None:
        with reading("its vCPUs"):
            cpu = self._props.get("cpu") or {}
            return _integer(cpu.get("cores"), default=1) * _integer(cpu.get("sockets"), default=1)

    @cached_property
    def memory_mib(self) -> int | None:
        with reading("its memory"):
            return _integer((self._props.get("memory") or {}).get("dedicated"), default=512)

    @cached_property
    def document(self) -> dict[str, Any] | None:
        with reading("its tags and size record (the vmfleet document in its description)"):
            return metadata.parse(self._props.get("description"))

    @cached_property
    def networks(self) -> list[str]:
        with reading("its networks"):
            return [proxmox_network(nic) for nic in self._props.get("networkDevices") or []]

    @cached_property
    def filters_by_network(self) -> dict[str, str]:
        with reading("its NICs' firewall flags"):
            return {
                proxmox_network(nic): "the VM's firewall"
                for nic in self._props.get("networkDevices") or []
                if nic.get("firewall")
            }

    @property
    def host_address(self) -> str:
        with reading("its node"):
            node = str(self._props.get("nodeName") or "")
        return f"{self._provider('endpoint').rstrip('/')}/nodes/{node}"


def proxmox_network(device: Mapping[str, Any]) -> str:
    """`vmbr0.201` for a NIC on bridge vmbr0 tagged 201; `vmbr0` untagged (the bridge's default)."""
    bridge = str(device.get("bridge") or "vmbr0")
    vlan = device.get("vlanId")
    return f"{bridge}.{int(vlan)}" if vlan else bridge


def _network(interface: Mapping[str, Any]) -> str:
    # The name is what segments are judged by. The id is often an output of the network resource,
    # unknown at preview, so it is read only for an interface that names no network.
    name = interface.get("networkName")
    if name:
        return str(name)
    return str(interface.get("networkId") or "?")


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
