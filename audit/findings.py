"""The audit's judgement: what the hosts hold, set against the declaration, the state and the thresholds.

Pure: records in (`audit.inventory`), a `Report` out; no host, file or clock is read here (`now`
is given), so every finding is tested directly. Each finding kind, its severity and its meaning is
in `KINDS`; the README's audit section lists the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from audit.inventory import CpuSample, HostInventory, RecordedVm, Unreachable, VmOnHost
from audit.settings import Thresholds
from vmfleet import rules
from vmfleet.plan import VmInstance
from vmfleet.spec import Fleet

Severity = Literal["violation", "warning"]

KINDS: dict[str, tuple[Severity, str]] = {
    "unmanaged": ("violation", "a VM on a stack host that no stack manages (sprawl)"),
    "leftover": ("violation", "a VM marked as this stack's that its state does not record"),
    "tag-drift": ("violation", "a managed VM whose tags on the host differ from the declaration"),
    "tags-not-deployed": ("warning", "the declaration changed a VM's tags and no `make up` has written them yet"),
    "missing-tags": ("violation", "a VM without a mandatory tag, or with one whose value breaks the rules"),
    "malformed-metadata": ("violation", "a VM whose metadata on the host cannot be read as tags"),
    "expired": ("violation", "a VM past its expires date"),
    "expiring": ("warning", "a VM that expires within the notice window"),
    "idle": ("warning", "a running VM whose CPU use stayed below the threshold over the sampling window"),
    "shut-off": ("violation", "a VM shut off for longer than the allowed days"),
    "old-snapshot": ("violation", "a VM keeping snapshots older than the retention"),
    "stale-template": ("violation", "a template patched longer ago than its maximum age, with VMs on it"),
    "stale-template-unused": ("warning", "a template past its maximum age that no VM runs on"),
    "overcommit": ("violation", "a host whose VMs are given more than its declared capacity and overcommit"),
}
"""Finding kind -> (severity, what it means). A violation is out of rule; a warning is for people."""

THIS_STACK = "this stack"
LEFTOVER = "this stack (not in its state)"
NOBODY = "nobody"
OTHER_STACK = "stack "
"""How `VmRow.managed_by` starts for another vmfleet stack's VM (`stack dev-2`)."""


@dataclass(frozen=True)
class Finding:
    """One thing out of rule (or worth a warning), with what was found and how to fix it."""

    kind: str
    subject: str
    """What it is about: a VM's name on its host, a template's or a host's name."""
    found: str
    fix: str
    host: str | None = None
    owner: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return KINDS[self.kind][0]


@dataclass(frozen=True)
class VmRow:
    """One VM of the estate as the report lists it."""

    host: str
    name: str
    managed_by: str
    """`this stack`, `this stack (not in its state)`, `stack <prefix>` or `nobody`."""
    state: str
    vcpus: int
    memory_mib: int
    disk_gib: float
    vm: str | None = None
    """Its name in the declaration, for this stack's VMs."""
    memory_used_mib: float | None = None
    owner: str | None = None
    expires: str | None = None
    days_left: int | None = None
    cpu_percent: float | None = None
    age_days: int | None = None
    age_source: str | None = None
    """Where the age was read: `state` (when the stack created it), `disk birth time`, `oldest snapshot`."""
    shut_off_days: int | None = None
    snapshots: int = 0
    oldest_snapshot_days: int | None = None
    oldest_snapshot_at: dt.datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class HostRow:
    """Consolidation of one host: every VM on it counts, whoever manages it."""

    pool: str
    host: str
    address: str
    vms: int
    running: int
    managed: int
    """VMs of this stack."""
    other_stacks: int
    unmanaged: int
    cpu_cores: int
    """Cores the declaration offers to VMs."""
    host_cpus: int
    """Logical CPUs the host reports."""
    vcpus_allocated: int
    vcpus_running: int
    cpu_limit: float
    """cpu_cores x the pool's cpu_overcommit."""
    memory_mib: int
    """Memory the declaration offers to VMs, MiB."""
    host_memory_mib: int
    host_memory_free_mib: int | None
    memory_allocated_mib: int
    memory_used_mib: float
    """Resident memory of the running VMs, MiB."""
    memory_limit_mib: float

    @property
    def vcpus_per_core(self) -> float:
        return round(self.vcpus_allocated / self.cpu_cores, 2)


