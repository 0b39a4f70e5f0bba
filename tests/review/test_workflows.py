"""The GitHub Actions workflows: actionlint passes, they run the make targets the README documents
(so CI and laptops do the same thing), and secrets reach steps only through the environment."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from review import stacks
from tests.declarations import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    return {("on" if key is True else key): value for key, value in document.items()}


def run_steps(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def test_there_is_a_workflow_for_review_deploy_drift_and_audit() -> None:
    assert [path.name for path in WORKFLOWS] == ["audit.yml", "deploy.yml", "drift.yml", "review.yml", "test.yml"]
    triggers = {path.stem: set(load(path)["on"]) for path in WORKFLOWS}
    assert triggers == {
        "review": {"pull_request"},
        "deploy": {"push", "workflow_dispatch"},
        "drift": {"schedule", "workflow_dispatch"},
        "audit": {"schedule", "workflow_dispatch"},
        "test": {"pull_request", "push"},
    }


def test_actionlint_passes_on_every_workflow() -> None:
    actionlint = subprocess.run(
        [str(ROOT / "scripts" / "tools.sh"), "actionlint"], check=True, capture_output=True, text=True
    ).stdout.strip()
    linted = subprocess.run([actionlint, "-no-color", "-oneline"], cwd=ROOT, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def readme_make_targets() -> set[str]:
    return set(re.findall(r"`make ([a-z-]+)", (ROOT / "README.md").read_text()))


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z-]+):.*## ", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflows_run_the_make_targets_the_readme_documents(path: Path) -> None:
    used = {target for script in run_steps(load(path)) for target in re.findall(r"\bmake ([a-z-]+)", script)}
    assert used, f"{path.name} runs no make target"
    assert used <= readme_make_targets(), f"{path.name} runs make targets the README does not show: {used}"
    assert used <= makefile_targets()


def test_the_workflows_use_review_deploy_drift_and_audit_targets() -> None:
    used = {
        path.stem: {target for script in run_steps(load(path)) for target in re.findall(r"\bmake ([a-z-]+)", script)}
        for path in WORKFLOWS
    }
    assert used == {
        "review": {"review"},
        "deploy": {"up", "drift"},
        "drift": {"drift"},
        "audit": {"audit"},
        "test": {"test"},
    }


SECRET_NAMES = ("PULUMI_CONFIG_PASSPHRASE", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_KEY", "PULUMI_ACCESS_TOKEN")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_secrets_reach_only_the_make_steps_through_their_environment(path: Path) -> None:
    workflow = load(path)
    for name, job in workflow["jobs"].items():
        assert "secrets." not in json.dumps(job.get("env", {})), f"{path.name} {name}: secrets in a job's env"
        for step in job.get("steps", []):
            text = json.dumps(step)
            if "secrets." not in text:
                continue
            assert "run" in step and re.search(r"\bmake (review|up|drift|audit)\b", step["run"]), (
                f"{path.name} {name}: a secret reaches a step that is not a make step: {step.get('name') or step}"
            )
            assert "secrets." not in step["run"], f"{path.name}: a secret is interpolated into a script"
    for script in run_steps(workflow):
        assert "set -x" not in script
        for secret in (*SECRET_NAMES, "VMFLEET_STACK_SECRETS"):
            assert secret not in script, f"{path.name}: a script names {secret}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_checkouts_leave_no_token_behind(path: Path) -> None:
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, (
                    f"{path.name}: a checkout keeps the job's token in .git/config, readable by the code it checks out"
                )


def test_previews_and_deploys_run_on_runners_of_their_own_one_deploy_at_a_time() -> None:
    deploy = load(ROOT / ".github" / "workflows" / "deploy.yml")
    up = deploy["jobs"]["up"]
    assert up["concurrency"] == {"group": "deploy-${{ matrix.stack }}", "cancel-in-progress": False}
    assert up["environment"] == "${{ matrix.stack }}"
    assert up["runs-on"] == ["self-hosted", "linux", "vmfleet-${{ matrix.stack }}"]
    # The audit reads what the drift check reads: it shares its runners and environment.
    for name, environment in (("review", "preview"), ("drift", "drift"), ("audit", "drift")):
        workflow = load(ROOT / ".github" / "workflows" / f"{name}.yml")
        job = next(job for job in workflow["jobs"].values() if "matrix" in job.get("strategy", {}))
        assert job["runs-on"] == ["self-hosted", "linux", "vmfleet-${{ matrix.stack }}-preview"], name
        assert job["environment"] == f"${{{{ matrix.stack }}}}-{environment}", name
    labels = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())["self-hosted-runner"]["labels"]
    stack_names = stacks.declared(ROOT)
    assert labels == [label for stack in stack_names for label in (f"vmfleet-{stack}", f"vmfleet-{stack}-preview")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_pulumi_logins_stay_out_of_the_cached_engine_folder(path: Path) -> None:
    """PULUMI_HOME is in the cached ~/.cache/fleet/engine; a Pulumi Cloud token must not be written there."""
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if "secrets." in json.dumps(step):
                assert step["env"]["PULUMI_CREDENTIALS_PATH"] == "${{ runner.temp }}/pulumi-credentials"


def test_the_review_gate_always_reports() -> None:
    gate = load(ROOT / ".github" / "workflows" / "review.yml")["jobs"]["gate"]
    assert gate["if"] == "always()" and set(gate["needs"]) == {"stacks", "preview"}


def test_a_stack_can_be_deployed_by_hand_by_its_name() -> None:
    options = load(ROOT / ".github" / "workflows" / "deploy.yml")["on"]["workflow_dispatch"]["inputs"]["stack"]
    assert options["options"] == stacks.declared(ROOT)


def test_only_the_jobs_that_write_to_github_may() -> None:
    """Least privilege: the workflow reads; the comment and the drift issue are their jobs' only writes."""
    writes = {}
    for path in WORKFLOWS:
        workflow = load(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for name, job in workflow["jobs"].items():
            extra = {key: value for key, value in (job.get("permissions") or {}).items() if value != "read"}
            if extra:
                writes[f"{path.stem}/{name}"] = extra
    assert writes == {
        "review/preview": {"pull-requests": "write"},
        "drift/drift": {"issues": "write"},
        "audit/audit": {"issues": "write"},
    }
