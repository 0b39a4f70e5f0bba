"""The libvirt backend: host pools, templates, segments, firewalls and VMs as libvirt objects.

Per host: a directory storage pool, a base image per template, a network per segment, an nwfilter
per firewalled segment. Per VM: a copy-on-write disk cloned from the base image, a cloud-init ISO,
the Domain, and the Domain's tags written into libvirt metadata.

The Domain is pulumi-libvirt's (`libvirt:index/domain:Domain`, what the policy pack judges), through
one provider per host, built by scripts/engine.sh with bounded calls and drift fixes
(engine/libvirt-provider/provider/). Everything else is a dynamic resource of ours on
libvirt-python (storage.py, network.py, nwfilter.py, tags.py): they report drift truthfully,
delete idempotently, clean up after a failed create, bound every call, and upload images and
cloud-init disks outside the provider's stream path that deadlocks (see storage.py).

What policies judge is kept plain and known at preview: interfaces name their network
(`network_name`; the `network_id` beside it is what replaces a VM when its network is replaced),
the tag document is a literal string, and the filter stylesheet is literal text.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pulumi_libvirt as libvirt

from backends.libvirt import names
from backends.libvirt.decommission import Decommission
from backends.libvirt.domain_xslt import domain_stylesheet
from backends.libvirt.network import SegmentNetwork
from backends.libvirt.nwfilter import NetworkFilter
from backends.libvirt.nwfilter_xml import render as render_nwfilter
from backends.libvirt.reservation import AddressReservation
from backends.libvirt.snapshot_hooks import SnapshotHooks
from backends.libvirt.storage import BaseImage, CloudInitDisk, Disk, StoragePool
from backends.libvirt.tags import DomainTags
from components.backend import FilterHandle, HostHandle, ImageHandle, NetworkHandle, VmHandle, VmRequest
from vmfleet import cloudinit
from vmfleet.addressing import NicAddress
from vmfleet.spec import Firewall, Host, HostPool, Node, Segment, Template

GIB = 1024**3
SHUTDOWN_TIMEOUT_S = 120
"""How long a retired VM's guest gets to power off after the ACPI shutdown before it is forced off."""

NETWORK_MODES = {"isolated": "none", "nat": "nat", "routed": "route"}
"""Our segment modes in libvirt's words."""

DomainTypeProbe = Callable[[str], str]
"""Given a libvirt URI, the domain type its host supports best: `kvm` or `qemu`."""


