"""`make renew`: a VM group's lease moved in the stack file, its comments and layout kept, limits enforced."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from leases.renew import Renewal, RenewalError, renew, renew_file, round_trip_yaml
from tests.declarations import ROOT
from vmfleet.load import parse

TODAY = dt.date(2026, 12, 1)
DEV = (ROOT / "Pulumi.dev.yaml").read_text()
PROD = (ROOT / "Pulumi.prod.yaml").read_text()


def renewed(text: str = DEV, *, group: str = "db", until: str = "2027-05-30", reason: str = "quarter end") -> Renewal:
    return renew(
        text,
        stack_file="Pulumi.dev.yaml",
        group=group,
        until=until,
        reason=reason,
        max_days=180,
        policy_source="policies/config/dev.json",
        today=TODAY,
    )


def changed_lines(renewal: Renewal) -> tuple[list[str], list[str]]:
    diff = renewal.diff("Pulumi.dev.yaml").splitlines()
    removed = [line for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def group_tags(text: str, group: str) -> dict[str, Any]:
    fleet = round_trip_yaml().load(text)["config"]["vmfleet:fleet"]
    return dict(next(entry for entry in fleet["vms"] if entry["name"] == group).get("tags") or {})


@pytest.mark.parametrize("text", [DEV, PROD], ids=["dev", "prod"])
def test_the_stack_files_survive_the_round_trip_byte_for_byte(text: str) -> None:
    yaml = round_trip_yaml()
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    assert out.getvalue() == text


def test_a_group_with_its_own_expiry_changes_on_that_line_only() -> None:
    renewal = renewed()
    removed, added = changed_lines(renewal)
    assert removed == ['-        tags: {role: database, owner: dba-team@example.com, expires: "2027-04-30"}']
    assert added == [
        '+        tags: {role: database, owner: dba-team@example.com, expires: "2027-05-30"}'
        "  # renewed 2026-12-01 from 2027-04-30: quarter end"
    ]
    assert group_tags(renewal.after, "db")["expires"] == "2027-05-30"
    assert renewal.after.splitlines()[:2] == DEV.splitlines()[:2], "the file's leading comments are kept"
    assert (renewal.previous, renewal.until) == ("2027-04-30", dt.date(2027, 5, 30))


def test_a_group_on_the_stack_default_gets_its_own_expiry_on_its_tags_line() -> None:
    renewal = renewed(group="web", until="2027-03-31", reason="demo  extended\nagain")
    removed, added = changed_lines(renewal)
    assert removed == ["-        tags: {role: frontend}"]
    assert added == [
        '+        tags: {role: frontend, expires: "2027-03-31"}'
        "  # renewed 2026-12-01 from 2027-02-28: demo extended again"
    ]
    assert group_tags(renewal.after, "app") == group_tags(DEV, "app"), "other groups keep the default"


def test_a_group_without_tags_gets_them() -> None:
    text = DEV.replace('        tags: {role: bastion, owner: "group:sre"}\n', "")
    renewal = renewed(text, group="jump", until="2027-03-31")
    assert group_tags(renewal.after, "jump") == {"expires": "2027-03-31"}
    parse(round_trip_yaml().load(renewal.after)["config"]["vmfleet:fleet"], source="test")


def test_a_one_line_group_keeps_its_line_with_the_note_after_it() -> None:
    renewal = renew(
        PROD,
        stack_file="Pulumi.prod.yaml",
        group="pg",
        until="2027-11-30",
        reason="db migration",
        max_days=365,
        policy_source="policies/config/prod.json",
        today=TODAY,
    )
    removed, added = changed_lines(renewal)
    assert len(removed) == len(added) == 1
    assert added[0].endswith(
        'backup: gold, expires: "2027-11-30"}}  # renewed 2026-12-01 from 2027-10-31: db migration'
    )


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"group": "nope"}, "has no VM group 'nope' in vmfleet:fleet.vms; its groups: web, app, db, jump"),
        ({"until": "31.5.2027"}, "UNTIL is '31.5.2027'; give the new expiry as a date YYYY-MM-DD"),
        ({"until": "2027-02-30"}, "UNTIL is '2027-02-30', which is no day of the calendar"),
        ({"group": ""}, "VM is missing: give the VM group to renew, one of web, app, db, jump"),
        ({"until": "2026-12-01"}, "UNTIL 2026-12-01 is not after today (2026-12-01)"),
        ({"until": "2026-11-01"}, "is not after today"),
        ({"until": "2027-05-31"}, "beyond the stack's maximum lifespan of 180 days (policies/config/dev.json "
         "vm-lifespan.maxLifespanDays): renew until 2027-05-30 at the latest"),
        ({"until": "2027-04-01"}, "UNTIL 2027-04-01 is not after db's expiry 2027-04-30: a renewal extends a lease"),
        ({"reason": "  \n "}, "REASON is empty"),
    ],
)  # fmt: skip
def test_refusals_say_what_was_found_and_what_would_do(arguments: dict[str, str], said: str) -> None:
    with pytest.raises(RenewalError) as refused:
        renewed(**arguments)
    assert said in str(refused.value)


def test_a_permanent_group_has_no_lease_to_renew() -> None:
    text = DEV.replace(
        "tags: {role: frontend}", 'tags: {role: frontend, lifespan: permanent, lifespan_justification: "x"}'
    )
    with pytest.raises(RenewalError, match="is tagged lifespan: permanent; it has no lease to renew"):
        renewed(text, group="web")


def copy_of_the_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "policies" / "config").mkdir(parents=True)
    shutil.copy(ROOT / "policies" / "config" / "dev.json", tmp_path / "policies" / "config" / "dev.json")
    return tmp_path


def test_the_file_is_written_only_when_the_renewal_is_accepted(tmp_path: Path) -> None:
    root = copy_of_the_project(tmp_path)
    limit = (dt.date.today() + dt.timedelta(days=180)).isoformat()
    with pytest.raises(RenewalError):
        renew_file(root, "dev", "db", "2099-01-01", "too long", dt.date.today())
    assert (root / "Pulumi.dev.yaml").read_text() == DEV
    renewal = renew_file(root, "dev", "db", limit, "at the limit", dt.date.today())
    assert (root / "Pulumi.dev.yaml").read_text() == renewal.after != DEV


def test_make_renew_prints_the_diff_and_refuses_bad_input_with_exit_status_1(tmp_path: Path) -> None:
    # `python -m leases` works on the checkout it lives in; run a copy of it.
    shutil.copytree(ROOT / "leases", tmp_path / "leases")
    shutil.copytree(ROOT / "vmfleet", tmp_path / "vmfleet")
    copy_of_the_project(tmp_path)
    until = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    command = [sys.executable, "-m", "leases", "renew", "--stack", "dev", "--vm", "web", "--until", until]
    ran = subprocess.run([*command, "--reason", "demo"], cwd=tmp_path, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("--- a/Pulumi.dev.yaml\n+++ b/Pulumi.dev.yaml\n")
    assert f"web: expires 2027-02-28 -> {until}" in ran.stderr
    refused = subprocess.run([*command, "--reason", ""], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("error: REASON is empty")


def test_an_unknown_stack_lists_the_stacks(tmp_path: Path) -> None:
    root = copy_of_the_project(tmp_path)
    with pytest.raises(
        RenewalError, match=r"there is no Pulumi.staging.yaml \(stack file of stack 'staging'\); the stacks: dev"
    ):
        renew_file(root, "staging", "db", "2027-05-01", "x", TODAY)
    with pytest.raises(RenewalError, match="STACK is missing: give the stack, one of dev"):
        renew_file(root, "", "db", "2027-05-01", "x", TODAY)


@pytest.mark.parametrize(
    "reason", ['the "Q1" close', "budget $5 per VM", "see `touch PWNED`", "see $$(touch PWNED)", "it's"]
)
def test_make_renew_writes_the_reason_exactly_as_given_and_runs_none_of_it(tmp_path: Path, reason: str) -> None:
    root = copy_of_the_project(tmp_path)
    for name in ("Makefile", "leases", "vmfleet", "scripts", "requirements.txt", "requirements-dev.txt"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / name)
    (root / ".venv").symlink_to(ROOT / ".venv")
    until = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    ran = subprocess.run(
        ["make", "--no-print-directory", "renew", "VM=web", f"UNTIL={until}", f"REASON={reason}"],
        cwd=root,
        capture_output=True,
        text=True,
        env={key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")},
    )
    assert ran.returncode == 0, ran.stderr
    assert f"from 2027-02-28: {reason}\n" in (root / "Pulumi.dev.yaml").read_text()
    assert not (root / "PWNED").exists()
