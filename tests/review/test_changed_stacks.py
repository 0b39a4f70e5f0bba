"""Which stacks a pull request previews and a push deploys, from the files it changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from review import stacks
from review.__main__ import main
from tests.declarations import ROOT

STACKS = ["dev", "prod"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["Pulumi.dev.yaml"], ["dev"]),
        (["policies/config/prod.json"], ["prod"]),
        (["Pulumi.dev.yaml", "policies/config/prod.json"], ["dev", "prod"]),
        (["README.md", "tests/test_placement.py", ".ci/run", "docs/notes.md"], []),
        (["components/fleet.py"], ["dev", "prod"]),
        (["policies/vmpolicies/naming.py"], ["dev", "prod"]),
        (["requirements.txt"], ["dev", "prod"]),
        ([".github/workflows/review.yml"], ["dev", "prod"]),
        (["something/new.cfg"], ["dev", "prod"]),
        (["Pulumi.staging.yaml"], []),
    ],
)
def test_touched_stacks(files: list[str], expected: list[str]) -> None:
    assert stacks.touched(files, STACKS) == expected


def test_the_repository_declares_its_stacks() -> None:
    assert stacks.declared(ROOT) == STACKS


def git(folder: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *arguments], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_changed_files_come_from_git_since_the_merge_base(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "ci")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "README.md").write_text("hello\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    base = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "checkout", "-qb", "change")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {a: 1}\n")
    git(tmp_path, "commit", "-qam", "edit dev")
    git(tmp_path, "checkout", "-q", "main")
    (tmp_path / "README.md").write_text("main moved on\n")
    git(tmp_path, "commit", "-qam", "main moves on")
    assert stacks.changed_files(tmp_path, "main", "change") == ["Pulumi.dev.yaml"], (
        "main's own commits are not the PR's"
    )
    assert stacks.changed_files(tmp_path, base, "change") == ["Pulumi.dev.yaml"]


def test_the_command_prints_every_stack_for_an_unknown_base(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stacks", "--base", "0000000000000000000000000000000000000000"]) == 0
    assert json.loads(capsys.readouterr().out) == STACKS
    assert main(["stacks", "--base", "no-such-revision"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == STACKS and "cannot compare" in captured.err


def test_the_stacks_command_needs_only_the_standard_library() -> None:
    """The workflows run it on a bare runner before anything is installed (-S: no site-packages)."""
    import sys

    ran = subprocess.run(
        [sys.executable, "-S", "-E", "-m", "review", "stacks", "--all"], cwd=ROOT, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == STACKS