@dataclass(frozen=True)
class TemplateRow:
    name: str
    version: str
    patched: dt.date
    age_days: int
    max_age_days: int
    vms: tuple[str, ...]

    @property
    def stale(self) -> bool:
        return self.age_days > self.max_age_days


@dataclass(frozen=True)
class Report:
    """The whole audit of one stack."""

    stack: str
    generated_at: dt.datetime
    thresholds: Thresholds
    hosts: tuple[HostRow, ...]
    vms: tuple[VmRow, ...]
    templates: tuple[TemplateRow, ...]
    findings: tuple[Finding, ...]
    unreachable: tuple[Unreachable, ...] = ()
    not_audited: tuple[str, ...] = ()
    """Host pools no inventory could read (a platform without an audit yet), in words."""
    idle_sampled: bool = True

    @property
    def violations(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "violation"]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "warning"]

    @property
    def partial(self) -> bool:
        return bool(self.unreachable or self.not_audited)

    @property
    def exit_code(self) -> int:
        """0: all in rule; +1: a violation; +2: partial (a host unreachable or a pool not audited)."""
        return (1 if self.violations else 0) + (2 if self.partial else 0)

    def owners(self) -> dict[str, list[VmRow]]:
        """Owner -> their VMs that expired or expire within the notice window, soonest first."""
        by_owner: dict[str, list[VmRow]] = {}
        for row in self.vms:
            judged = not row.managed_by.startswith(OTHER_STACK)
            if judged and row.days_left is not None and row.days_left <= self.thresholds.warn_days:
                by_owner.setdefault(row.owner or "(no owner)", []).append(row)
        return {owner: sorted(rows, key=lambda row: row.days_left or 0) for owner, rows in sorted(by_owner.items())}


def cpu_percent(first: CpuSample, second: CpuSample) -> dict[str, float]:
    """VM name -> CPU use between two samples of one host, as % of its vCPUs (100 = all busy)."""
    elapsed_ns = (second.at - first.at) * 1e9
    if elapsed_ns <= 0:
        return {}
    use: dict[str, float] = {}
    for name, end in second.cpu_time_ns.items():
        start = first.cpu_time_ns.get(name)
        if start is None or end < start:
            continue  # started, or restarted, between the samples
        vcpus = max(1, second.vcpus.get(name, 1))
        use[name] = round((end - start) / (elapsed_ns * vcpus) * 100, 2)
    return use


@dataclass(frozen=True)
class Estate:
    """What the audit read: the declaration, the state, the hosts and the CPU samples."""

    stack: str
    fleet: Fleet
    declared: Sequence[VmInstance]
    recorded: Mapping[str, RecordedVm]
    hosts: Sequence[HostInventory]
    cpu: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """(host, VM name on the host) -> CPU use %, for the VMs sampled."""
    unreachable: Sequence[Unreachable] = ()
    not_audited: Sequence[str] = ()
    idle_sampled: bool = True


def judge(estate: Estate, thresholds: Thresholds, now: dt.datetime) -> Report:
    """Every finding about `estate` at `now` (UTC), with the rows the formats print."""
    judge_ = _Judge(estate, thresholds, now)
    rows = [judge_.vm(host, vm) for host in estate.hosts for vm in host.vms]
    hosts = [judge_.host(host) for host in estate.hosts]
    templates = judge_.templates()
    order = {kind: position for position, kind in enumerate(KINDS)}
    findings = sorted(
        judge_.findings,
        key=lambda f: (f.severity != "violation", order[f.kind], f.host or "", f.subject),
    )
    return Report(
        stack=estate.stack,
        generated_at=now,
        thresholds=thresholds,
        hosts=tuple(hosts),
        vms=tuple(sorted(rows, key=lambda row: (row.host, row.name))),
        templates=tuple(templates),
        findings=tuple(findings),
        unreachable=tuple(estate.unreachable),
        not_audited=tuple(estate.not_audited),
        idle_sampled=estate.idle_sampled,
    )


