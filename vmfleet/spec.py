"""The typed fleet declaration: what a stack's `vmfleet:fleet` config value may contain.

These models check shape and ranges only (unknown keys, types, units, enumerations). Everything that
needs the whole declaration at once (references, duplicates, overlapping CIDRs, capacity) is checked
by `vmfleet.validate` on the parsed result, so both kinds of error carry a config path.
Units are part of the key names: `memory_mib`, `disk_gib`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from vmfleet import rules


def _date_to_text(value: Any) -> Any:
    """YAML readers turn `2027-01-31` into a date; tags and versions are text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Name = Annotated[str, Field(pattern=rules.NAME_PATTERN, min_length=1, max_length=40)]
DATASTORE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
GroupName = Annotated[str, Field(pattern=rules.NAME_PATTERN, min_length=1, max_length=24)]
"""A VM group's name is shorter: its VMs' names add `-` and up to four digits, the host-side ones a prefix.
(Its own type, because a `Field(max_length=...)` on a `Name` field is overridden by `Name`'s own limit.)"""
TagText = Annotated[str, BeforeValidator(_date_to_text)]
Tags = dict[str, TagText]


class Strict(BaseModel):
    """Every declaration section rejects unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Node(Strict):
    """What placement needs of any hypervisor host: its name and what it offers to VMs."""

    name: Name
    cpu_cores: int = Field(ge=1, le=1024, description="Physical cores offered to VMs.")
    memory_mib: int = Field(ge=256, le=16 * 1024 * 1024, description="Memory offered to VMs, MiB.")


class Host(Node):
    """One hypervisor host reached through libvirt."""

    uri: str = Field(
        default="qemu:///system",
        pattern=r"^qemu(\+(ssh|tcp|tls|unix|libssh2?))?://[^\s]*/(system|session)(\?\S*)?$",
        description="libvirt connection URI, e.g. qemu:///system or qemu+ssh://ops@kvm-01/system.",
    )
    storage_dir: str = Field(
        pattern=r"^/[^\s]*$", description="Directory of the libvirt storage pool made for this stack."
    )
    domain_type: Literal["kvm", "qemu", "auto"] = Field(
        default="kvm",
        description="kvm (hardware virtualization), qemu (software emulation) or auto (kvm when the host offers it).",
    )
    exporter: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$",
        description="host:port of the host's Prometheus libvirt exporter; a local host's default is "
        "127.0.0.1:9177 (started by scripts/hypervisor.sh).",
    )


class ProxmoxNode(Node):
    """A node of a Proxmox VE cluster, by the name the cluster knows it by (`pvecm nodes`)."""


class ProxmoxCluster(Strict):
    """How to reach a Proxmox VE cluster and where its VMs' disks and images go."""

    endpoint: str = Field(
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$",
        description="The cluster's API address, e.g. https://pve-01.dc1.example.com:8006/.",
    )
    api_token_secret: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$",
        description="Name of a *secret* stack config key holding the API token `user@realm!id=secret`.",
    )
    insecure: bool = Field(default=False, description="Accept a self-signed TLS certificate.")
    datastore: str = Field(default="local-lvm", pattern=DATASTORE_PATTERN, description="Datastore of VM disks.")
    image_datastore: str = Field(
        default="local", pattern=DATASTORE_PATTERN, description="Datastore that cloud images are downloaded to."
    )
    clone: Literal["linked", "full"] = Field(
        default="linked", description="linked (copy-on-write, needs a datastore that supports it) or full copies."
    )
    cpu_type: str = Field(
        default="x86-64-v2-AES",
        pattern=r"^[A-Za-z0-9_.+-]{1,40}$",
        description="The virtual CPU model of the cluster's VMs; the default runs current distributions "
        "(RHEL 9 needs x86-64-v2) and migrates between recent nodes; `host` gives the node's own CPU.",
    )
    bridge: str = Field(
        default="vmbr0",
        pattern=r"^[a-z][a-z0-9]{0,9}$",
        description="The VLAN-aware Linux bridge on every node that VM NICs attach to, tagged with the segment's vlan.",
    )
    ha: Literal["groups", "rules"] = Field(
        default="groups",
        description="How critical VMs prefer their node: `groups` (Proxmox VE 8: an HA group per node) or `rules` "
        "(Proxmox VE 9: a node-affinity rule per VM, and a negative resource-affinity rule per critical "
        "anti_affinity group, which keeps its VMs on separate nodes through HA recoveries too).",
    )