class LibvirtBackend:
    """Creates libvirt resources for the components; every name on a host starts with `prefix`."""

    def __init__(self, prefix: str, probe_domain_type: DomainTypeProbe, snapshot_hooks: SnapshotHooks) -> None:
        self.prefix = prefix
        self.probe_domain_type = probe_domain_type
        self.snapshot_hooks = snapshot_hooks
        self._uris: dict[str, str] = {}

    @staticmethod
    def applies_address(nic: NicAddress) -> bool:
        """Always: a DHCP reservation on DHCP segments (reservation.py), the seed's network-config on
        static ones."""
        return True

    @staticmethod
    def serves_name(nic: NicAddress) -> bool:
        """Always: a DNS host record on the segment's network, which libvirt's dnsmasq serves."""
        return True

    def host(self, pool: HostPool, host: Node, parent: pulumi.Resource) -> HostHandle:
        if not isinstance(host, Host):
            raise TypeError(f"host {host.name} of pool {pool.name} is not a libvirt host ({pool.platform})")
        provider = libvirt.Provider(
            f"{self.prefix}-{host.name}", uri=host.uri, opts=pulumi.ResourceOptions(parent=parent)
        )
        storage = StoragePool(
            f"{self.prefix}-{host.name}-storage",
            uri=host.uri,
            pool_name=names.storage_pool(self.prefix),
            path=host.storage_dir,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        self._uris[host.name] = host.uri
        self.snapshot_hooks.add_host(host.uri)
        domain_type = host.domain_type if host.domain_type != "auto" else self.probe_domain_type(host.uri)
        return HostHandle(
            name=host.name,
            pool=pool.name,
            backend=self,
            address=host.uri,
            provider=provider,
            storage=storage.name,
            domain_type=domain_type,
        )

    def template_image(self, template: Template, host: HostHandle, parent: pulumi.Resource) -> ImageHandle:
        image = BaseImage(
            f"{self.prefix}-{host.name}-{template.name}",
            uri=self._uris[host.name],
            pool=host.storage,
            volume_name=names.base_volume(self.prefix, template.name, template.version),
            source=template.image_source,
            volume_format=template.image_format,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return ImageHandle(
            template=template.name,
            host=host.name,
            image_id=image.id,
            image_format=template.image_format,
            resource=image,
        )

    def segment_network(self, segment: Segment, host: HostHandle, parent: pulumi.Resource) -> NetworkHandle:
        network_name = names.network(self.prefix, segment.name)
        network = SegmentNetwork(
            f"{self.prefix}-{host.name}-{segment.name}",
            uri=self._uris[host.name],
            network_name=network_name,
            bridge=names.bridge(self.prefix, segment.name),
            mode=NETWORK_MODES[segment.mode],
            cidr=str(segment.cidr),
            dhcp=segment.dhcp,
            opts=pulumi.ResourceOptions(parent=parent),
            reserved=segment.reserved,
        )
        return NetworkHandle(
            segment=segment.name, host=host.name, network_name=network_name, network_id=network.id, resource=network
        )

    def firewall_filter(
        self,
        firewall: Firewall,
        segment_cidrs: Mapping[str, ipaddress.IPv4Network],
        host: HostHandle,
        parent: pulumi.Resource,
    ) -> FilterHandle:
        filter_name = names.nwfilter(self.prefix, firewall.segment)
        nwfilter = NetworkFilter(
            f"{self.prefix}-{host.name}-{firewall.segment}-nwfilter",
            uri=self._uris[host.name],
            filter_name=filter_name,
            xml=render_nwfilter(filter_name, firewall, segment_cidrs),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return FilterHandle(segment=firewall.segment, host=host.name, filter_name=filter_name, resource=nwfilter)

    def virtual_machine(self, request: VmRequest, parent: pulumi.Resource) -> VmHandle:
        vm, host = request.vm, request.host
        uri = self._uris[host.name]
        disk = Disk(
            f"{self.prefix}-{vm.name}-disk",
            uri=uri,
            pool=host.storage,
            volume_name=names.disk_volume(self.prefix, vm.name),
            base=request.image.image_id,
            base_format=request.image.image_format,
            size_bytes=vm.disk_gib * GIB,
            opts=pulumi.ResourceOptions(parent=parent, protect=vm.protect, hooks=self.snapshot_hooks.disk_hooks()),
        )
        filters = {
            network.network_name: request.filters[network.segment].filter_name
            for network in request.networks
            if network.segment in request.filters
        }
        domain_name = names.domain(self.prefix, vm.name)
        self.snapshot_hooks.declare(
            domain_name, uri, names.disk_volume(self.prefix, vm.name), retired=vm.retire is not None
        )
        macs: dict[str, str] = {}
        reservations = []
        retired_reservations: list[dict[str, Any]] = []
        for network in request.networks:
            nic = request.addresses.get(network.segment)
            if nic is None:
                continue
            macs[network.segment] = names.mac(nic.address)
            reservation = {
                "uri": uri,
                "network": network.network_name,
                "mac": macs[network.segment],
                "ip": nic.address,
                "hostname": vm.name,
                "fqdn": nic.fqdn,
                "dhcp": nic.dhcp,
            }
            if vm.retire is not None:  # its decommission removes them; the program no longer declares them
                retired_reservations.append(reservation)
                continue
            reservations.append(
                AddressReservation(
                    f"{self.prefix}-{vm.name}-{network.segment}-address",
                    uri=uri,
                    network=network.network_name,
                    network_id=network.network_id,
                    mac=macs[network.segment],
                    ip=nic.address,
                    hostname=vm.name,
                    fqdn=nic.fqdn,
                    dhcp=nic.dhcp,
                    opts=pulumi.ResourceOptions(parent=parent),
                )
            )
        guest_nics = [
            (macs[network.segment], request.addresses[network.segment])
            for network in request.networks
            if network.segment in macs
        ]
        cloudinit_disk = CloudInitDisk(
            f"{self.prefix}-{vm.name}-cloudinit",
            uri=uri,
            pool=host.storage,
            volume_name=names.cloudinit_volume(self.prefix, vm.name),
            user_data=request.user_data,
            meta_data=request.meta_data,
            network_config=cloudinit.network_config(guest_nics) if guest_nics else None,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        domain = libvirt.Domain(
            f"{self.prefix}-{vm.name}",
            name=domain_name,
            type=host.domain_type,
            vcpu=vm.vcpus,
            memory=vm.memory_mib,
            running=vm.retire is None,
            autostart=vm.autostart and vm.retire is None,
            description=names.domain_description(self.prefix, domain_name),
            metadata=request.metadata,
            disks=[libvirt.DomainDiskArgs(volume_id=disk.id)],
            cloudinit=cloudinit_disk.id,
            network_interfaces=[
                libvirt.DomainNetworkInterfaceArgs(
                    network_name=network.network_name,
                    network_id=network.network_id,
                    hostname=vm.name,
                    mac=macs.get(network.segment),
                )
                for network in request.networks
            ],
            consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0", target_type="serial")],
            xml=libvirt.DomainXmlArgs(xslt=domain_stylesheet(filters, names.console_log(domain_name))),
            opts=pulumi.ResourceOptions(
                parent=parent,
                provider=host.provider,
                protect=vm.protect,
                depends_on=[*(handle.resource for handle in request.filters.values()), *reservations],
                hooks=self.snapshot_hooks.domain_hooks(),
            ),
        )
        tags = DomainTags(
            f"{self.prefix}-{vm.name}-tags",
            uri=uri,
            domain=domain_name,
            domain_id=domain.id,
            tags=dict(vm.tags),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[domain], protect=vm.protect),
        )
        record = None
        if vm.retire is not None:
            decommission = Decommission(
                f"{self.prefix}-{vm.name}-decommission",
                {
                    "uri": uri,
                    "stack": pulumi.get_stack(),
                    "vm": vm.name,
                    "domain": domain_name,
                    "pool": host.storage,
                    "volume": names.disk_volume(self.prefix, vm.name),
                    "archive": vm.retire.archive,
                    "archive_dir": request.archive_dir,
                    "reason": vm.retire.reason,
                    "facts": json.loads(request.metadata),
                    "reservations": retired_reservations,
                    "logs": [names.console_log(domain_name), names.qemu_log(domain_name)],
                    "left_out_of": list(request.left_out_of),
                    "shutdown_timeout_s": SHUTDOWN_TIMEOUT_S,
                },
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[domain, tags]),
            )
            record = decommission.record
        return VmHandle(
            name=vm.name,
            host=host.name,
            vm_id=domain.id,
            resource=domain,
            decommission_record=record,
            monitored_as=domain_name,
        )