class _Judge:
    def __init__(self, estate: Estate, thresholds: Thresholds, now: dt.datetime) -> None:
        self.estate = estate
        self.limits = thresholds
        self.now = now
        self.today = now.date()
        self.prefix = estate.fleet.prefix
        self.declared = {vm.name: vm for vm in estate.declared}
        self.findings: list[Finding] = []
        self.on_hosts: dict[str, set[str]] = {}
        """Declared template -> this stack's VMs on it found on the hosts."""

    def add(self, kind: str, subject: str, found: str, fix: str, **extra: Any) -> None:
        self.findings.append(Finding(kind=kind, subject=subject, found=found, fix=fix, **extra))

    def vm(self, host: HostInventory, vm: VmOnHost) -> VmRow:
        recorded = self.estate.recorded.get(vm.name) if vm.stack_prefix == self.prefix else None
        declared = self.declared.get(recorded.vm) if recorded else None
        if vm.stack_prefix == self.prefix:
            managed_by = THIS_STACK if recorded else LEFTOVER
        elif vm.stack_prefix is not None:
            managed_by = f"{OTHER_STACK}{vm.stack_prefix}"
        else:
            managed_by = NOBODY
        tags = dict(declared.tags) if declared else dict(vm.tags or {})
        age_days, age_source = self._age(vm, recorded)
        owner = tags.get("owner") or None
        expires = rules.parse_iso_date(tags.get("expires", ""))
        row = VmRow(
            host=host.host,
            name=vm.name,
            managed_by=managed_by,
            state=vm.state,
            vcpus=vm.vcpus,
            memory_mib=vm.memory_mib,
            disk_gib=vm.disk_gib,
            vm=recorded.vm if recorded else None,
            memory_used_mib=vm.memory_used_mib,
            owner=owner,
            expires=tags.get("expires") or None,
            days_left=(expires - self.today).days if expires else None,
            cpu_percent=self.estate.cpu.get((host.host, vm.name)),
            age_days=age_days,
            age_source=age_source,
            shut_off_days=self._days_since(vm.last_written) if vm.state == "shut off" else None,
            snapshots=len(vm.snapshots),
            oldest_snapshot_days=self._days_since(vm.snapshots[0].created) if vm.snapshots else None,
            oldest_snapshot_at=vm.snapshots[0].created if vm.snapshots else None,
            tags=dict(sorted((vm.tags or {}).items())),
            description=vm.description,
        )
        if managed_by.startswith(OTHER_STACK):
            return row  # another stack's: its own audit judges it; it counts in consolidation here
        if declared:
            self.on_hosts.setdefault(declared.template, set()).add(vm.name)
        self._ownership(host, vm, row)
        self._tags(host, vm, row, tags, recorded, declared)
        self._lifecycle(host, vm, row)
        return row

    def _ownership(self, host: HostInventory, vm: VmOnHost, row: VmRow) -> None:
        """Sprawl and leftovers (a VM removed from the declaration is the next `up`'s to destroy: not here)."""
        size = f"{vm.vcpus} vCPU, {vm.memory_mib} MiB, {vm.disk_gib:g} GiB disk"
        age = f"{row.age_days} days old ({row.age_source})" if row.age_days is not None else "age unknown"
        if row.managed_by == NOBODY:
            carries = ", ".join(f"{k}={v}" for k, v in sorted((vm.tags or {}).items())) or "no tags"
            said = f'; description "{vm.description}"' if vm.description else ""
            self.add(
                "unmanaged",
                vm.name,
                f"{vm.state}, {size}, {age}; {carries}{said}",
                f"declare it in a stack and import it, or remove it from host {host.host} ({host.address})",
                host=host.host,
                owner=row.owner,
                details={"size": size, "age_days": row.age_days, "tags": dict(vm.tags or {})},
            )
        elif row.managed_by == LEFTOVER:
            self.add(
                "leftover",
                vm.name,
                f"{vm.state}, {size}: carries stack {self.prefix}'s mark, but its state does not record it",
                f"`make leftovers STACK={self.estate.stack}` lists it with its removal; REMOVE=1 removes it",
                host=host.host,
                owner=row.owner,
            )

    def _tags(
        self,
        host: HostInventory,
        vm: VmOnHost,
        row: VmRow,
        effective: Mapping[str, str],
        recorded: RecordedVm | None,
        declared: VmInstance | None,
    ) -> None:
        stack = self.estate.stack
        if vm.metadata_problems:
            self.add(
                "malformed-metadata",
                vm.name,
                "; ".join(vm.metadata_problems),
                f"`make up STACK={stack}` writes a managed VM's tags back; fix or remove the element on other VMs",
                host=host.host,
                owner=row.owner,
            )
        if declared is not None:
            on_host, wanted = dict(vm.tags or {}), dict(declared.tags)
            deployed = dict(recorded.tags) if recorded is not None else {}
            changed: dict[str, dict[str, str | None]] = {}
            pending: dict[str, dict[str, str | None]] = {}
            for key in sorted(set(on_host) | set(wanted)):
                if on_host.get(key) != wanted.get(key):
                    # The host still has what the last `up` wrote: the declaration moved, not the host.
                    undeployed = recorded is not None and on_host.get(key) == deployed.get(key)
                    (pending if undeployed else changed)[key] = {"declared": wanted.get(key), "host": on_host.get(key)}
            if changed:
                self.add(
                    "tag-drift",
                    vm.name,
                    f"changed on the host: {_differences(changed)}",
                    f"`make up STACK={stack}` writes the declared tags back; if the host's are right, "
                    f"declare them in Pulumi.{stack}.yaml",
                    host=host.host,
                    owner=row.owner,
                    details={"differences": changed},
                )
            if pending:
                self.add(
                    "tags-not-deployed",
                    vm.name,
                    f"declared, not deployed yet: {_differences(pending)}",
                    f"`make up STACK={stack}` deploys the declared tags",
                    host=host.host,
                    owner=row.owner,
                    details={"differences": pending},
                )
        missing = [key for key in self.limits.required_tags if not effective.get(key, "").strip()]
        invalid = [
            problem
            for key in self.limits.required_tags
            if effective.get(key, "").strip()
            for problem in rules.tag_problems(key, effective[key])
        ]
        if missing or invalid:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + invalid
            where = "in its group's tags or defaults.tags" if declared is not None else "on the VM"
            self.add(
                "missing-tags",
                vm.name,
                "; ".join(parts),
                f"set {', '.join(missing) or 'the tags named'} {where}",
                host=host.host,
                owner=row.owner,
                details={"missing": missing, "invalid": invalid},
            )

    def _lifecycle(self, host: HostInventory, vm: VmOnHost, row: VmRow) -> None:
        stack = self.estate.stack
        renew = f"`make renew STACK={stack} VM={self._group(row)} UNTIL=YYYY-MM-DD REASON=...`"
        if row.days_left is not None and row.days_left < 0:
            self.add(
                "expired",
                vm.name,
                f"expired on {row.expires}, {-row.days_left} days ago ({vm.state})",
                f"retire it, or renew its lease: {renew}",
                host=host.host,
                owner=row.owner,
                details={"expires": row.expires, "days_left": row.days_left},
            )
        elif row.days_left is not None and row.days_left <= self.limits.warn_days:
            self.add(
                "expiring",
                vm.name,
                f"expires on {row.expires}, in {row.days_left} days",
                f"renew its lease if it is still needed: {renew}",
                host=host.host,
                owner=row.owner,
                details={"expires": row.expires, "days_left": row.days_left},
            )
        if row.cpu_percent is not None and vm.running and row.cpu_percent < self.limits.idle_cpu_percent:
            self.add(
                "idle",
                vm.name,
                f"{row.cpu_percent:g}% CPU of its {vm.vcpus} vCPU over {self.limits.idle_window_s:g} s "
                f"(threshold {self.limits.idle_cpu_percent:g}%)",
                "shrink it, consolidate it, or retire it if nobody uses it",
                host=host.host,
                owner=row.owner,
                details={"cpu_percent": row.cpu_percent},
            )
        if row.shut_off_days is not None and row.shut_off_days > self.limits.shutoff_max_days:
            self.add(
                "shut-off",
                vm.name,
                f"shut off for {row.shut_off_days} days (its disks were last written then; "
                f"at most {self.limits.shutoff_max_days})",
                "start it if it is needed; otherwise retire it and free its disks",
                host=host.host,
                owner=row.owner,
                details={"shut_off_days": row.shut_off_days},
            )
        ages = [(snapshot.name, self._days_since(snapshot.created) or 0) for snapshot in vm.snapshots]
        old = [(name, days) for name, days in ages if days > self.limits.snapshot_max_age_days]
        if old:
            self.add(
                "old-snapshot",
                vm.name,
                f"{len(old)} of its {len(vm.snapshots)} snapshot(s) are older than "
                f"{self.limits.snapshot_max_age_days} days: "
                + ", ".join(f"{name} ({days} days)" for name, days in old),
                f"delete them (libvirt: `virsh -c {host.address} snapshot-delete {vm.name} <name>`)",
                host=host.host,
                owner=row.owner,
                details={"snapshots": {name: days for name, days in old}},
            )

    def host(self, host: HostInventory) -> HostRow:
        pool = next(p for p in self.estate.fleet.host_pools if p.name == host.pool)
        node = next(n for n in pool.hosts if n.name == host.host)
        vms = host.vms
        row = HostRow(
            pool=host.pool,
            host=host.host,
            address=host.address,
            vms=len(vms),
            running=sum(vm.running for vm in vms),
            managed=sum(vm.stack_prefix == self.prefix for vm in vms),
            other_stacks=sum(vm.stack_prefix not in (None, self.prefix) for vm in vms),
            unmanaged=sum(vm.stack_prefix is None for vm in vms),
            cpu_cores=node.cpu_cores,
            host_cpus=host.cpus,
            vcpus_allocated=sum(vm.vcpus for vm in vms),
            vcpus_running=sum(vm.vcpus for vm in vms if vm.running),
            cpu_limit=node.cpu_cores * pool.cpu_overcommit,
            memory_mib=node.memory_mib,
            host_memory_mib=host.memory_mib,
            host_memory_free_mib=host.memory_free_mib,
            memory_allocated_mib=sum(vm.memory_mib for vm in vms),
            memory_used_mib=round(sum(vm.memory_used_mib or 0 for vm in vms), 1),
            memory_limit_mib=node.memory_mib * pool.memory_overcommit,
        )
        over = []
        if row.vcpus_allocated > row.cpu_limit:
            over.append(
                f"{row.vcpus_allocated} vCPUs given on {row.cpu_cores} cores "
                f"x {pool.cpu_overcommit:g} = {row.cpu_limit:g}"
            )
        if row.memory_allocated_mib > row.memory_limit_mib:
            over.append(
                f"{row.memory_allocated_mib} MiB given on {row.memory_mib} MiB x {pool.memory_overcommit:g} "
                f"= {row.memory_limit_mib:g} MiB"
            )
        if over:
            self.add(
                "overcommit",
                host.host,
                "; ".join(over)
                + f" (every VM on it counts: {row.unmanaged} unmanaged, {row.other_stacks} of other stacks)",
                "move or shrink VMs (unmanaged ones first), or declare the host's real capacity",
                host=host.host,
            )
        return row

    def templates(self) -> list[TemplateRow]:
        rows = []
        for template in self.estate.fleet.templates:
            row = TemplateRow(
                name=template.name,
                version=template.version,
                patched=template.patched,
                age_days=(self.today - template.patched).days,
                max_age_days=self.limits.max_template_age_days,
                vms=tuple(sorted(self.on_hosts.get(template.name, ()))),
            )
            rows.append(row)
            if row.stale:
                self.add(
                    "stale-template" if row.vms else "stale-template-unused",
                    template.name,
                    f"version {row.version} was patched on {row.patched.isoformat()}, {row.age_days} days ago "
                    f"(at most {row.max_age_days}); "
                    + (f"{len(row.vms)} VMs still run on it: {', '.join(row.vms)}" if row.vms else "no VM runs on it"),
                    "build a patched image, raise the template's version and patched date, and `make up` "
                    "(its VMs are replaced from the new image)",
                    details={"vms": list(row.vms), "age_days": row.age_days},
                )
        return rows

    def _age(self, vm: VmOnHost, recorded: RecordedVm | None) -> tuple[int | None, str | None]:
        if recorded is not None and recorded.created is not None:
            return self._days_since(recorded.created), "state"
        if vm.born is not None:
            return self._days_since(vm.born), "disk birth time"
        if vm.snapshots:
            return self._days_since(vm.snapshots[0].created), "oldest snapshot"
        return None, None

    def _days_since(self, moment: dt.datetime | None) -> int | None:
        return None if moment is None else max(0, (self.now - moment).days)

    def _group(self, row: VmRow) -> str:
        declared = self.declared.get(row.vm or "")
        return declared.group if declared else "<group>"


def _differences(differences: Mapping[str, Mapping[str, str | None]]) -> str:
    return "; ".join(
        f"{key}: declared {_shown(change['declared'])}, host {_shown(change['host'])}"
        for key, change in differences.items()
    )


def _shown(value: str | None) -> str:
    return "(none)" if value is None else repr(value)
