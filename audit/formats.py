"""An audit report in each of its forms: a terminal table, JSON, Markdown and Prometheus text.

- `table`: rich tables, for people at a terminal.
- `json`: every row and finding, for tools; the shape is `as_json`'s.
- `markdown`: GitHub-flavoured (tabulate), for an issue or a pull request; `max_bytes` keeps it
  within GitHub's 65,536-byte body limit by leaving out the VM list first, then findings.
- `prometheus`: the text exposition format (prometheus-client), for a node exporter's textfile
  collector or a push; metric names and labels are listed in the README.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from audit.findings import KINDS, OTHER_STACK, Finding, HostRow, Report, VmRow

FORMATS = ("table", "json", "markdown", "prometheus")
GITHUB_BODY_LIMIT = 65_536
MIB = 1024**2


def render(report: Report, form: str, *, max_bytes: int | None = None) -> str:
    """The report as text in `form` (one of `FORMATS`)."""
    renderers: dict[str, Callable[[Report], str]] = {
        "table": table,
        "json": lambda r: json.dumps(as_json(r), indent=2, sort_keys=False) + "\n",
        "markdown": lambda r: markdown(r, max_bytes=max_bytes or GITHUB_BODY_LIMIT),
        "prometheus": prometheus,
    }
    return renderers[form](report)


def verdict(report: Report) -> str:
    """One line: in rule or not, how many violations and warnings, partial or whole."""
    counts = f"{len(report.violations)} violation(s), {len(report.warnings)} warning(s)"
    state = "out of rule" if report.violations else "in rule"
    partial = "; PARTIAL: " + "; ".join(_gaps(report)) if report.partial else ""
    return f"stack {report.stack}: {state}, {counts}{partial} (exit status {report.exit_code})"


def _gaps(report: Report) -> list[str]:
    return [f"host {item.host} ({item.address}) not read: {item.reason}" for item in report.unreachable] + list(
        report.not_audited
    )


def as_json(report: Report) -> dict[str, Any]:
    """The report as plain JSON values."""
    return {
        "stack": report.stack,
        "generated_at": report.generated_at.isoformat(),
        "exit_code": report.exit_code,
        "out_of_rule": bool(report.violations),
        "partial": report.partial,
        "summary": {
            "violations": len(report.violations),
            "warnings": len(report.warnings),
            "by_kind": {kind: sum(f.kind == kind for f in report.findings) for kind in KINDS},
        },
        "thresholds": report.thresholds.as_json(),
        "idle_sampled": report.idle_sampled,
        "findings": [_finding_json(finding) for finding in report.findings],
        "owners": {
            owner: [
                {
                    "vm": row.name,
                    "host": row.host,
                    "expires": row.expires,
                    "days_left": row.days_left,
                    "state": row.state,
                }
                for row in rows
            ]
            for owner, rows in report.owners().items()
        },
        "hosts": [{**_plain(row), "vcpus_per_core": row.vcpus_per_core} for row in report.hosts],
        "templates": [{**_plain(row), "stale": row.stale} for row in report.templates],
        "vms": [_plain(row) for row in report.vms],
        "unreachable": [_plain(item) for item in report.unreachable],
        "not_audited": list(report.not_audited),
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind, "severity": finding.severity, **_plain(finding)}


def _plain(record: Any) -> dict[str, Any]:
    def value(item: Any) -> Any:
        if isinstance(item, (dt.date, dt.datetime)):
            return item.isoformat()
        if isinstance(item, dict):
            return {key: value(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [value(inner) for inner in item]
        return item

    return {key: value(inner) for key, inner in dataclasses.asdict(record).items()}


# --- Markdown -------------------------------------------------------------------------------------


def markdown(report: Report, *, max_bytes: int = GITHUB_BODY_LIMIT) -> str:
    """The report as GitHub Markdown, at most `max_bytes` bytes (UTF-8)."""
    head = _markdown_head(report)
    tail = [_md_consolidation(report), _md_templates(report), _md_thresholds(report)]
    estate = _md_estate(report)
    findings = list(report.findings)
    for with_estate in (True, False):
        text = _join(
            head, _md_findings(findings), _md_owners(report), *tail, estate if with_estate else _md_estate_cut(report)
        )
        if _size(text) <= max_bytes:
            return text
    # Still too long: keep as many findings as fit, violations first (their order in the report).
    low, high = 0, len(findings)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = _join(
            head, _md_findings(findings[:middle], cut=len(findings) - middle), *tail, _md_estate_cut(report)
        )
        low, high = (middle, high) if _size(candidate) <= max_bytes else (low, middle - 1)
    return _join(head, _md_findings(findings[:low], cut=len(findings) - low), *tail, _md_estate_cut(report))


def _size(text: str) -> int:
    return len(text.encode())


def _join(*sections: str) -> str:
    return "\n\n".join(section for section in sections if section) + "\n"


def _markdown_head(report: Report) -> str:
    when = report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    state = (
        f"**Out of rule: {len(report.violations)} violation(s)**, {len(report.warnings)} warning(s)"
        if report.violations
        else f"**In rule**: no violations, {len(report.warnings)} warning(s)"
    )
    lines = [f"# Audit of stack `{report.stack}`, {when}", "", f"{state} (exit status {report.exit_code})."]
    if report.partial:
        lines += ["", "> **Partial audit.** " + " ".join(f"{_md(gap)}." for gap in _gaps(report))]
    if not report.idle_sampled:
        lines += ["", "Idle detection was skipped (sampling window 0 s)."]
    return "\n".join(lines)


def _md_findings(findings: Sequence[Finding], cut: int = 0) -> str:
    if not findings and not cut:
        return "## Findings\n\nNothing found."
    headers, rows = _finding_rows(findings)
    text = "## Findings\n\n" + _md_table(["", *headers[1:]], rows)
    if cut:
        text += f"\n\n... and {cut} more findings, left out to fit; the JSON report (`FORMAT=json`) has them all."
    return text


def _finding_rows(findings: Sequence[Finding]) -> tuple[list[str], list[list[Any]]]:
    headers = ["severity", "kind", "subject", "host", "owner", "found", "fix"]
    rows = [
        [f.severity, f"`{f.kind}`", f"`{f.subject}`", f.host or "", f.owner or "", f.found, f.fix] for f in findings
    ]
    return headers, rows


def _lease_rows(rows: Sequence[VmRow]) -> tuple[list[str], list[list[Any]]]:
    return ["VM", "host", "expires", "days left", "state"], [
        [f"`{row.name}`", row.host, row.expires or "", row.days_left, row.state] for row in rows
    ]


def _md_owners(report: Report) -> str:
    owners = report.owners()
    if not owners:
        return ""
    parts = [f"## Leases by owner (expired, or expiring within {report.thresholds.warn_days} days)"]
    for owner, rows in owners.items():
        parts.append(f"### {_md(owner)}\n\n{_md_table(*_lease_rows(rows))}")
    return "\n\n".join(parts)


def _md_consolidation(report: Report) -> str:
    if not report.hosts:
        return "## Consolidation\n\nNo host was read."
    return "## Consolidation\n\n" + _md_table(*_consolidation_rows(report.hosts))


def _consolidation_rows(hosts: Iterable[HostRow]) -> tuple[list[str], list[list[Any]]]:
    headers = [
        "host",
        "VMs",
        "running",
        "this stack",
        "other stacks",
        "unmanaged",
        "vCPU given (running)",
        "cores",
        "vCPU per core",
        "vCPU limit",
        "memory given MiB",
        "in use MiB",
        "memory limit MiB",
        "host free MiB",
    ]
    rows = [
        [
            row.host,
            row.vms,
            row.running,
            row.managed,
            row.other_stacks,
            row.unmanaged,
            f"{row.vcpus_allocated} ({row.vcpus_running})",
            row.cpu_cores,
            f"{row.vcpus_per_core:g}",
            f"{row.cpu_limit:g}",
            row.memory_allocated_mib,
            f"{row.memory_used_mib:g}",
            f"{row.memory_limit_mib:g}",
            "" if row.host_memory_free_mib is None else row.host_memory_free_mib,
        ]
        for row in hosts
    ]
    return headers, rows


def _md_templates(report: Report) -> str:
    return "## Templates\n\n" + _md_table(*_template_rows(report))


def _template_rows(report: Report) -> tuple[list[str], list[list[Any]]]:
    headers = ["template", "version", "patched", "age days", "max age", "", "VMs on it"]
    rows = [
        [
            f"`{row.name}`",
            row.version,
            row.patched.isoformat(),
            row.age_days,
            row.max_age_days,
            "out of date" if row.stale else "ok",
            ", ".join(row.vms) or "-",
        ]
        for row in report.templates
    ]
    return headers, rows


def _md_estate(report: Report) -> str:
    if not report.vms:
        return "## VMs\n\nNo VM on the hosts read."
    return "## VMs\n\n" + _md_table(*_estate_rows(report.vms))


def _md_estate_cut(report: Report) -> str:
    return f"## VMs\n\n{len(report.vms)} VMs, left out to fit; the JSON report (`FORMAT=json`) lists them."


def _estate_rows(vms: Iterable[VmRow]) -> tuple[list[str], list[list[Any]]]:
    headers = ["host", "VM", "managed by", "state", "size", "owner", "expires (days)", "CPU %", "age days", "snapshots"]
    rows = [
        [
            row.host,
            f"`{row.name}`",
            row.managed_by,
            row.state,
            f"{row.vcpus} vCPU, {row.memory_mib} MiB, {row.disk_gib:g} GiB",
            row.owner or "",
            f"{row.expires} ({row.days_left})" if row.expires else "",
            "" if row.cpu_percent is None else f"{row.cpu_percent:g}",
            "" if row.age_days is None else row.age_days,
            row.snapshots if not row.snapshots else f"{row.snapshots} (oldest {row.oldest_snapshot_days} days)",
        ]
        for row in vms
    ]
    return headers, rows


def _md_thresholds(report: Report) -> str:
    return "## Thresholds\n\n" + _md_table(*_threshold_rows(report))


def _threshold_rows(report: Report) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [
            f"`{key}`",
            ", ".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else value,
        ]
        for key, value in report.thresholds.as_json().items()
    ]
    return ["threshold", "value"], rows


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    from tabulate import tabulate

    cells = [[_md("" if value is None else str(value)) for value in row] for row in rows]
    return tabulate(cells, headers=list(headers), tablefmt="github", disable_numparse=True)


def _md(text: str) -> str:
    """Cell text that cannot break a GitHub table: pipes escaped, line breaks made spaces."""
    return " ".join(str(text).split()).replace("|", "\\|")


# --- Terminal table -----------------------------------------------------------------------------


def table(report: Report, width: int | None = None) -> str:
    """The report as rich tables, plain text (no colour codes) so it reads the same in a log."""
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    columns = width or max(100, shutil.get_terminal_size((160, 24)).columns)  # the terminal's, in a pipe 160
    console = Console(file=buffer, width=columns, no_color=True, force_terminal=False, highlight=False)
    console.print(f"Audit of stack {report.stack}, {report.generated_at.strftime('%Y-%m-%d %H:%M UTC')}")
    console.print(verdict(report))

    def grid(title: str, headers: Sequence[str], cells: Sequence[Sequence[Any]]) -> None:
        """One section as a table, from the rows the Markdown form uses (code marks dropped)."""
        shown = Table(title=title)
        for header in headers:
            shown.add_column(header, overflow="fold")
        for values in cells:
            shown.add_row(*(str(value).replace("`", "") for value in values))
        console.print(shown)

    # The sections of the Markdown form, in its order.
    if report.findings:
        grid("Findings", *_finding_rows(report.findings))
    else:
        console.print("Findings: nothing found.")
    for owner, rows in report.owners().items():
        grid(f"Leases of {owner}", *_lease_rows(rows))
    grid("Consolidation", *_consolidation_rows(report.hosts))
    grid("Templates", *_template_rows(report))
    grid("Thresholds", *_threshold_rows(report))
    grid("VMs", *_estate_rows(report.vms))
    return buffer.getvalue()


# --- Prometheus ---------------------------------------------------------------------------------


def prometheus(report: Report) -> str:
    """The report as Prometheus text exposition format."""
    from prometheus_client import generate_latest

    return generate_latest(registry(report)).decode()


def registry(report: Report) -> Any:
    """A prometheus-client registry holding the report's metrics (`write_to_textfile` takes it)."""
    from prometheus_client import CollectorRegistry, Gauge

    found = CollectorRegistry()
    stack = report.stack

    def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(f"vmfleet_audit_{name}", documentation, ["stack", *labels], registry=found)

    gauge("run_timestamp_seconds", "When the audit ran (Unix time).").labels(stack).set(report.generated_at.timestamp())
    gauge("out_of_rule", "1 when the audit found a violation.").labels(stack).set(int(bool(report.violations)))
    gauge("partial", "1 when a host or a host pool could not be audited.").labels(stack).set(int(report.partial))
    findings = gauge("findings", "Findings by kind and severity (README, Fleet audit).", ("kind", "severity"))
    for kind, (severity, _meaning) in KINDS.items():
        findings.labels(stack, kind, severity).set(sum(f.kind == kind for f in report.findings))

    up = gauge("host_up", "1 when the host was read.", ("host",))
    for unreachable in report.unreachable:
        up.labels(stack, unreachable.host).set(0)
    vms = gauge("host_vms", "VMs defined on the host, by who manages them.", ("host", "managed_by"))
    running = gauge("host_vms_running", "VMs running on the host.", ("host",))
    vcpus = gauge("host_vcpus", "vCPUs given to the host's VMs.", ("host",))
    cores = gauge("host_cpu_cores", "Cores the declaration offers to VMs.", ("host",))
    cpu_limit = gauge("host_vcpu_limit", "Declared cores x the pool's cpu_overcommit.", ("host",))
    memory = gauge("host_memory_allocated_bytes", "Memory given to the host's VMs.", ("host",))
    used = gauge("host_memory_used_bytes", "Resident memory of the host's running VMs.", ("host",))
    memory_limit = gauge("host_memory_limit_bytes", "Declared memory x the pool's memory_overcommit.", ("host",))
    for row in report.hosts:
        up.labels(stack, row.host).set(1)
        for who, count in (
            ("this_stack", row.managed),
            ("other_stacks", row.other_stacks),
            ("unmanaged", row.unmanaged),
        ):
            vms.labels(stack, row.host, who).set(count)
        running.labels(stack, row.host).set(row.running)
        vcpus.labels(stack, row.host).set(row.vcpus_allocated)
        cores.labels(stack, row.host).set(row.cpu_cores)
        cpu_limit.labels(stack, row.host).set(row.cpu_limit)
        memory.labels(stack, row.host).set(row.memory_allocated_mib * MIB)
        used.labels(stack, row.host).set(row.memory_used_mib * MIB)
        memory_limit.labels(stack, row.host).set(row.memory_limit_mib * MIB)

    expires = gauge(
        "vm_expires_timestamp_seconds", "The VM's expires date, 00:00 UTC (Unix time).", ("host", "vm", "owner")
    )
    cpu = gauge(
        "vm_cpu_ratio", "CPU use over the sampling window, share of the VM's vCPUs (1 = all busy).", ("host", "vm")
    )
    snapshots = gauge("vm_snapshots", "Snapshots the VM keeps.", ("host", "vm"))
    oldest = gauge(
        "vm_oldest_snapshot_timestamp_seconds", "When the VM's oldest snapshot was taken (Unix time).", ("host", "vm")
    )
    for vm in report.vms:
        if vm.managed_by.startswith(OTHER_STACK):
            continue
        if vm.expires and vm.days_left is not None:
            moment = dt.datetime.combine(dt.date.fromisoformat(vm.expires), dt.time(), dt.UTC)
            expires.labels(stack, vm.host, vm.name, vm.owner or "").set(moment.timestamp())
        if vm.cpu_percent is not None:
            cpu.labels(stack, vm.host, vm.name).set(vm.cpu_percent / 100)
        snapshots.labels(stack, vm.host, vm.name).set(vm.snapshots)
        if vm.oldest_snapshot_at is not None:
            oldest.labels(stack, vm.host, vm.name).set(vm.oldest_snapshot_at.timestamp())

    patched = gauge(
        "template_patched_timestamp_seconds",
        "The template's patched date, 00:00 UTC (Unix time).",
        ("template", "version"),
    )
    for template in report.templates:
        moment = dt.datetime.combine(template.patched, dt.time(), dt.UTC)
        patched.labels(stack, template.name, template.version).set(moment.timestamp())
    return found
