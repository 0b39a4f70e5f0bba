"""scripts/stack.sh prints the state backend's URL without its password, and passes it on untouched."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.declarations import ROOT

STACK_SH = (ROOT / "scripts" / "stack.sh").read_text()


def masked(url: str) -> str:
    """stack.sh's own masked_url function, run by bash."""
    found = re.search(r"^masked_url\(\) \{.*\}$", STACK_SH, re.M)
    assert found, "scripts/stack.sh defines masked_url() on one line"
    program = f'{found.group(0)}\nmasked_url "$1"'
    result = subprocess.run(["bash", "-c", program, "bash", url], check=True, capture_output=True, text=True)
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgres://vmfleet:8cac07b679ac@127.0.0.1:5433/vmfleet?sslmode=disable",
            "postgres://vmfleet:***@127.0.0.1:5433/vmfleet?sslmode=disable",
        ),
        ("postgres://team:p%40ss%3Aword@db.example.com/state", "postgres://team:***@db.example.com/state"),
        ("postgres://team:p@ss:w@rd@db.example.com:5432/state", "postgres://team:***@db.example.com:5432/state"),
        ("postgres://team:@db.example.com/state", "postgres://team:***@db.example.com/state"),
        (
            "postgres://db.example.com/state?user=team&password=hunter2&sslmode=require",
            "postgres://db.example.com/state?user=team&password=***&sslmode=require",
        ),
        ("postgres://team@db.example.com/state", "postgres://team@db.example.com/state"),
        ("postgres:///vmfleet?host=/run/postgresql", "postgres:///vmfleet?host=/run/postgresql"),
        ("file:///work/main/.state?metadata=skip", "file:///work/main/.state?metadata=skip"),
        ("s3://team-state/vmfleet?region=eu-west-1", "s3://team-state/vmfleet?region=eu-west-1"),
    ],
)
def test_the_log_shows_the_backend_url_without_its_password(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_the_url_is_masked_where_it_is_printed_and_handed_on_as_it_is() -> None:
    printed = [line for line in STACK_SH.splitlines() if re.match(r"\s*echo\b.*\$\{?PULUMI_BACKEND_URL", line)]
    assert printed == ['echo "==> stack $STACK, state $(masked_url "$PULUMI_BACKEND_URL")"']
    assert not re.search(r"^\s*(export )?PULUMI_BACKEND_URL=.*masked", STACK_SH, re.M), "the mask is for the log only"


def before_up_function() -> str:
    found = re.search(r"^before_up\(\) \{\n(.*?\n)\}$", STACK_SH, re.M | re.S)
    assert found, "scripts/stack.sh defines before_up()"
    return found.group(0)


def test_up_runs_the_empty_state_check_first_and_stops_when_it_fails() -> None:
    assert re.search(r"^  up\)\n    before_up \|\| exit 1\n    locked up .*\|\| exit \$\?\n", STACK_SH, re.M)


def test_up_ends_with_the_snapshot_retention_and_down_runs_the_program_for_its_delete_hooks() -> None:
    up = STACK_SH.split("\n  up)\n", 1)[1].split(";;", 1)[0]
    assert up.strip().endswith('.venv/bin/python -m snapshots prune --stack "$STACK"')
    down = STACK_SH.split("\n  down)\n", 1)[1].split(";;", 1)[0]
    assert "export VMFLEET_DESTROY=1" in down
    assert re.search(r"locked destroy .*--run-program", down)


@pytest.mark.parametrize(("adopt", "status"), [("1", 0), ("", 127)])
def test_adopt_1_skips_the_check(adopt: str, status: int) -> None:
    # No pulumi on PATH: the check itself cannot run, so only ADOPT=1 gets past it.
    program = f"{before_up_function()}\nbefore_up"
    environment = {"PATH": "/usr/bin:/bin", "ADOPT": adopt, "STACK": "dev"}
    ran = subprocess.run(["bash", "-c", program], env=environment, capture_output=True, text=True, cwd="/tmp")
    assert ran.returncode == status, ran.stderr