class HostPool(Strict):
    """Hosts that share placement: VMs of the pool are spread over them by capacity."""

    name: Name
    platform: str
    hosts: Sequence[Node]
    cpu_overcommit: float = Field(default=4.0, ge=1.0, le=32.0)
    memory_overcommit: float = Field(default=1.0, ge=1.0, le=4.0)


class LibvirtPool(HostPool):
    """KVM/QEMU hosts, each reached through its own libvirt connection."""

    platform: Literal["libvirt"] = "libvirt"
    hosts: list[Host] = Field(min_length=1)


class ProxmoxPool(HostPool):
    """The nodes of one Proxmox VE cluster, reached through the cluster's API."""

    platform: Literal["proxmox"]
    proxmox: ProxmoxCluster
    hosts: list[ProxmoxNode] = Field(min_length=1)


PLATFORMS: dict[str, type[HostPool]] = {"libvirt": LibvirtPool, "proxmox": ProxmoxPool}
"""Each `platform` a host pool may declare, and its model."""
PLATFORM_ERROR = "platform"
"""Pydantic's error type for a host pool whose `platform` is none of `PLATFORMS`."""


def _platform_of(value: Any) -> str:
    platform = value.get("platform", "libvirt") if isinstance(value, dict) else getattr(value, "platform", "libvirt")
    return platform if platform in PLATFORMS else "unknown"


AnyHostPool = Annotated[
    Annotated[LibvirtPool, Tag("libvirt")] | Annotated[ProxmoxPool, Tag("proxmox")],
    Discriminator(
        _platform_of,
        custom_error_type=PLATFORM_ERROR,
        custom_error_message=f"platform must be one of {', '.join(PLATFORMS)}",
    ),
]
"""A host pool, of the model its `platform` names (libvirt when it names none)."""


class Size(Strict):
    """A named VM size from the stack's catalog."""

    name: Name
    vcpus: int = Field(ge=1, le=256)
    memory_mib: int = Field(ge=64, le=4 * 1024 * 1024)
    disk_gib: int = Field(ge=1, le=65536)


class Template(Strict):
    """A golden image that VMs are cloned from (copy-on-write)."""

    name: Name
    image_path: str | None = Field(default=None, pattern=r"^/[^\s]*$")
    image_url: str | None = Field(default=None, pattern=r"^(https?|file)://\S+$")
    image_format: Literal["qcow2", "raw"] = "qcow2"
    os_family: Literal["linux", "bsd", "windows"]
    default_size: Name
    version: TagText = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    patched: dt.date = Field(description="Date of the image's last build or patch run (YYYY-MM-DD).")
    min_disk_gib: int = Field(
        default=1,
        ge=1,
        le=65536,
        description="Virtual size of the image, GiB; VM disks must be at least this. For an image_path the "
        "file's own virtual size (read with qemu-img at preview) counts when it is larger; for an image_url "
        "this is the only figure known before deployment.",
    )

    proxmox_vm_id: int | None = Field(
        default=None,
        ge=100,
        le=999_999_999,
        description="An existing template VM on a Proxmox VE cluster to clone, instead of an image.",
    )
    proxmox_node: Name | None = Field(default=None, description="The node that holds proxmox_vm_id.")

    @model_validator(mode="after")
    def _one_image_source(self) -> Template:
        given = {
            key: value
            for key, value in (
                ("image_path", self.image_path),
                ("image_url", self.image_url),
                ("proxmox_vm_id", self.proxmox_vm_id),
            )
            if value is not None
        }
        if len(given) != 1:
            found = ", ".join(f"{key} {value!r}" for key, value in given.items()) or "none of them"
            raise ValueError(
                f"found {found}; give exactly one of image_path (a local file), image_url, or proxmox_vm_id "
                "(an existing Proxmox template VM)"
            )
        if (self.proxmox_vm_id is None) != (self.proxmox_node is None):
            raise ValueError("proxmox_vm_id and proxmox_node go together: the template VM and the node holding it")
        return self

    @property
    def image_source(self) -> str:
        """The path or URL the base volume is made from."""
        return self.image_path or self.image_url or ""


