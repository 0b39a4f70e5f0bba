"""The libvirt backend: host pools, templates, segments, firewalls and VMs as libvirt objects.

One `pulumi_libvirt.Provider` per host. Per host that needs them: a directory storage pool, a base
volume per template, a network per segment, an nwfilter per firewalled segment. Per VM: a
copy-on-write disk cloned from the template's base volume, a cloud-init ISO, the Domain, and the
Domain's tags written into libvirt metadata.

What policies judge is kept plain and known at preview: interfaces name their network
(`network_name`, not a computed id), the tag document is a literal string, and the filter
stylesheet is literal text.

Uploads (a template's image, a VM's cloud-init ISO) stream data over the libvirt connection, and
the provider's libvirt client (go-libvirt) can deadlock when another call shares the connection
during a stream: its reader waits on a caller that waits on the socket the stream fills (the
upstream workaround is `-parallelism=1`; dmacvicar/terraform-provider-libvirt#594, #1021). So each
host gets a second provider used only for uploads, and its uploads run one after another.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping

import pulumi
import pulumi_libvirt as libvirt

from backends.libvirt import names
from backends.libvirt.domain_xslt import filter_stylesheet
from backends.libvirt.dynamic import DomainTags, NetworkFilter
from backends.libvirt.nwfilter_xml import render as render_nwfilter
from components.backend import FilterHandle, HostHandle, ImageHandle, NetworkHandle, VmHandle, VmRequest
from vmfleet.spec import Firewall, Host, HostPool, Segment, Template

GIB = 1024**3

NETWORK_MODES = {"isolated": "none", "nat": "nat", "routed": "route"}
"""Our segment modes in libvirt's words."""

DomainTypeProbe = Callable[[str], str]
"""Given a libvirt URI, the domain type its host supports best: `kvm` or `qemu`."""


class LibvirtBackend:
    """Creates libvirt resources for the components; every name on a host starts with `prefix`."""

    def __init__(self, prefix: str, probe_domain_type: DomainTypeProbe) -> None:
        self.prefix = prefix
        self.probe_domain_type = probe_domain_type
        self._uris: dict[str, str] = {}
        self._upload_providers: dict[str, libvirt.Provider] = {}
        self._last_upload: dict[str, pulumi.Resource] = {}

    def host(self, pool: HostPool, host: Host, parent: pulumi.Resource) -> HostHandle:
        provider = libvirt.Provider(
            f"{self.prefix}-{host.name}", uri=host.uri, opts=pulumi.ResourceOptions(parent=parent)
        )
        storage = libvirt.Pool(
            f"{self.prefix}-{host.name}-storage",
            name=names.storage_pool(self.prefix),
            type="dir",
            target=libvirt.PoolTargetArgs(path=host.storage_dir),
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
        self._uris[host.name] = host.uri
        self._upload_providers[host.name] = libvirt.Provider(
            f"{self.prefix}-{host.name}-uploads", uri=host.uri, opts=pulumi.ResourceOptions(parent=parent)
        )
        domain_type = host.domain_type if host.domain_type != "auto" else self.probe_domain_type(host.uri)
        return HostHandle(
            name=host.name, pool=pool.name, provider=provider, storage=storage.name, domain_type=domain_type
        )

    def template_image(self, template: Template, host: HostHandle, parent: pulumi.Resource) -> ImageHandle:
        volume = libvirt.Volume(
            f"{self.prefix}-{host.name}-{template.name}",
            name=names.base_volume(self.prefix, template.name, template.version),
            pool=host.storage,
            source=template.image_source,
            format=template.image_format,
            opts=self._upload_options(host.name, parent),
        )
        self._last_upload[host.name] = volume
        return ImageHandle(template=template.name, host=host.name, image_id=volume.id, resource=volume)

    def segment_network(self, segment: Segment, host: HostHandle, parent: pulumi.Resource) -> NetworkHandle:
        network_name = names.network(self.prefix, segment.name)
        network = libvirt.Network(
            f"{self.prefix}-{host.name}-{segment.name}",
            name=network_name,
            mode=NETWORK_MODES[segment.mode],
            bridge=names.bridge(self.prefix, segment.name),
            addresses=[str(segment.cidr)],
            autostart=True,
            dhcp=libvirt.NetworkDhcpArgs(enabled=segment.dhcp),
            opts=pulumi.ResourceOptions(parent=parent, provider=host.provider),
        )
        return NetworkHandle(segment=segment.name, host=host.name, network_name=network_name, resource=network)

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

    def _upload_options(self, host: str, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """Uploads go through the host's upload connection, each after the one before it."""
        previous = self._last_upload.get(host)
        return pulumi.ResourceOptions(
            parent=parent,
            provider=self._upload_providers[host],
            depends_on=[previous] if previous is not None else None,
        )

    def virtual_machine(self, request: VmRequest, parent: pulumi.Resource) -> VmHandle:
        vm, host = request.vm, request.host
        on_host = pulumi.ResourceOptions(parent=parent, provider=host.provider)
        disk = libvirt.Volume(
            f"{self.prefix}-{vm.name}-disk",
            name=names.disk_volume(self.prefix, vm.name),
            pool=host.storage,
            base_volume_id=request.image.image_id,
            size=vm.disk_gib * GIB,
            format="qcow2",
            opts=on_host,
        )
        cloudinit = libvirt.CloudInitDisk(
            f"{self.prefix}-{vm.name}-cloudinit",
            name=names.cloudinit_volume(self.prefix, vm.name),
            pool=host.storage,
            user_data=request.user_data,
            meta_data=request.meta_data,
            opts=self._upload_options(host.name, parent),
        )
        self._last_upload[host.name] = cloudinit
        filters = {
            network.network_name: request.filters[network.segment].filter_name
            for network in request.networks
            if network.segment in request.filters
        }
        domain_name = names.domain(self.prefix, vm.name)
        domain = libvirt.Domain(
            f"{self.prefix}-{vm.name}",
            name=domain_name,
            type=host.domain_type,
            vcpu=vm.vcpus,
            memory=vm.memory_mib,
            running=True,
            autostart=vm.autostart,
            description=f"Managed by vmfleet ({self.prefix}); tags: virsh metadata {domain_name} --uri "
            "https://vmfleet.dev/xmlns/tags/1",
            metadata=request.metadata,
            disks=[libvirt.DomainDiskArgs(volume_id=disk.id)],
            cloudinit=cloudinit.id,
            network_interfaces=[
                libvirt.DomainNetworkInterfaceArgs(network_name=network.network_name, hostname=vm.name)
                for network in request.networks
            ],
            consoles=[libvirt.DomainConsoleArgs(type="pty", target_port="0", target_type="serial")],
            xml=libvirt.DomainXmlArgs(xslt=filter_stylesheet(filters)) if filters else None,
            opts=pulumi.ResourceOptions.merge(
                on_host,
                pulumi.ResourceOptions(
                    protect=vm.protect,
                    depends_on=[network.resource for network in request.networks]
                    + [handle.resource for handle in request.filters.values()],
                ),
            ),
        )
        DomainTags(
            f"{self.prefix}-{vm.name}-tags",
            uri=self._uris[host.name],
            domain=domain_name,
            domain_id=domain.id,
            tags=dict(vm.tags),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[domain], protect=vm.protect),
        )
        return VmHandle(name=vm.name, host=host.name, vm_id=domain.id, resource=domain)
