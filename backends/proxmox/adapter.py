"""The Proxmox VE backend: host pools as clusters, nodes as hosts, VMs as clones of template VMs.

One `proxmoxve.Provider` per cluster (its API endpoint and token; the token is read from a secret
stack config key and stays a secret). Per node that needs them: the template's cloud image
downloaded into the image datastore (`download.File`, content type `import`) and a template VM
made from it, unless the template names an existing template VM. Per VM: a clone of its template
on its node (linked or full, as the cluster declares), sized from the catalog, its NICs on the
cluster's VLAN-aware bridge tagged with each segment's VLAN and with the firewall flag on firewalled
segments, cloud-init (user, keys, password hash, a static segment's planned address, else DHCP),
the full tag document as its description, the mandatory tags as Proxmox tags, and its project's
resource pool. Per cluster: a security group per firewalled segment, an IP set per segment a rule
names as its peer, and a resource pool per project.

Clones of one template on one node take the template's lock: the provider's `clone.retries` makes
Proxmox retry a clone that finds the lock taken (`CLONE_RETRIES`), so clones are not serialised.

Classes and tokens are those of pulumi-proxmoxve 8.3.0 (`proxmoxve:index/vmLegacy:VmLegacy` and so
on; `scripts/sdk_tokens.py` checks the provider built here serves every one). `VmLegacy` is the
provider's full VM resource: the SDK marks its non-legacy `Vm` as an experimental proof of concept
without disks, NICs or cloning.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_proxmoxve as proxmox

from backends.proxmox import access, firewall_rules, names
from backends.proxmox.proxmox_tags import proxmox_tags
from components.backend import FilterHandle, HostHandle, ImageHandle, NetworkHandle, VmHandle, VmRequest
from vmfleet.addressing import NicAddress, default_route
from vmfleet.spec import (
    AccessGrant,
    AccessRole,
    BackupTier,
    Firewall,
    HostPool,
    Node,
    ProxmoxCluster,
    ProxmoxPool,
    Segment,
    Template,
)

OS_TYPES = {"linux": "l26", "windows": "win11", "bsd": "other"}
"""Proxmox's guest OS type for each template `os_family` (it tunes defaults for the guest)."""

CLONE_RETRIES = 5
"""How often Proxmox retries a clone that finds its template locked by another clone."""

SecretLookup = Callable[[str], pulumi.Output[str]]
"""Reads a secret stack config key (`pulumi.Config().require_secret`)."""