DNS_DOMAIN_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
"""A DNS domain of two labels or more, lower case: `dev.vmfleet.internal` (at most 200 characters)."""


def parse_address_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """`"10.0.0.5"` -> (10.0.0.5, 10.0.0.5); `"10.0.0.5-10.0.0.9"` -> (10.0.0.5, 10.0.0.9)."""
    first, _, last = text.partition("-")
    try:
        low, high = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address((last or first).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an address or a range such as 10.77.1.200-10.77.1.254") from None
    if low > high:
        raise ValueError(f"range {text!r} runs high to low; write the lower address first")
    return low, high


class Segment(Strict):
    """A network segment: one libvirt network per host that has a VM on it."""

    name: Name
    cidr: ipaddress.IPv4Network
    mode: Literal["isolated", "nat", "routed"] = "isolated"
    dhcp: bool = True
    vlan: int | None = Field(
        default=None, ge=1, le=4094, description="VLAN id: Proxmox VE NICs are tagged with it; libvirt records it."
    )
    sdn: bool = Field(
        default=False,
        description="Proxmox VE: make the segment an SDN VNet with a subnet (a VLAN zone on the cluster's bridge) "
        "instead of a VLAN tag on each NIC; needs a vlan.",
    )
    reserved: list[str] = Field(
        default_factory=list,
        description="Addresses kept for static use (appliances, a VIP): never given to a VM nor leased by DHCP; "
        "each an address or a range `10.77.1.200-10.77.1.254`.",
    )
    dns_domain: str | None = Field(
        default=None,
        pattern=DNS_DOMAIN_PATTERN,
        max_length=200,
        description="The DNS domain of the segment's VMs; default `<segment>.<the fleet's dns_domain>`.",
    )

    @model_validator(mode="after")
    def _room_for_hosts(self) -> Segment:
        if self.cidr.prefixlen > 29:
            raise ValueError(f"found cidr {self.cidr}, too small; use a /29 or larger network")
        gateway = self.cidr.network_address + 1
        for text in self.reserved:
            low, high = parse_address_range(text)
            if low not in self.cidr or high not in self.cidr:
                raise ValueError(f"reserved {text!r} lies outside the segment's cidr {self.cidr}")
            if low <= gateway <= high:
                raise ValueError(f"reserved {text!r} holds the gateway {gateway}, which is the network's own")
        return self

    def reserved_ranges(self) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
        """The `reserved` entries as (first, last) address pairs."""
        return [parse_address_range(text) for text in self.reserved]


Protocol = Literal["tcp", "udp", "icmp", "all"]


class FirewallRule(Strict):
    """One allowed flow. `peer` is `any`, a CIDR, or the name of another segment."""

    protocol: Protocol = "tcp"
    ports: list[Annotated[str, BeforeValidator(_date_to_text)]] = Field(default_factory=list)
    peer: str = "any"
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _single_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("ports"), (int, str)):
            return {**data, "ports": [data["ports"]]}
        return data

    @model_validator(mode="after")
    def _ports_fit_protocol(self) -> FirewallRule:
        if self.ports and self.protocol not in ("tcp", "udp"):
            raise ValueError(
                f"found ports {self.ports} with protocol {self.protocol!r}; ports only apply to tcp and udp"
            )
        for port in self.ports:
            parse_port_range(port)
        return self

    def port_ranges(self) -> list[tuple[int, int]]:
        """Ports as (first, last) pairs; empty means every port."""
        return [parse_port_range(port) for port in self.ports]


def parse_port_range(text: str) -> tuple[int, int]:
    """`"443"` -> (443, 443); `"8000-8080"` -> (8000, 8080)."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"port {text!r} is not a number or a range such as 8000-8080") from None
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"port range {text!r} must lie within 1-65535, low to high")
    return low, high


class Firewall(Strict):
    """The rule set that filters every VM interface on one segment."""

    segment: Name
    default_ingress: Literal["drop", "accept"] = "drop"
    default_egress: Literal["drop", "accept"] = "accept"
    ingress: list[FirewallRule] = Field(default_factory=list)
    egress: list[FirewallRule] = Field(default_factory=list)


class Resources(Strict):
    """An explicit size for one VM group, within the catalog's smallest and largest sizes."""

    vcpus: int | None = Field(default=None, ge=1)
    memory_mib: int | None = Field(default=None, ge=64)
    disk_gib: int | None = Field(default=None, ge=1)


