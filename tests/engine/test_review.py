"""The review on live previews: the lifecycle of tests/review/lifecycle.py through the real engine
and libvirt, each preview rendered as `make review` renders it; and `make review` / `make drift`
themselves on the dev stack (previews only: nothing is created)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from review import DRIFT, changes, events, markdown
from tests.declarations import ROOT
from tests.engine.harness import EphemeralStack
from tests.review.lifecycle import FIRST_HASH, SECOND_HASH, expected_vm_changes, record_lifecycle

pytestmark = pytest.mark.engine


def test_each_change_of_a_live_fleet_reads_in_words(ephemeral: EphemeralStack) -> None:
    today = dt.date.today()
    seen = []
    for recording in record_lifecycle(ephemeral, today):
        preview = events.read(recording.events, source=recording.name)
        review = changes.read(preview, today=today, warn_days=14)
        assert {vm.name: vm.change for vm in review.affected} == expected_vm_changes(recording.name, today)
        text = markdown.render(review, today=today)
        comment = markdown.render(review, today=today, limit=markdown.GITHUB_COMMENT_LIMIT)
        assert FIRST_HASH not in text + comment and SECOND_HASH not in text + comment
        result = markdown.verdict(review)
        if recording.name == "violations":
            assert recording.status != 0 and not result.ok and result.mandatory == 1 and result.advisory >= 1
        elif recording.name in ("error", "shrink-disk"):
            assert recording.status != 0 and not result.preview_completed
        else:
            assert recording.status == 0 and result.ok, recording.name
        if recording.name == "drift":
            assert not markdown.verdict(review, DRIFT).ok
        seen.append(recording.name)
    assert len(seen) == 14


def make(target: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`make <target> STACK=dev` with a state backend of its own and the review files in tmp_path."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    outer_make = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")  # run as from a shell, also under `make test`
    environment = {
        **{key: value for key, value in os.environ.items() if key not in outer_make},
        "PULUMI_BACKEND_URL": f"file://{state}?metadata=skip",
        "REVIEW_DIR": str(tmp_path / "review"),
        "REVIEW_PRINT": "comment",
    }
    return subprocess.run(
        ["make", target, "STACK=dev"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900
    )


def test_make_review_renders_the_dev_stacks_pending_change(tmp_path: Path) -> None:
    ran = make("review", tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = tmp_path / "review" / "dev"
    comment = (out / "comment.md").read_text()
    assert ran.stdout.endswith(comment), "REVIEW_PRINT=comment prints the comment"
    assert comment.startswith(markdown.marker("dev"))
    assert "**✅ Policy gate passes**" in comment and "| 0 → 6 | 6 |" in comment
    assert "| dev-db-01 | new: medium (2 vCPU, 512 MiB, 4 GiB disk), app-linux 1.1, on db | localhost |" in comment
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["ok"] and verdict["vms"] == {"new": 6} and verdict["resource_changes"] == 61
    assert (out / "review.md").read_text() == comment, "a 6-VM review fits a comment whole"
    assert (out / "events.jsonl").stat().st_size > 0


def test_make_drift_fails_while_anything_is_pending(tmp_path: Path) -> None:
    ran = make("drift", tmp_path)
    assert ran.returncode != 0
    verdict = json.loads((tmp_path / "review" / "dev" / "drift" / "verdict.json").read_text())
    assert not verdict["ok"] and verdict["mode"] == "drift" and verdict["drifted_resources"] == 0
    assert verdict["resource_changes"] == 61
    assert "**⚠️ Not deployed**: the hosts match the last deployment, but 61 resources would change" in ran.stdout
