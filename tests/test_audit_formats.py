"""The audit report's forms (audit/formats.py): JSON, Markdown that parses, Prometheus text that parses, the table."""

from __future__ import annotations

import json

from markdown_it import MarkdownIt
from prometheus_client.parser import text_string_to_metric_families

from audit.findings import KINDS, Report
from audit.formats import markdown, render, verdict
from audit.inventory import Snapshot, Unreachable
from tests.test_audit_findings import audit, days_ago, deployed_host, host, managed, stranger


def a_report() -> Report:
    odd = stranger(
        "odd|name",
        description="pipes | and\nnew lines",
        tags={"owner": "bob@example.com"},
        snapshots=(Snapshot("old", days_ago(20)),),
    )
    return audit(
        deployed_host(**{"x": odd, "db-01": managed("db-01", snapshots=(Snapshot("s", days_ago(2)),))}),
        cpu={("h1", "test-web-01"): 1.5},
        unreachable=[Unreachable("pool-a", "h2", "qemu+ssh://ops@h2.example.com/system", "no answer within 120 s")],
    )


def tables(text: str) -> dict[str, list[list[str]]]:
    """Section heading -> the rows (cells as text) of the first table under it, as a GitHub renderer reads them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    found: dict[str, list[list[str]]] = {}
    heading = None
    row: list[str] | None = None
    for position, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = tokens[position + 1].content.split(" (")[0]
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close" and row is not None and heading is not None:
            found.setdefault(heading, []).append(row)
            row = None
    return found


def test_json_holds_every_finding_row_and_threshold() -> None:
    report = a_report()
    document = json.loads(render(report, "json"))
    assert document["exit_code"] == report.exit_code == 3
    assert document["partial"] and document["out_of_rule"]
    assert document["summary"]["by_kind"]["unmanaged"] == 1 and set(document["summary"]["by_kind"]) == set(KINDS)
    assert {(f["kind"], f["subject"], f["severity"]) for f in document["findings"]} == {
        (f.kind, f.subject, f.severity) for f in report.findings
    }
    assert document["unreachable"] == [
        {
            "pool": "pool-a",
            "host": "h2",
            "address": "qemu+ssh://ops@h2.example.com/system",
            "reason": "no answer within 120 s",
        }
    ]
    assert document["thresholds"]["warn_days"] == 14
    assert document["hosts"][0]["vcpus_per_core"] == 2.0
    assert next(vm for vm in document["vms"] if vm["name"] == "test-db-01")["oldest_snapshot_at"].startswith(
        "2026-11-30"
    )


def test_markdown_tables_parse_with_a_row_per_finding_and_cells_that_cannot_break_them() -> None:
    report = a_report()
    text = render(report, "markdown")
    sections = tables(text)
    assert {"Findings", "Consolidation", "Templates", "VMs", "Thresholds"} <= set(sections)
    findings = sections["Findings"]
    assert len(findings) == 1 + len(report.findings)  # the header row, then one per finding
    assert all(len(row) == len(findings[0]) for row in findings)
    assert any("`odd|name`" in cell for row in findings for cell in row)  # the pipe did not split the cell
    assert any('description "pipes | and new lines"' in cell for row in findings for cell in row)
    assert "> **Partial audit.** host h2 (qemu+ssh://ops@h2.example.com/system) not read" in text
    assert "**Out of rule:" in text


def test_markdown_fits_a_github_body_by_leaving_out_the_vm_list_then_findings() -> None:
    many = host(*(stranger(f"sprawl-{n:04d}", description="x" * 80, vcpus=1, memory_mib=1) for n in range(1500)))
    report = audit(many, state={})
    text = markdown(report)
    assert len(text.encode()) <= 65_536
    assert "1500 VMs, left out to fit" in text
    assert "more findings, left out to fit" in text
    assert "## Consolidation" in text and "## Thresholds" in text

    small = audit(deployed_host(**{"x": stranger()}))
    assert "left out" not in markdown(small)


def test_prometheus_text_parses_and_carries_findings_hosts_and_vms() -> None:
    report = a_report()
    families = {family.name: family for family in text_string_to_metric_families(render(report, "prometheus"))}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    stack = ("stack", "test")
    for kind, (severity, _meaning) in KINDS.items():
        key = ("vmfleet_audit_findings", (("kind", kind), ("severity", severity), stack))
        assert samples[key] == sum(f.kind == kind for f in report.findings)
    assert samples[("vmfleet_audit_out_of_rule", (stack,))] == 1
    assert samples[("vmfleet_audit_partial", (stack,))] == 1
    assert samples[("vmfleet_audit_host_up", (("host", "h1"), stack))] == 1
    assert samples[("vmfleet_audit_host_up", (("host", "h2"), stack))] == 0
    assert samples[("vmfleet_audit_host_vms", (("host", "h1"), ("managed_by", "unmanaged"), stack))] == 1
    assert samples[("vmfleet_audit_host_memory_allocated_bytes", (("host", "h1"), stack))] == 768 * 1024**2
    assert samples[("vmfleet_audit_vm_cpu_ratio", (("host", "h1"), stack, ("vm", "test-web-01")))] == 0.015
    expires = ("vmfleet_audit_vm_expires_timestamp_seconds", (("host", "h1"), ("owner", "owner@example.com"), stack))
    assert samples[(expires[0], (*expires[1], ("vm", "test-web-01")))] == 1_801_353_600  # 2027-01-31T00:00Z
    assert samples[("vmfleet_audit_vm_snapshots", (("host", "h1"), stack, ("vm", "odd|name")))] == 1


def test_the_table_is_plain_text_with_the_verdict_first() -> None:
    report = a_report()
    text = render(report, "table")
    assert "\x1b[" not in text
    assert text.splitlines()[1] == verdict(report)
    assert "PARTIAL: host h2" in verdict(report) and "exit status 3" in verdict(report)
    for title in ("Findings", "Consolidation", "VMs", "Templates"):
        assert title in text
