"""The audit's judgement (audit/findings.py) on hand-built estates: each finding, its edges and the exit status."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from audit.findings import KINDS, Estate, Report, cpu_percent, judge
from audit.inventory import CpuSample, HostInventory, RecordedVm, Snapshot, Unreachable, VmOnHost
from audit.settings import Thresholds
from tests.declarations import valid
from vmfleet.load import parse
from vmfleet.plan import expand

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
LIMITS = Thresholds(
    idle_window_s=30,
    idle_cpu_percent=5,
    shutoff_max_days=14,
    snapshot_max_age_days=7,
    warn_days=14,
    max_template_age_days=90,
    required_tags=("owner", "project", "environment", "cost_center", "expires"),
)
DECLARED_TAGS = {
    "owner": "owner@example.com",
    "project": "tests",
    "cost_center": "CC-1234",
    "expires": "2027-01-31",
    "environment": "test",
}
MARKED = "test"
"""The declaration's prefix (its environment), which its VMs' descriptions carry."""


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def managed(vm: str, **changes: Any) -> VmOnHost:
    """A VM of the stack on its host, as deployed: declared tags, running, recorded in the state."""
    group = vm.rsplit("-", 1)[0]
    tags = {**DECLARED_TAGS, "role": "frontend"} if group == "web" else dict(DECLARED_TAGS)
    record = VmOnHost(
        name=f"test-{vm}",
        state="running",
        vcpus=1,
        memory_mib=128 if group == "web" else 256,
        disk_gib=1,
        stack_prefix=MARKED,
        tags=tags,
        memory_used_mib=100.0,
    )
    return dataclasses.replace(record, **changes)


def stranger(name: str = "hand-made", **changes: Any) -> VmOnHost:
    record = VmOnHost(name=name, state="shut off", vcpus=1, memory_mib=256, disk_gib=10, stack_prefix=None)
    return dataclasses.replace(record, **changes)


def host(*vms: VmOnHost, name: str = "h1") -> HostInventory:
    return HostInventory(
        pool="pool-a", host=name, address="qemu:///system", cpus=4, memory_mib=8192, memory_free_mib=4000, vms=vms
    )


def recorded(*vms: str, tags: dict[str, dict[str, str]] | None = None) -> dict[str, RecordedVm]:
    written = tags or {}
    return {
        f"test-{vm}": RecordedVm(
            host_name=f"test-{vm}",
            vm=vm,
            created=days_ago(20),
            tags=written.get(vm, {**DECLARED_TAGS, "role": "frontend"} if vm.startswith("web") else DECLARED_TAGS),
        )
        for vm in vms
    }


def audit(
    *hosts: HostInventory,
    declaration: dict[str, Any] | None = None,
    state: dict[str, RecordedVm] | None = None,
    limits: Thresholds = LIMITS,
    **estate: Any,
) -> Report:
    fleet = parse(declaration or valid(), source="test")
    return judge(
        Estate(
            stack="test",
            fleet=fleet,
            declared=expand(fleet),
            recorded=recorded("web-01", "web-02", "db-01") if state is None else state,
            hosts=hosts,
            **estate,
        ),
        limits,
        NOW,
    )


def found(report: Report) -> set[tuple[str, str]]:
    return {(finding.kind, finding.subject) for finding in report.findings}


def deployed_host(**changes: VmOnHost) -> HostInventory:
    vms = {name: managed(name) for name in ("web-01", "web-02", "db-01")}
    vms.update(changes)
    return host(*vms.values())


def test_an_estate_as_declared_is_in_rule() -> None:
    report = audit(deployed_host())
    assert report.findings == ()
    assert report.exit_code == 0
    assert {row.name: row.managed_by for row in report.vms} == {
        "test-db-01": "this stack",
        "test-web-01": "this stack",
        "test-web-02": "this stack",
    }
    assert {row.vm for row in report.vms} == {"web-01", "web-02", "db-01"}
    assert all(row.age_days == 20 and row.age_source == "state" for row in report.vms)


def test_a_vm_no_stack_manages_is_sprawl_with_its_size_age_and_what_it_carries() -> None:
    made_by_hand = stranger(
        tags={"owner": "bob@example.com"}, description="Bob's test box", born=days_ago(45.5), last_written=days_ago(3)
    )
    report = audit(host(managed("web-01"), managed("web-02"), managed("db-01"), made_by_hand))
    assert found(report) == {("unmanaged", "hand-made"), ("missing-tags", "hand-made")}
    sprawl = next(f for f in report.findings if f.kind == "unmanaged")
    assert sprawl.severity == "violation" and sprawl.owner == "bob@example.com"
    assert sprawl.details == {
        "size": "1 vCPU, 256 MiB, 10 GiB disk",
        "age_days": 45,
        "tags": {"owner": "bob@example.com"},
    }
    assert "45 days old (disk birth time)" in sprawl.found and "Bob's test box" in sprawl.found
    assert "qemu:///system" in sprawl.fix
    missing = next(f for f in report.findings if f.kind == "missing-tags")
    assert missing.details["missing"] == ["project", "environment", "cost_center", "expires"]
    assert report.exit_code == 1


def test_a_vm_with_the_stacks_mark_that_its_state_does_not_record_is_a_leftover() -> None:
    report = audit(deployed_host(), state=recorded("web-02", "db-01"))
    assert found(report) == {("leftover", "test-web-01")}
    assert "make leftovers STACK=test" in report.findings[0].fix
    assert next(row for row in report.vms if row.name == "test-web-01").managed_by == "this stack (not in its state)"


def test_another_stacks_vms_count_on_the_host_and_are_left_to_that_stacks_audit() -> None:
    neighbour = stranger("prod-api-01", stack_prefix="prod", state="running", tags={})
    report = audit(host(managed("web-01"), managed("web-02"), managed("db-01"), neighbour))
    assert report.findings == ()
    (row,) = report.hosts
    assert (row.vms, row.managed, row.other_stacks, row.unmanaged) == (4, 3, 1, 0)
    assert next(vm for vm in report.vms if vm.name == "prod-api-01").managed_by == "stack prod"


def test_tags_changed_on_the_host_are_drift_and_a_change_not_yet_deployed_is_a_warning() -> None:
    retagged = managed("web-01", tags={**DECLARED_TAGS, "role": "frontend", "owner": "mallory@example.com"})
    report = audit(deployed_host(**{"web-01": retagged}))
    assert found(report) == {("tag-drift", "test-web-01")}
    drift = report.findings[0]
    assert drift.details["differences"] == {"owner": {"declared": "owner@example.com", "host": "mallory@example.com"}}
    assert "owner: declared 'owner@example.com', host 'mallory@example.com'" in drift.found

    declaration = valid()
    declaration["vms"][0]["tags"]["role"] = "edge"  # declared, not deployed: the host has what the state wrote
    report = audit(deployed_host(), declaration=declaration)
    assert found(report) == {("tags-not-deployed", "test-web-01"), ("tags-not-deployed", "test-web-02")}
    assert all(f.severity == "warning" for f in report.findings) and report.exit_code == 0


def test_drift_is_told_key_by_key_from_a_change_not_yet_deployed() -> None:
    declaration = valid()
    declaration["vms"][0]["tags"]["role"] = "edge"  # declared since the last up
    on_host = {**DECLARED_TAGS, "role": "frontend", "owner": "mallory@example.com"}  # and owner edited on the host
    report = audit(deployed_host(**{"web-01": managed("web-01", tags=on_host)}), declaration=declaration)
    web_01 = {f.kind: f.details["differences"] for f in report.findings if f.subject == "test-web-01"}
    assert web_01 == {
        "tag-drift": {"owner": {"declared": "owner@example.com", "host": "mallory@example.com"}},
        "tags-not-deployed": {"role": {"declared": "edge", "host": "frontend"}},
    }


def test_a_tag_removed_on_the_host_is_drift_named_as_missing_there() -> None:
    stripped = managed("db-01", tags=None)
    report = audit(deployed_host(**{"db-01": stripped}))
    assert found(report) == {("tag-drift", "test-db-01")}  # the declared tags still hold: no missing-tags
    assert report.findings[0].details["differences"]["owner"] == {"declared": "owner@example.com", "host": None}


def test_mandatory_tags_are_judged_by_the_rules_the_pack_uses() -> None:
    bad = stranger(tags={**DECLARED_TAGS, "owner": "not an address", "expires": "31/01/2027"})
    report = audit(deployed_host(**{"x": bad}))
    (missing,) = [f for f in report.findings if f.kind == "missing-tags"]
    assert missing.details["missing"] == []
    assert any("owner must be an e-mail address" in problem for problem in missing.details["invalid"])
    assert any("expires must be an ISO date" in problem for problem in missing.details["invalid"])

    extra = dataclasses.replace(LIMITS, required_tags=(*LIMITS.required_tags, "service"))
    report = audit(deployed_host(), limits=extra)
    assert {f.kind for f in report.findings} == {"missing-tags"}
    assert all(f.details["missing"] == ["service"] for f in report.findings)
    assert "in its group's tags or defaults.tags" in report.findings[0].fix


@pytest.mark.parametrize(
    ("expires", "kind", "days_left"),
    [
        ("2026-12-01", "expired", -1),
        ("2026-12-02", "expiring", 0),
        ("2026-12-16", "expiring", 14),
        ("2026-12-17", None, 15),
    ],
)
def test_leases_expired_and_within_the_notice_window(expires: str, kind: str | None, days_left: int) -> None:
    declaration = valid()
    declaration["vms"][1]["tags"] = {"expires": expires}
    state = recorded("web-01", "web-02", "db-01", tags={"db-01": {**DECLARED_TAGS, "expires": expires}})
    db = managed("db-01", tags={**DECLARED_TAGS, "expires": expires})
    report = audit(deployed_host(**{"db-01": db}), declaration=declaration, state=state)
    assert found(report) == ({(kind, "test-db-01")} if kind else set())
    assert next(row for row in report.vms if row.name == "test-db-01").days_left == days_left
    if kind:
        (finding,) = report.findings
        assert finding.owner == "owner@example.com"
        assert "make renew STACK=test VM=db UNTIL=YYYY-MM-DD" in finding.fix
        assert [row.name for row in report.owners()["owner@example.com"]] == ["test-db-01"]
    else:
        assert report.owners() == {}


def test_owners_get_their_own_list_soonest_first() -> None:
    declaration = valid()
    declaration["vms"][0]["tags"] = {"role": "frontend", "expires": "2026-12-10", "owner": "web-team@example.com"}
    declaration["vms"][1]["tags"] = {"expires": "2026-11-30"}
    web_tags = {**DECLARED_TAGS, "role": "frontend", "expires": "2026-12-10", "owner": "web-team@example.com"}
    db_tags = {**DECLARED_TAGS, "expires": "2026-11-30"}
    state = recorded("web-01", "web-02", "db-01", tags={"web-01": web_tags, "web-02": web_tags, "db-01": db_tags})
    hosts = deployed_host(
        **{"web-01": managed("web-01", tags=web_tags), "web-02": managed("web-02", tags=web_tags)},
        **{"db-01": managed("db-01", tags=db_tags)},
    )
    owners = audit(hosts, declaration=declaration, state=state).owners()
    assert {owner: [(row.name, row.days_left) for row in rows] for owner, rows in owners.items()} == {
        "owner@example.com": [("test-db-01", -2)],
        "web-team@example.com": [("test-web-01", 8), ("test-web-02", 8)],
    }


def test_cpu_use_is_the_cpu_time_between_two_samples_over_the_vms_vcpus() -> None:
    first = CpuSample("h1", at=100.0, cpu_time_ns={"a": 0, "b": 5_000_000_000, "c": 9}, vcpus={"a": 1, "b": 2, "c": 1})
    second = CpuSample(
        "h1",
        at=110.0,
        cpu_time_ns={"a": 1_000_000_000, "b": 15_000_000_000, "c": 1, "d": 10},
        vcpus={"a": 1, "b": 2, "c": 1, "d": 1},
    )
    # a: 1 s of 10 s on one vCPU; b: 10 s of 20 vCPU-seconds; c restarted and d started in between.
    assert cpu_percent(first, second) == {"a": 10.0, "b": 50.0}
    assert cpu_percent(second, second) == {}


def test_a_running_vm_below_the_idle_threshold_is_idle() -> None:
    cpu = {("h1", "test-web-01"): 0.4, ("h1", "test-web-02"): 5.0, ("h1", "test-db-01"): 80.0}
    report = audit(deployed_host(), cpu=cpu)
    assert found(report) == {("idle", "test-web-01")}
    assert report.findings[0].severity == "warning" and report.exit_code == 0
    assert "0.4% CPU of its 1 vCPU over 30 s (threshold 5%)" in report.findings[0].found

    stopped = managed("web-01", state="shut off", last_written=days_ago(1))
    assert found(audit(deployed_host(**{"web-01": stopped}), cpu=cpu)) == set()


@pytest.mark.parametrize(("days", "out_of_rule"), [(15.2, True), (14.5, False), (None, False)])
def test_a_vm_shut_off_longer_than_allowed(days: float | None, out_of_rule: bool) -> None:
    stopped = managed("web-01", state="shut off", memory_used_mib=None, last_written=days and days_ago(days))
    report = audit(deployed_host(**{"web-01": stopped}))
    assert found(report) == ({("shut-off", "test-web-01")} if out_of_rule else set())


def test_snapshots_older_than_the_retention() -> None:
    snapshots = (Snapshot("before-upgrade", days_ago(30)), Snapshot("yesterday", days_ago(1)))
    report = audit(deployed_host(**{"db-01": managed("db-01", snapshots=snapshots)}))
    assert found(report) == {("old-snapshot", "test-db-01")}
    assert report.findings[0].details == {"snapshots": {"before-upgrade": 30}}
    assert "1 of its 2 snapshot(s) are older than 7 days" in report.findings[0].found
    row = next(row for row in report.vms if row.name == "test-db-01")
    assert (row.snapshots, row.oldest_snapshot_days) == (2, 30)


def test_a_template_past_its_maximum_age_names_the_vms_still_on_it() -> None:
    declaration = valid()
    declaration["templates"][0]["patched"] = "2026-08-01"
    report = audit(deployed_host(), declaration=declaration)
    assert found(report) == {("stale-template", "tiny")}
    assert report.findings[0].details == {"vms": ["test-db-01", "test-web-01", "test-web-02"], "age_days": 123}
    (template,) = report.templates
    assert template.stale and template.max_age_days == 90

    report = audit(host(), declaration=declaration, state={})
    assert found(report) == {("stale-template-unused", "tiny")}
    assert report.exit_code == 0


def test_consolidation_counts_every_vm_and_flags_a_host_over_its_overcommit() -> None:
    # h1 offers 2 cores x 2.0 = 4 vCPUs and 2048 MiB x 1.0.
    report = audit(deployed_host(**{"x": stranger(vcpus=2, memory_mib=1800)}))
    (row,) = report.hosts
    assert (row.vcpus_allocated, row.vcpus_running, row.cpu_limit) == (5, 3, 4.0)
    assert (row.memory_allocated_mib, row.memory_limit_mib, row.memory_used_mib) == (2312, 2048.0, 300.0)
    assert row.vcpus_per_core == 2.5
    overcommit = next(f for f in report.findings if f.kind == "overcommit")
    assert overcommit.subject == "h1"
    assert "5 vCPUs given on 2 cores x 2 = 4" in overcommit.found
    assert "2312 MiB given on 2048 MiB x 1 = 2048 MiB" in overcommit.found
    assert "1 unmanaged" in overcommit.found


def test_malformed_metadata_is_reported_not_crashed_on() -> None:
    odd = managed("web-02", metadata_problems=("tags metadata: tag 2 has no key attribute",))
    report = audit(deployed_host(**{"web-02": odd}))
    assert found(report) == {("malformed-metadata", "test-web-02")}
    assert "tag 2 has no key attribute" in report.findings[0].found


def test_the_exit_status_says_out_of_rule_and_partial_apart() -> None:
    gone = Unreachable("pool-a", "h2", "qemu+ssh://ops@h2.example.com/system", "no answer")
    assert audit(deployed_host(), unreachable=[gone]).exit_code == 2
    assert audit(deployed_host(**{"x": stranger()}), unreachable=[gone]).exit_code == 3
    assert audit(deployed_host(), not_audited=["host pool pve: ..."]).exit_code == 2
    assert audit(deployed_host(), not_audited=["host pool pve: ..."]).partial


def test_age_comes_from_the_state_then_the_disks_birth_then_the_oldest_snapshot() -> None:
    snapshot = (Snapshot("s", days_ago(9)),)
    report = audit(
        host(
            managed("web-01", born=days_ago(3)),
            stranger("born", born=days_ago(5), snapshots=snapshot),
            stranger("snapshotted", snapshots=snapshot),
            stranger("unknown"),
        )
    )
    ages = {row.name: (row.age_days, row.age_source) for row in report.vms}
    assert ages == {
        "test-web-01": (20, "state"),
        "born": (5, "disk birth time"),
        "snapshotted": (9, "oldest snapshot"),
        "unknown": (None, None),
    }
    assert "age unknown" in next(f.found for f in report.findings if f.subject == "unknown" and f.kind == "unmanaged")


def test_every_kind_has_a_severity_and_a_meaning() -> None:
    for kind, (severity, meaning) in KINDS.items():
        assert severity in ("violation", "warning") and meaning, kind
