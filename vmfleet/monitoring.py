"""What Prometheus needs to follow the fleet, as the texts `up` writes (components/monitoring.py).

- Targets, for file-based service discovery (`file_sd_configs`): one target group per libvirt host,
  its libvirt exporter's address with the label `hypervisor` (the host's name; not `host`, which
  would clash with the metrics' own label on the node job) and `vmfleet_stack`.
- Metrics, in the text format node_exporter's textfile collector serves (prometheus-client writes
  them): per VM in service, `vmfleet_vm_info{stack, vm, domain, host, owner, project, environment,
  cost_center} 1` and `vmfleet_vm_expires_timestamp_seconds` (the midnight, UTC, after its expires
  date: the VM is in its lease through that day); per host, its cores, memory and overcommit
  ratios; per stack, the thresholds the rules compare with. Retired VMs are left out, so their
  series disappear with the next scrape.
The rules that read them are `monitoring/rules/vmfleet.rules.yml`. Pure: tested directly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from vmfleet import decommission, rules
from vmfleet.plan import VmInstance
from vmfleet.problems import Problem, config_path
from vmfleet.spec import Fleet, Host

LOCAL_EXPORTER = "127.0.0.1:9177"
"""Where scripts/hypervisor.sh runs the local host's libvirt exporter."""
DAY_S = 86400
INFO_LABELS = ("stack", "vm", "domain", "host", "owner", "project", "environment", "cost_center")


@dataclass(frozen=True)
class Thresholds:
    """What the alerting rules compare with, each from its one home."""

    lease_warning_days: int
    """The pack's vm-expiry-notice `warnDays`."""
    idle_cpu_percent: float
    """`vmfleet:audit` `idle_cpu_percent`, the audit's idle threshold."""
    idle_days: int
    """`vmfleet:fleet` `monitoring.idle_days`."""


def exporter_address(host: Host) -> str | None:
    """The host's libvirt exporter: declared, or the local one for a local host; None for neither."""
    if host.exporter:
        return host.exporter
    return LOCAL_EXPORTER if decommission.is_local(host.uri) else None


def problems(fleet: Fleet) -> list[Problem]:
    """With `monitoring`, every libvirt host needs an exporter address: a remote one declares it."""
    if fleet.monitoring is None:
        return []
    found = []
    for pool_position, pool in enumerate(fleet.host_pools):
        for host_position, host in enumerate(pool.hosts):
            if isinstance(host, Host) and exporter_address(host) is None:
                found.append(
                    Problem(
                        config_path(("host_pools", pool_position, "hosts", host_position, "exporter"), fleet),
                        f"host {host.name} ({host.uri}) is remote and declares no exporter, so monitoring would not "
                        f"see it: run prometheus-libvirt-exporter on it and set exporter: <its address>:9177",
                    )
                )
    return found


def targets(fleet: Fleet, stack: str) -> str:
    """The file_sd JSON: a target group for each libvirt host with an exporter."""
    groups = [
        {"targets": [address], "labels": {"hypervisor": host.name, "vmfleet_stack": stack}}
        for pool in fleet.host_pools
        for host in pool.hosts
        if isinstance(host, Host) and (address := exporter_address(host)) is not None
    ]
    return json.dumps(groups, indent=2) + "\n"


def lease_end(expires: str) -> float | None:
    """Epoch seconds of the midnight (UTC) after the `expires` date; None when it is not a date."""
    day = rules.parse_iso_date(expires)
    if day is None:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()


def metrics(
    fleet: Fleet,
    stack: str,
    instances: Sequence[VmInstance],
    host_of: Mapping[str, str],
    domains: Mapping[str, str],
    thresholds: Thresholds,
) -> str:
    """The textfile: `domains` maps each VM to its name on its host (VMs without one are left out)."""
    registry = CollectorRegistry()
    info = Gauge("vmfleet_vm_info", "A VM of the fleet in service, with its ownership.", INFO_LABELS, registry=registry)
    expires = Gauge(
        "vmfleet_vm_expires_timestamp_seconds",
        "When the VM's lease ends: the midnight (UTC) after its expires date.",
        ("stack", "vm", "domain"),
        registry=registry,
    )
    for vm in instances:
        domain = domains.get(vm.name)
        if domain is None or vm.retire is not None:
            continue
        tags = vm.tags
        info.labels(
            stack,
            vm.name,
            domain,
            host_of[vm.name],
            tags.get("owner", ""),
            tags.get("project", ""),
            fleet.environment,
            tags.get("cost_center", ""),
        ).set(1)
        end = lease_end(vm.expires)
        if end is not None:
            expires.labels(stack, vm.name, domain).set(end)
    per_stack = (
        (
            "vmfleet_lease_warning_seconds",
            "The expiry notice window: a lease ending within it warns (whole days, as the policy counts).",
            (thresholds.lease_warning_days + 1) * DAY_S,
        ),
        (
            "vmfleet_vm_idle_cpu_ratio",
            "CPU share of its vCPUs below which a VM is idle.",
            thresholds.idle_cpu_percent / 100,
        ),
        ("vmfleet_vm_idle_seconds", "How long a VM must stay idle to alert.", thresholds.idle_days * DAY_S),
    )
    for name, help_text, value in per_stack:
        Gauge(name, help_text, ("stack",), registry=registry).labels(stack).set(value)
    cores = Gauge("vmfleet_host_cpu_cores", "The host's CPU cores.", ("stack", "host"), registry=registry)
    memory = Gauge("vmfleet_host_memory_bytes", "The host's memory, bytes.", ("stack", "host"), registry=registry)
    cpu_ratio = Gauge(
        "vmfleet_host_cpu_overcommit", "vCPUs the pool allows per core.", ("stack", "host"), registry=registry
    )
    memory_ratio = Gauge(
        "vmfleet_host_memory_overcommit", "Memory the pool allows per byte.", ("stack", "host"), registry=registry
    )
    for pool in fleet.host_pools:
        for node in pool.hosts:
            cores.labels(stack, node.name).set(node.cpu_cores)
            memory.labels(stack, node.name).set(node.memory_mib * 1024 * 1024)
            cpu_ratio.labels(stack, node.name).set(pool.cpu_overcommit)
            memory_ratio.labels(stack, node.name).set(pool.memory_overcommit)
    return generate_latest(registry).decode()
