"""Previews run with scripts/preview.env's engine settings; up, down and refresh without them."""

from __future__ import annotations

import re
import subprocess

import pytest

from bench.run import preview_environment
from tests.declarations import ROOT

STACK_SH = (ROOT / "scripts" / "stack.sh").read_text()


def settings_for(action: str) -> str:
    """PULUMI_SKIP_CHECKPOINTS after stack.sh's own engine_settings function ran for `action`."""
    found = re.search(r"^engine_settings\(\) \{.*\}$", STACK_SH, re.M)
    assert found, "scripts/stack.sh defines engine_settings() on one line"
    program = f'{found.group(0)}\nengine_settings "$1"\necho "${{PULUMI_SKIP_CHECKPOINTS:-unset}}"'
    environment = {"PATH": "/usr/bin:/bin"}
    ran = subprocess.run(
        ["bash", "-c", program, "bash", action], cwd=ROOT, env=environment, check=True, capture_output=True, text=True
    )
    return ran.stdout.strip()


@pytest.mark.parametrize("action", ["preview", "review", "drift"])
def test_previews_skip_the_engines_checkpoints(action: str) -> None:
    assert settings_for(action) == "true"


@pytest.mark.parametrize("action", ["up", "down", "refresh", "leftovers"])
def test_runs_that_change_the_hosts_keep_them(action: str) -> None:
    assert settings_for(action) == "unset"


def test_stack_sh_applies_the_settings_for_its_action_and_the_benchmark_reads_the_same_file() -> None:
    assert re.search(r'^engine_settings "\$action"$', STACK_SH, re.M)
    assert preview_environment() == {"PULUMI_SKIP_CHECKPOINTS": "true"}
