"""What the audit reads besides the hosts: its thresholds, the tags element, the state export; and its
command line's refusals of bad input (exit status 4, with the reason)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audit.settings import audit_config, thresholds
from backends.libvirt import names
from backends.libvirt.inventory import LibvirtInventory
from backends.libvirt.tags import read_tags_element, tags_element
from tests.declarations import ROOT, valid
from vmfleet.problems import FleetDeclarationError


def stack_file(tmp_path: Path, audit: object = None) -> Path:
    config: dict[str, object] = {"vmfleet:fleet": valid()}
    if audit is not None:
        config["vmfleet:audit"] = audit
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def test_thresholds_default_and_come_from_the_stack_file_and_the_policy_config(tmp_path: Path) -> None:
    defaults = thresholds(stack_file(tmp_path), None)
    assert (defaults.idle_window_s, defaults.idle_cpu_percent, defaults.shutoff_max_days) == (30, 5, 14)
    assert (defaults.snapshot_max_age_days, defaults.warn_days, defaults.max_template_age_days) == (7, 14, 90)
    assert defaults.required_tags == ("owner", "project", "environment", "cost_center", "expires")

    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "vm-expiry-notice": {"enforcementLevel": "advisory", "warnDays": 30},
                "approved-templates": {"maxTemplateAgeDays": 45},
                "mandatory-tags": {"extraRequiredTags": ["service", "owner"]},
            }
        )
    )
    own = {"idle_window_s": 300, "idle_cpu_percent": 2.5, "shutoff_max_days": 30, "snapshot_max_age_days": 3}
    read = thresholds(stack_file(tmp_path, own), policy)
    assert (read.idle_window_s, read.idle_cpu_percent, read.shutoff_max_days, read.snapshot_max_age_days) == (
        300,
        2.5,
        30,
        3,
    )
    assert (read.warn_days, read.max_template_age_days) == (30, 45)
    assert read.required_tags == ("owner", "project", "environment", "cost_center", "expires", "service")


def test_the_dev_stacks_thresholds_are_its_policy_configs() -> None:
    read = thresholds(ROOT / "Pulumi.dev.yaml", ROOT / "policies" / "config" / "dev.json")
    config = json.loads((ROOT / "policies" / "config" / "dev.json").read_text())
    assert read.warn_days == config["vm-expiry-notice"]["warnDays"]
    assert read.max_template_age_days == config["approved-templates"]["maxTemplateAgeDays"]


@pytest.mark.parametrize(
    ("audit", "expected"),
    [
        ({"idle_cpu_percent": 0}, "idle_cpu_percent"),
        ({"idle_window_s": "soon"}, "idle_window_s"),
        ({"snapshot_max_age_days": -1}, "snapshot_max_age_days"),
        ({"idle_treshold": 5}, "idle_treshold"),
        ({"shutoff_max_days": True}, "shutoff_max_days: found True; input should be a valid integer"),
        ({"idle_cpu_percent": True}, "idle_cpu_percent: found True"),
        ({"idle_window_s": "5"}, "idle_window_s: found '5'; input should be a valid number"),
        ({"shutoff_max_days": 7.5}, "shutoff_max_days: found 7.5"),
        (["idle_window_s"], "expected a mapping of thresholds, found list"),
    ],
)
def test_a_bad_threshold_names_its_config_path_and_value(tmp_path: Path, audit: object, expected: str) -> None:
    with pytest.raises(FleetDeclarationError) as raised:
        audit_config(stack_file(tmp_path, audit))
    message = str(raised.value)
    assert "Pulumi.test.yaml (vmfleet:audit) has 1 problem; the audit did not run" in message and expected in message


def test_a_command_line_threshold_is_checked_on_its_own_and_hides_no_bad_value_of_the_file(tmp_path: Path) -> None:
    assert audit_config(stack_file(tmp_path, {"idle_window_s": 60}), {"idle_window_s": 5}).idle_window_s == 5
    with pytest.raises(FleetDeclarationError) as raised:
        audit_config(stack_file(tmp_path, {"idle_window_s": -1}), {"idle_window_s": 0})
    assert "Pulumi.test.yaml (vmfleet:audit)" in str(raised.value) and "idle_window_s: found -1" in str(raised.value)
    with pytest.raises(FleetDeclarationError) as raised:
        audit_config(stack_file(tmp_path), {"idle_cpu_percent": 200})
    assert str(raised.value).startswith("the command line (IDLE_WINDOW= or --idle-window sets idle_window_s")
    assert "idle_cpu_percent: found 200" in str(raised.value)


def test_the_tags_element_read_from_a_host_names_what_is_malformed_and_keeps_the_rest() -> None:
    written = tags_element({"owner": "a@example.com", "expires": "2027-01-31"})
    assert read_tags_element(written) == ({"expires": "2027-01-31", "owner": "a@example.com"}, [])
    odd = '<tags><tag key="owner">a@example.com</tag><tag>no key</tag><owner>b</owner><tag key="owner">c</tag></tags>'
    tags, problems = read_tags_element(odd)
    assert tags == {"owner": "a@example.com"}
    assert problems == [
        "tag 2 has no key attribute",
        "element 3 is <owner>, not <tag key=...>",
        "tag 'owner' is given twice ('a@example.com' and 'c')",
    ]
    assert read_tags_element("<labels/>")[1] == ["the element is <labels>, not <tags>"]
    assert read_tags_element("not xml")[1][0].startswith("the tags element is not XML")


def test_a_domain_is_told_a_stacks_by_the_mark_its_description_starts_with() -> None:
    assert names.marked_prefix(names.domain_description("dev-2", "dev-2-web-01")) == "dev-2"
    assert names.marked_prefix(names.domain_description("dev", "dev-web-01")) == "dev"
    assert names.marked_prefix("Jenkins agent; Managed by vmfleet (dev);") is None
    assert names.marked_prefix("") is None


def test_the_state_gives_each_domain_its_declared_name_creation_time_and_deployed_tags() -> None:
    document = '{"schema":"vmfleet/v1","vm":"web-01","group":"web","tags":{"owner":"x"}}'
    export = {
        "deployment": {
            "resources": [
                {"type": "pulumi:pulumi:Stack", "urn": "stack"},
                {
                    "type": "libvirt:index/domain:Domain",
                    "created": "2026-12-02T00:37:06.097419068Z",
                    "outputs": {"name": "dev-web-01", "metadata": document},
                },
                {  # its DomainTags after a refresh: the host's tags, not what was deployed
                    "type": "pulumi-python:dynamic:Resource",
                    "outputs": {
                        "uri": "qemu:///system",
                        "domain": "dev-web-01",
                        "domain_id": "u",
                        "tags": {"owner": "y"},
                    },
                },
                {"type": "libvirt:index/domain:Domain", "outputs": {"name": "dev-old", "metadata": "not ours"}},
            ]
        }
    }
    recorded = LibvirtInventory().recorded(export)
    assert set(recorded) == {"dev-web-01", "dev-old"}
    web = recorded["dev-web-01"]
    assert (web.vm, web.tags) == ("web-01", {"owner": "x"})
    assert web.created == dt.datetime(2026, 12, 2, 0, 37, 6, 97419, tzinfo=dt.UTC)
    assert (recorded["dev-old"].vm, recorded["dev-old"].created) == ("dev-old", None)
    assert LibvirtInventory().recorded({}) == {}


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_a_pool_no_inventory_reads_makes_the_audit_partial_and_every_form_is_written(tmp_path: Path) -> None:
    """The prod stack's hosts are a Proxmox VE cluster, which the audit does not read yet."""
    result = run_cli("--stack", "prod", "--idle-window", "0", "--format", "json", "--report-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["partial"] and not report["out_of_rule"] and report["hosts"] == []
    assert report["not_audited"] == [
        "host pool dc1: the audit cannot read proxmox hosts yet, so its 5 host(s) were not audited"
    ]
    assert "PARTIAL: host pool dc1" in result.stderr.splitlines()[-1]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["audit.json", "audit.md", "audit.prom"]
    assert all((path.stat().st_mode & 0o777) == 0o644 for path in tmp_path.iterdir())
    assert json.loads((tmp_path / "audit.json").read_text()) == report
    assert "> **Partial audit.** host pool dc1" in (tmp_path / "audit.md").read_text()
    assert 'vmfleet_audit_partial{stack="prod"} 1.0' in (tmp_path / "audit.prom").read_text()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--stack", "nope"], "there is no Pulumi.nope.yaml; the stacks are: dev, prod"),
        (["--stack", "dev", "--format", "html"], "argument --format: invalid choice: 'html'"),
        (["--stack", "dev", "--idle-window", "soon"], "argument --idle-window: invalid float value: 'soon'"),
        (
            ["--stack", "dev", "--idle-window", "-1"],
            "idle_window_s: found -1.0; input should be greater than or equal to 0",
        ),
        (["--stack", "dev", "--idle-threshold", "0"], "idle_cpu_percent: found 0.0; input should be greater than 0"),
        (
            ["--stack", "dev", "--idle-window", "7200"],
            "idle_window_s: found 7200.0; input should be less than or equal to 3600",
        ),
        (["--stack", "dev", "--now", "yesterday"], "--now is 'yesterday'; write an ISO 8601 time"),
        (["--stack", "dev", "--state", "/nonexistent/export.json"], "the state export /nonexistent/export.json cannot"),
        ([], "the following arguments are required: --stack"),
    ],
)
def test_bad_input_is_refused_before_any_host_is_read(arguments: list[str], expected: str) -> None:
    result = run_cli(*arguments)
    assert result.returncode == 4, result.stderr
    assert expected in result.stderr
    assert result.stderr.splitlines()[-1].endswith("the audit could not run (exit status 4)")
    assert result.stdout == ""