class ProxmoxBackend:
    """Creates Proxmox VE resources for the components; every name starts with `prefix`."""

    def __init__(self, prefix: str, secret: SecretLookup) -> None:
        self.prefix = prefix
        self.secret = secret
        self._clusters: dict[str, ProxmoxCluster] = {}
        self._providers: dict[str, proxmox.Provider] = {}
        self._pool_of_node: dict[str, str] = {}
        self._groups: dict[tuple[str, str], FilterHandle] = {}
        self._ip_sets: dict[tuple[str, str], proxmox.firewall.IpsetLegacy] = {}
        self._firewalls: dict[str, Firewall] = {}
        self._resource_pools: dict[tuple[str, str], proxmox.PoolLegacy] = {}
        self._vlans: dict[str, int | None] = {}
        self._vnets: dict[tuple[str, str], proxmox.sdn.Vnet] = {}
        self._zones: dict[str, proxmox.sdn.zone.Vlan] = {}
        self._nodes: dict[str, list[str]] = {}
        self._roles: dict[tuple[str, AccessRole], proxmox.RoleLegacy] = {}
        self._groups_made: dict[tuple[str, str], proxmox.GroupLegacy] = {}
        self._ha_groups: dict[str, proxmox.Hagroup] = {}
        self._ha_resources: dict[str, tuple[pulumi.Output[str], proxmox.Haresource]] = {}

    @staticmethod
    def applies_address(nic: NicAddress) -> bool:
        """On a static segment only: cloud-init configures the NIC with it (`ipconfigN`). On a DHCP
        segment the VLAN's own DHCP server, which vmfleet does not manage, picks the address."""
        return not nic.dhcp

    @staticmethod
    def serves_name(nic: NicAddress) -> bool:
        """Never: a VLAN has no DNS server of vmfleet's; the names belong in the site's DNS."""
        return False

    # ---------------------------------------------------------------------------------- hosts
    def host(self, pool: HostPool, host: Node, parent: pulumi.Resource) -> HostHandle:
        if not isinstance(pool, ProxmoxPool):
            raise TypeError(f"host pool {pool.name} is not a Proxmox VE cluster ({pool.platform})")
        cluster = pool.proxmox
        if pool.name not in self._providers:
            self._clusters[pool.name] = cluster
            self._providers[pool.name] = proxmox.Provider(
                f"{self.prefix}-{pool.name}",
                endpoint=cluster.endpoint,
                api_token=self.secret(cluster.api_token_secret),
                insecure=cluster.insecure,
                opts=pulumi.ResourceOptions(parent=parent),
            )
        self._pool_of_node[host.name] = pool.name
        self._nodes[pool.name] = [node.name for node in pool.hosts]
        return HostHandle(
            name=host.name,
            pool=pool.name,
            backend=self,
            address=f"{cluster.endpoint.rstrip('/')}/nodes/{host.name}",
            provider=self._providers[pool.name],
            storage=pulumi.Output.from_input(cluster.datastore),
            domain_type="kvm",
        )

    def _on(self, host: HostHandle, parent: pulumi.Resource, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=host.provider, **options)

    # ------------------------------------------------------------------------------ templates
    def template_image(self, template: Template, host: HostHandle, parent: pulumi.Resource) -> ImageHandle:
        if template.proxmox_vm_id is not None:
            return ImageHandle(
                template=template.name,
                host=host.name,
                image_id=pulumi.Output.from_input(str(template.proxmox_vm_id)),
                image_format=template.image_format,
                resource=None,
            )
        cluster = self._clusters[host.pool]
        image = proxmox.download.File(
            f"{self.prefix}-{host.name}-{template.name}-image",
            node_name=host.name,
            datastore_id=cluster.image_datastore,
            content_type="import",
            url=template.image_url,
            file_name=names.image_file(self.prefix, template.name, template.version, host.name),
            opts=self._on(host, parent),
        )
        template_vm = proxmox.VmLegacy(
            f"{self.prefix}-{host.name}-{template.name}",
            node_name=host.name,
            name=names.template_vm(self.prefix, template.name, template.version),
            description=f"vmfleet template {template.name} {template.version} (patched {template.patched})",
            template=True,
            started=False,
            on_boot=False,
            disks=[
                proxmox.VmLegacyDiskArgs(
                    interface="scsi0",
                    datastore_id=cluster.datastore,
                    import_from=image.id,
                    size=template.min_disk_gib,
                )
            ],
            serial_devices=[proxmox.VmLegacySerialDeviceArgs(device="socket")],
            opts=self._on(host, parent),
        )
        return ImageHandle(
            template=template.name,
            host=host.name,
            image_id=template_vm.vm_id.apply(str),
            image_format=template.image_format,
            resource=template_vm,
        )

    # ------------------------------------------------------------------------------- segments
    def segment_network(self, segment: Segment, host: HostHandle, parent: pulumi.Resource) -> NetworkHandle:
        """A segment is a VLAN on the cluster's bridge: nothing to create, the NICs carry the tag; or,
        with `sdn`, a VNet of the stack's VLAN zone that NICs attach to as their bridge."""
        if segment.sdn:
            return self._sdn_segment(segment, host, parent)
        bridge = self._clusters[host.pool].bridge
        self._vlans[segment.name] = segment.vlan
        return NetworkHandle(
            segment=segment.name,
            host=host.name,
            network_name=bridge,
            network_id=pulumi.Output.from_input(f"{bridge}/{segment.vlan or 'untagged'}"),
            resource=None,
        )

    def _sdn_segment(self, segment: Segment, host: HostHandle, parent: pulumi.Resource) -> NetworkHandle:
        key = (host.pool, segment.name)
        if key not in self._vnets:
            zone = self._sdn_zone(host, parent)
            vnet = proxmox.sdn.Vnet(
                f"{self.prefix}-{host.pool}-{segment.name}-vnet",
                resource_id=names.sdn_vnet(self.prefix, segment.name),
                zone=zone.resource_id,
                tag=segment.vlan,
                alias=f"{self.prefix}-{segment.name}",
                opts=self._on(host, parent),
            )
            network = ipaddress.IPv4Network(segment.cidr)
            subnet = proxmox.sdn.Subnet(
                f"{self.prefix}-{host.pool}-{segment.name}-subnet",
                vnet=vnet.resource_id,
                cidr=str(network),
                gateway=str(network.network_address + 1),
                opts=self._on(host, parent),
            )
            # Proxmox stages SDN changes until they are applied, cluster-wide.
            proxmox.sdn.Applier(
                f"{self.prefix}-{host.pool}-{segment.name}-sdn-apply",
                on_create=True,
                on_destroy=True,
                opts=self._on(host, parent, depends_on=[zone, vnet, subnet]),
            )
            self._vnets[key] = vnet
        vnet = self._vnets[key]
        self._vlans[segment.name] = None  # the VNet tags the traffic; the NIC does not
        return NetworkHandle(
            segment=segment.name,
            host=host.name,
            network_name=names.sdn_vnet(self.prefix, segment.name),
            network_id=vnet.resource_id.apply(str),
            resource=vnet,
        )

    def _sdn_zone(self, host: HostHandle, parent: pulumi.Resource) -> proxmox.sdn.zone.Vlan:
        if host.pool not in self._zones:
            self._zones[host.pool] = proxmox.sdn.zone.Vlan(
                f"{self.prefix}-{host.pool}-sdn-zone",
                resource_id=names.sdn_zone(self.prefix),
                bridge=self._clusters[host.pool].bridge,
                nodes=self._nodes[host.pool],
                opts=self._on(host, parent),
            )
        return self._zones[host.pool]

    # ------------------------------------------------------------------------------ firewalls
    def firewall_filter(
        self,
        firewall: Firewall,
        segment_cidrs: Mapping[str, ipaddress.IPv4Network],
        host: HostHandle,
        parent: pulumi.Resource,
    ) -> FilterHandle:
        """The segment's security group, once per cluster, and IP sets for the segments it names."""
        self._firewalls[firewall.segment] = firewall
        key = (host.pool, firewall.segment)
        if key not in self._groups:
            segments = sorted(segment_cidrs)
            for peer in firewall_rules.peer_segments([firewall], segments):
                self._ip_set(host, peer, segment_cidrs[peer], parent)
            name = names.security_group(self.prefix, firewall.segment)
            group = proxmox.cluster.firewall.security.GroupLegacy(
                f"{self.prefix}-{host.pool}-{firewall.segment}-group",
                name=name,
                comment=f"vmfleet {self.prefix}: segment {firewall.segment}",
                rules=[
                    proxmox.cluster.firewall.security.GroupLegacyRuleArgs(**rule)
                    for rule in firewall_rules.group_rules(self.prefix, firewall, segments)
                ],
                opts=self._on(host, parent),
            )
            self._groups[key] = FilterHandle(segment=firewall.segment, host=host.name, filter_name=name, resource=group)
        handle = self._groups[key]
        return FilterHandle(
            segment=handle.segment, host=host.name, filter_name=handle.filter_name, resource=handle.resource
        )

    def _ip_set(
        self, host: HostHandle, segment: str, cidr: ipaddress.IPv4Network, parent: pulumi.Resource
    ) -> proxmox.firewall.IpsetLegacy:
        key = (host.pool, segment)
        if key not in self._ip_sets:
            self._ip_sets[key] = proxmox.firewall.IpsetLegacy(
                f"{self.prefix}-{host.pool}-{segment}-ipset",
                name=names.ip_set(self.prefix, segment),
                comment=f"vmfleet {self.prefix}: segment {segment}",
                cidrs=[proxmox.firewall.IpsetLegacyCidrArgs(name=str(cidr))],
                opts=self._on(host, parent),
            )
        return self._ip_sets[key]

    # ------------------------------------------------------------------------------------ VMs
    def _resource_pool(self, host: HostHandle, project: str, parent: pulumi.Resource) -> proxmox.PoolLegacy:
        key = (host.pool, project)
        if key not in self._resource_pools:
            self._resource_pools[key] = proxmox.PoolLegacy(
                f"{self.prefix}-{host.pool}-{project}-pool",
                pool_id=names.resource_pool(self.prefix, project),
                comment=f"vmfleet {self.prefix}: VMs of project {project}",
                opts=self._on(host, parent),
            )
        return self._resource_pools[key]

    def virtual_machine(self, request: VmRequest, parent: pulumi.Resource) -> VmHandle:
        vm, host = request.vm, request.host
        cluster = self._clusters[host.pool]
        project = vm.tags.get("project", "unassigned")
        resource_pool = self._resource_pool(host, project, parent)
        firewalled = [network.segment in request.filters for network in request.networks]
        machine = proxmox.VmLegacy(
            f"{self.prefix}-{vm.name}",
            node_name=host.name,
            name=names.vm(self.prefix, vm.name),
            description=request.metadata,
            tags=proxmox_tags(vm.tags),
            pool_id=resource_pool.pool_id,
            clone=proxmox.VmLegacyCloneArgs(
                vm_id=request.image.image_id.apply(int),
                node_name=request.template.proxmox_node,  # an existing template VM lives on its own node
                full=cluster.clone == "full",
                retries=CLONE_RETRIES,
            ),
            cpu=proxmox.VmLegacyCpuArgs(cores=vm.vcpus, sockets=1, type=cluster.cpu_type),
            operating_system=proxmox.VmLegacyOperatingSystemArgs(type=OS_TYPES[request.template.os_family]),
            memory=proxmox.VmLegacyMemoryArgs(dedicated=vm.memory_mib),
            disks=[proxmox.VmLegacyDiskArgs(interface="scsi0", datastore_id=cluster.datastore, size=vm.disk_gib)],
            network_devices=[
                proxmox.VmLegacyNetworkDeviceArgs(
                    bridge=network.network_name,
                    vlan_id=self._vlans[network.segment],
                    firewall=on_firewall,
                )
                for network, on_firewall in zip(request.networks, firewalled, strict=True)
            ],
            initialization=self._cloud_init(request, cluster),
            on_boot=vm.autostart,
            started=True,
            stop_on_destroy=True,
            opts=self._on(host, parent, protect=vm.protect),
        )
        if request.filters:
            policies = firewall_rules.vm_policies({segment: self._firewalls[segment] for segment in request.filters})
            proxmox.firewall.OptionsLegacy(
                f"{self.prefix}-{vm.name}-firewall",
                node_name=host.name,
                vm_id=machine.vm_id,
                enabled=True,
                dhcp=True,
                input_policy=policies.input_policy,
                output_policy=policies.output_policy,
                opts=self._on(host, parent),
            )
            proxmox.firewall.RulesLegacy(
                f"{self.prefix}-{vm.name}-rules",
                node_name=host.name,
                vm_id=machine.vm_id,
                rules=[
                    proxmox.firewall.RulesLegacyRuleArgs(
                        security_group=request.filters[network.segment].filter_name, iface=f"net{position}"
                    )
                    for position, network in enumerate(request.networks)
                    if network.segment in request.filters
                ],
                opts=self._on(host, parent, depends_on=[handle.resource for handle in request.filters.values()]),
            )
        return VmHandle(name=vm.name, host=host.name, vm_id=machine.vm_id.apply(str), resource=machine)

    # ------------------------------------------------------------------------ cluster services
    def _cluster(self, pool: str, parent: pulumi.Resource, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=self._providers[pool], **options)

    def backup_job(self, tier: BackupTier, pool: str, vms: Sequence[VmHandle], parent: pulumi.Resource) -> None:
        """A vzdump job for the tier's VMs by id, with the tier's schedule, storage, mode and retention."""
        keep = tier.keep
        retention = {
            f"keep-{period}": str(count)
            for period, count in (
                ("last", keep.last),
                ("daily", keep.daily),
                ("weekly", keep.weekly),
                ("monthly", keep.monthly),
                ("yearly", keep.yearly),
            )
            if count
        }
        proxmox.backup.Job(
            f"{self.prefix}-{pool}-{tier.name}-backup",
            resource_id=f"{self.prefix}-{tier.name}",
            schedule=tier.schedule,
            storage=tier.storage,
            mode=tier.mode,
            vmids=[vm.vm_id for vm in vms],
            prune_backups=retention,
            enabled=True,
            opts=self._cluster(pool, parent),
        )

    def high_availability(self, vm: VmHandle, host: HostHandle, parent: pulumi.Resource) -> None:
        """An HA resource on the VM's id that prefers its node: through an HA group that prefers it
        (`ha: groups`, PVE 8) or a node-affinity rule of its own (`ha: rules`, PVE 9), priority 2 on
        its node and 1 on the others, not strict.

        The HA resource depends on the VM, so a destroy removes it first: Proxmox refuses to delete
        a VM that HA still manages; a rule depends on its HA resources, which it must name.
        """
        by_rules = self._clusters[host.pool].ha == "rules"
        resource_id = vm.vm_id.apply(lambda vm_id: f"vm:{vm_id}")
        ha = proxmox.Haresource(
            f"{self.prefix}-{vm.name}-ha",
            resource_id=resource_id,
            state="started",
            group=None if by_rules else self._ha_group(host, parent).group,
            comment=f"vmfleet {self.prefix}: {vm.name} is critical",
            opts=self._cluster(host.pool, parent, depends_on=[vm.resource]),
        )
        self._ha_resources[vm.name] = (resource_id, ha)
        if by_rules:
            proxmox.Harule(
                f"{self.prefix}-{vm.name}-ha-rule",
                rule=names.ha_node_rule(self.prefix, vm.name),
                type="node-affinity",
                resources=[resource_id],
                nodes=self._preferring(host),
                strict=False,
                comment=f"vmfleet {self.prefix}: {vm.name} runs on {host.name} when it is up",
                opts=self._cluster(host.pool, parent, depends_on=[ha]),
            )

    def keep_apart(self, group: str, pool: str, vms: Sequence[VmHandle], parent: pulumi.Resource) -> None:
        """A negative resource-affinity rule over the group's HA resources (`ha: rules`, PVE 9). PVE 8
        HA groups cannot say it (`ha: groups`): there placement alone keeps the VMs apart."""
        if self._clusters[pool].ha != "rules":
            return
        members = [self._ha_resources[vm.name] for vm in vms]
        proxmox.Harule(
            f"{self.prefix}-{group}-ha-apart",
            rule=names.ha_apart_rule(self.prefix, group),
            type="resource-affinity",
            affinity="negative",
            resources=[resource_id for resource_id, _ in members],
            comment=f"vmfleet {self.prefix}: the VMs of group {group} on separate nodes",
            opts=self._cluster(pool, parent, depends_on=[ha for _, ha in members]),
        )

    def _ha_group(self, host: HostHandle, parent: pulumi.Resource) -> proxmox.Hagroup:
        if host.name not in self._ha_groups:
            self._ha_groups[host.name] = proxmox.Hagroup(
                f"{self.prefix}-{host.name}-ha-group",
                group=names.ha_group(self.prefix, host.name),
                nodes=self._preferring(host),
                restricted=False,
                comment=f"vmfleet {self.prefix}: run on {host.name} when it is up",
                opts=self._cluster(host.pool, parent),
            )
        return self._ha_groups[host.name]

    def _preferring(self, host: HostHandle) -> dict[str, int]:
        """HA node priorities that prefer `host`: 2 there, 1 on every other node of its cluster."""
        return {node: (2 if node == host.name else 1) for node in self._nodes[host.pool]}

    def access_grant(
        self,
        grant: AccessGrant,
        pool: str,
        projects: Sequence[str],
        vms: Sequence[VmHandle],
        parent: pulumi.Resource,
    ) -> None:
        """The role (once per cluster), the grant's groups (created), and an ACL per path and grantee."""
        role = self._role(pool, grant.role, parent)
        grantees: list[tuple[str, dict[str, pulumi.Input[str]]]] = [
            (f"group-{group}", {"group_id": self._group(pool, group, parent).group_id}) for group in grant.groups
        ]
        grantees += [(f"user-{user}", {"user_id": user}) for user in grant.users]
        paths: list[tuple[str, pulumi.Input[str]]] = [
            (f"pool-{project}", access.pool_path(names.resource_pool(self.prefix, project))) for project in projects
        ]
        paths += [(f"vm-{vm.name}", vm.vm_id.apply(access.vm_path)) for vm in vms]
        if not grant.projects and not grant.vm_groups:
            paths = [("cluster", access.CLUSTER_PATH)]
        for path_key, path in paths:
            for grantee_key, grantee in grantees:
                proxmox.Acl(
                    f"{self.prefix}-{pool}-{grant.role}-{grantee_key}-{path_key}",
                    path=path,
                    role_id=role.role_id,
                    propagate=True,
                    **grantee,
                    opts=self._cluster(pool, parent, depends_on=[vm.resource for vm in vms]),
                )

    def _role(self, pool: str, role: AccessRole, parent: pulumi.Resource) -> proxmox.RoleLegacy:
        if (pool, role) not in self._roles:
            self._roles[(pool, role)] = proxmox.RoleLegacy(
                f"{self.prefix}-{pool}-{role}-role",
                role_id=access.role_id(self.prefix, role),
                privileges=list(access.PRIVILEGES[role]),
                opts=self._cluster(pool, parent),
            )
        return self._roles[(pool, role)]

    def _group(self, pool: str, group: str, parent: pulumi.Resource) -> proxmox.GroupLegacy:
        if (pool, group) not in self._groups_made:
            self._groups_made[(pool, group)] = proxmox.GroupLegacy(
                f"{self.prefix}-{pool}-{group}-group",
                group_id=group,
                comment=f"vmfleet {self.prefix}: members get the roles granted to {group}",
                opts=self._cluster(pool, parent),
            )
        return self._groups_made[(pool, group)]

    @staticmethod
    def _cloud_init(request: VmRequest, cluster: ProxmoxCluster) -> proxmox.VmLegacyInitializationArgs:
        """Proxmox's own cloud-init: one user with keys and password hash, and per NIC (`ipconfigN`,
        in segment order) its planned address on a static segment or DHCP on a DHCP one.

        On a static segment the NIC gets `<address>/<prefix length>`; the default route is
        `addressing.default_route`'s, through the segment's gateway (its first address). DNS is left
        unset, so Proxmox gives the guest its node's resolvers and search domain (`qm` docs:
        `nameserver`, `searchdomain`). Packages and commands need a user-data snippet uploaded over
        SSH, which this backend does not do; validation refuses them on Proxmox pools
        (vmfleet/operations.py).
        """
        nics = [request.addresses[network.segment] for network in request.networks]
        routed = default_route(nics)
        users = request.vm.cloud_init.users
        account = None
        if users:
            user = users[0]
            account = proxmox.VmLegacyInitializationUserAccountArgs(
                username=user.name,
                keys=list(user.ssh_authorized_keys),
                password=request.password_hashes.get(user.name),
            )
        return proxmox.VmLegacyInitializationArgs(
            datastore_id=cluster.datastore,
            ip_configs=[ProxmoxBackend._ip_config(nic, nic is routed) for nic in nics],
            user_account=account,
        )

    @staticmethod
    def _ip_config(nic: NicAddress, routes_default: bool) -> proxmox.VmLegacyInitializationIpConfigArgs:
        if nic.dhcp:
            ipv4 = proxmox.VmLegacyInitializationIpConfigIpv4Args(address="dhcp")
        else:
            ipv4 = proxmox.VmLegacyInitializationIpConfigIpv4Args(
                address=f"{nic.address}/{nic.prefix_length}", gateway=nic.gateway if routes_default else None
            )
        return proxmox.VmLegacyInitializationIpConfigArgs(ipv4=ipv4)