class User(Strict):
    """A login account written into cloud-init."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_authorized_keys: list[str] = Field(default_factory=list)
    sudo: bool = False
    password_secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$",
        description="Name of a secret stack config key (`pulumi config set --secret KEY`) holding the password hash.",
    )


class CloudInit(Strict):
    """First-boot configuration; the hostname is the VM's name."""

    users: list[User] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)
    run: list[str] = Field(default_factory=list, description="Commands run once at first boot.")


class Retirement(Strict):
    """Why a VM group is decommissioned, and whether its disks are copied to the archive."""

    reason: str = Field(min_length=3, max_length=500, description="Why, for the decommission record.")
    archive: bool = Field(default=True, description="Copy a final backup of each disk to the archive.")


class UnretiredRemoval(Strict):
    """A group removed without being retired first: its VMs are destroyed at once. Logged."""

    group: GroupName
    reason: str = Field(min_length=3, max_length=500)


class VmGroup(Strict):
    """`count` identical VMs named `<name>-01`, `<name>-02`, ... `<name>-99`, `<name>-100`, ..."""

    name: GroupName
    count: int = Field(
        default=1,
        ge=0,
        le=rules.MAX_VM_COUNT,
        description=f"How many VMs, 0-{rules.MAX_VM_COUNT}; growing or shrinking keeps the names of the VMs that stay.",
    )
    pool: Name
    template: Name
    size: Name | None = None
    resources: Resources | None = None
    segments: list[Name] = Field(min_length=1)
    host: Name | None = Field(default=None, description="Pin every VM of the group to this host.")
    cloud_init: CloudInit = Field(default_factory=CloudInit)
    tags: Tags = Field(default_factory=dict)
    protect: bool | None = None
    autostart: bool = True
    critical: bool = Field(
        default=False, description="High availability: the cluster restarts the VMs elsewhere when a node fails."
    )
    anti_affinity: bool = Field(
        default=False,
        description="Keep the group's VMs on different hosts of its pool, so one host failing takes one of them; "
        "needs a host per VM. VMs already sharing a host stay (a move rebuilds a VM); the run warns.",
    )
    retire: Retirement | None = Field(
        default=None,
        description="Decommission the group: the next `up` shuts its VMs down, archives them and takes them out "
        "of DHCP, DNS, backups and monitoring; removing the group afterwards destroys them.",
    )


class Retention(Strict):
    """How many backups of each VM a tier keeps (Proxmox prune options `keep-*`)."""

    last: int = Field(default=0, ge=0, le=1000)
    daily: int = Field(default=0, ge=0, le=1000)
    weekly: int = Field(default=0, ge=0, le=1000)
    monthly: int = Field(default=0, ge=0, le=1000)
    yearly: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not any((self.last, self.daily, self.weekly, self.monthly, self.yearly)):
            raise ValueError(
                "a backup tier must keep backups: set at least one of last, daily, weekly, monthly, yearly"
            )
        return self


class BackupTier(Strict):
    """A backup schedule with its retention; VMs join a tier with the `backup` tag."""

    name: Name
    schedule: str = Field(
        pattern=r"^[A-Za-z0-9*:,./ -]{1,64}$",
        description="systemd calendar event, e.g. `*-*-* 01:30` or `sat 02:00`.",
    )
    storage: str = Field(pattern=DATASTORE_PATTERN, description="Backup storage (a PBS or a directory datastore).")
    mode: Literal["snapshot", "suspend", "stop"] = "snapshot"
    keep: Retention


AccessRole = Literal["vm-user", "vm-admin", "infra-admin", "security-admin"]
"""The four roles of a virtualized estate (README, "Proxmox VE"):
vm-user: console, power and audit on their VMs; vm-admin: manage the VMs of their projects' pools;
infra-admin: nodes, storage, network and shared resources; security-admin: audit everything,
change firewall and access configuration."""


