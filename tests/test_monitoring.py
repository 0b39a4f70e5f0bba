"""Monitoring: the rules shipped in monitoring/ (promtool checks them, their tests pass, and every
deliberate break of a rule makes the tests fail), and the targets and metrics the stack writes
(vmfleet/monitoring.py), read back with prometheus-client's own parser."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.declarations import ROOT, valid
from tests.harness import run_program
from vmfleet import monitoring
from vmfleet.load import plan
from vmfleet.problems import FleetDeclarationError

RULES = ROOT / "monitoring" / "rules" / "vmfleet.rules.yml"
RULE_TESTS = ROOT / "monitoring" / "tests" / "vmfleet.rules.test.yml"
THRESHOLDS = monitoring.Thresholds(lease_warning_days=14, idle_cpu_percent=5.0, idle_days=7)


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *arguments], capture_output=True, text=True, timeout=600)


def test_the_rules_and_the_sample_config_check_and_their_tests_pass() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0 and "SUCCESS: 27 rules found" in checked.stdout, checked.stdout + checked.stderr
    config = promtool("check", "config", str(ROOT / "monitoring" / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_break_of_a_rule_fails_the_rule_tests() -> None:
    ran = subprocess.run(
        [sys.executable, str(ROOT / "monitoring" / "tests" / "mutations.py")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert ran.returncode == 0 and ran.stdout.rstrip().endswith("all mutations caught"), ran.stdout[-3000:]
    assert ran.stdout.count("caught ") >= 22


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def monitored(raw: dict[str, object]) -> dict[str, list[tuple[dict[str, str], float]]]:
    planned = plan(raw)
    domains = {vm.name: f"test-{vm.name}" for vm in planned.instances}
    text = monitoring.metrics(planned.fleet, "test", planned.instances, planned.placement.host_of, domains, THRESHOLDS)
    return families(text)


def test_the_metrics_carry_each_vm_in_service_with_its_owners_and_lease_end() -> None:
    raw = valid()
    raw["vms"][1]["retire"] = {"reason": "gone", "archive": False}
    found = monitored(raw)
    info = {labels["vm"]: labels for labels, value in found["vmfleet_vm_info"] if value == 1}
    assert set(info) == {"web-01", "web-02"}, "a retired VM is left out"
    assert info["web-01"] == {
        "stack": "test",
        "vm": "web-01",
        "domain": "test-web-01",
        "host": info["web-01"]["host"],
        "owner": "owner@example.com",
        "project": "tests",
        "environment": "test",
        "cost_center": "CC-1234",
    }
    [(_labels, end), *_] = found["vmfleet_vm_expires_timestamp_seconds"]
    assert end == dt.datetime(2027, 2, 1, tzinfo=dt.UTC).timestamp(), "the midnight after expires 2027-01-31"
    per_stack = {name: found[name][0][1] for name in ("vmfleet_lease_warning_seconds", "vmfleet_vm_idle_cpu_ratio")}
    assert per_stack == {"vmfleet_lease_warning_seconds": 15 * 86400, "vmfleet_vm_idle_cpu_ratio": 0.05}
    assert found["vmfleet_vm_idle_seconds"][0][1] == 7 * 86400
    cores = {labels["host"]: value for labels, value in found["vmfleet_host_cpu_cores"]}
    assert set(cores) == {"h1", "h2"} and all(value > 0 for value in cores.values())


def test_targets_name_each_host_exporter_and_a_remote_host_must_declare_its_own() -> None:
    raw = valid()
    raw["monitoring"] = {}
    with pytest.raises(FleetDeclarationError) as caught:
        plan(raw)
    [problem] = caught.value.problems
    assert problem.path == "host_pools[0] (pool-a).hosts[1] (h2).exporter"
    assert "is remote and declares no exporter" in problem.message
    raw["host_pools"][0]["hosts"][1]["exporter"] = "h2.example.com:9177"
    fleet = plan(raw).fleet
    assert json.loads(monitoring.targets(fleet, "test")) == [
        {"targets": ["127.0.0.1:9177"], "labels": {"hypervisor": "h1", "vmfleet_stack": "test"}},
        {"targets": ["h2.example.com:9177"], "labels": {"hypervisor": "h2", "vmfleet_stack": "test"}},
    ]


def test_the_program_writes_both_files_where_the_declaration_says() -> None:
    raw = valid()
    raw["host_pools"][0]["hosts"][1]["exporter"] = "h2.example.com:9177"
    raw["monitoring"] = {"targets_dir": "/srv/prometheus", "textfile_dir": "/srv/textfile"}
    built = run_program(raw)
    files = {r.inputs["path"]: r.inputs["content"] for r in built.registrations if set(r.inputs) >= {"path", "content"}}
    assert set(files) == {"/srv/prometheus/test-libvirt.json", "/srv/textfile/vmfleet-test.prom"}
    assert "vmfleet_vm_info" in files["/srv/textfile/vmfleet-test.prom"]