class AccessGrant(Strict):
    """People or groups given one role, over a scope the role allows."""

    role: AccessRole
    groups: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]] = Field(default_factory=list)
    users: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+$")]] = Field(
        default_factory=list, description="Existing users, `name@realm`; they join the role's group."
    )
    projects: list[str] = Field(
        default_factory=list, description="vm-user, vm-admin: the projects (resource pools) whose VMs they get."
    )
    vm_groups: list[Name] = Field(default_factory=list, description="vm-user: VM groups whose VMs they get.")

    @model_validator(mode="after")
    def _someone(self) -> AccessGrant:
        if not (self.groups or self.users):
            raise ValueError("an access grant needs groups or users to give the role to")
        return self


class Defaults(Strict):
    """Stack-wide defaults that VM groups may override."""

    tags: Tags = Field(default_factory=dict)
    protect: bool = False


class SnapshotPolicy(Strict):
    """Snapshots `make up` takes of a running VM before it updates or replaces it, and how long
    they are kept (`backends/libvirt/snapshots.py`)."""

    before_change: bool = Field(default=True, description="Snapshot a running VM before an update or replacement.")
    keep: int = Field(default=3, ge=1, le=50, description="At most this many vmfleet snapshots per VM (newest kept).")
    max_age_days: int = Field(
        default=14, ge=1, le=3650, description="vmfleet snapshots older than this many days are deleted."
    )


class Monitoring(Strict):
    """Prometheus that follows the fleet (`vmfleet.monitoring`): `up` writes the file-based service
    discovery targets of every host's libvirt exporter and the VMs' info metrics, for node_exporter's
    textfile collector, on the machine that runs it."""

    targets_dir: str = Field(
        default="/var/lib/vmfleet/prometheus", pattern=r"^/[^\s]*$", description="file_sd: <stack>-libvirt.json."
    )
    textfile_dir: str = Field(
        default="/var/lib/prometheus/node-exporter",
        pattern=r"^/[^\s]*$",
        description="node_exporter's --collector.textfile.directory: vmfleet-<stack>.prom.",
    )
    idle_days: int = Field(default=7, ge=1, le=30, description="Days below the idle CPU share before VmfleetVmIdle.")


class Fleet(Strict):
    """The whole virtual-machine estate of one stack."""

    environment: str = Field(pattern=rules.ENVIRONMENT_PATTERN)
    name_prefix: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{0,15}$",
        description="Prefix of every name created on the hosts; defaults to the environment.",
    )
    dns_domain: str | None = Field(
        default=None,
        pattern=DNS_DOMAIN_PATTERN,
        max_length=200,
        description="The DNS domain under which each segment's VMs are named (`web-01.web.<dns_domain>`); "
        "default `<prefix>.vmfleet.internal`.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    host_pools: list[AnyHostPool] = Field(min_length=1)
    sizes: list[Size] = Field(min_length=1)
    templates: list[Template] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    firewalls: list[Firewall] = Field(default_factory=list)
    backup_tiers: list[BackupTier] = Field(default_factory=list)
    access: list[AccessGrant] = Field(default_factory=list)
    vms: list[VmGroup] = Field(default_factory=list)
    snapshots: SnapshotPolicy = Field(default_factory=SnapshotPolicy)
    archive_dir: str = Field(
        default="/var/lib/vmfleet/archive",
        pattern=r"^/[^\s]*$",
        description="Where decommissions write their archives and records, on the machine that runs `up`.",
    )
    monitoring: Monitoring | None = Field(
        default=None, description="Write Prometheus targets and metrics for the fleet (README: Monitoring)."
    )
    remove_unretired: list[UnretiredRemoval] = Field(
        default_factory=list,
        description="Groups removed without a decommission, on purpose (the override of the retire gate).",
    )

    @property
    def prefix(self) -> str:
        """What every host-side name starts with."""
        return self.name_prefix or self.environment

    @property
    def domain(self) -> str:
        """The DNS domain the segments' domains are under."""
        return self.dns_domain or f"{self.prefix}.vmfleet.internal"
