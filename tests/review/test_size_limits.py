"""A large preview still fits a GitHub comment, with its summary and policy results intact.

The 1,000-VM stream is made from a real recording (the `create` and `violations` fixtures): web-01's
component and resources repeated with the VM's name replaced (web-0001 ... web-1000), so every event
keeps the engine's own shape; a few of the recorded policy events are repeated the same way.
"""

from __future__ import annotations

from review import changes, events, markdown
from tests.review.conftest import RECORDED, fixture_lines

LIMIT = markdown.GITHUB_COMMENT_LIMIT


def fleet_of(count: int, mandatory: int, advisory: int) -> events.Preview:
    """The `create` recording with web-01 repeated `count` times, and policy events for the first VMs."""
    created = fixture_lines("create")
    of_web = [
        line for line in created if "web-01" in line and ("resourcePreEvent" in line or "resOutputsEvent" in line)
    ]
    rest = [line for line in created if line not in of_web and "policyEvent" not in line]
    stack = _stack_of(of_web[0])
    recorded = fixture_lines("violations")
    lifespan = next(line for line in recorded if '"policyName":"vm-lifespan"' in line)
    sizing = next(line for line in recorded if '"policyName":"sizing-limits"' in line and "web-01" in line)
    lifespan, sizing = (line.replace(_stack_of(line), stack) for line in (lifespan, sizing))
    summary = next(index for index, line in enumerate(rest) if "summaryEvent" in line)
    grown = rest[:summary]
    for index in range(1, count + 1):
        name = f"web-{index:04d}"
        grown += [line.replace("web-01", name) for line in of_web]
        if index <= mandatory:
            grown.append(lifespan.replace("web-01", name))
        if index <= advisory:
            grown.append(sizing.replace("web-01", name))
    return events.read(grown + rest[summary:])


def _stack_of(line: str) -> str:
    """The `urn:pulumi:<stack>::<project>` head of the first URN in an event line."""
    start = line.index("urn:pulumi:")
    return line[start : line.index("::", line.index("::", start) + 2)]


def vm_rows(text: str) -> int:
    table = text.split("### VMs", 1)[1].split("</details>", 1)[0]
    return sum(1 for line in table.splitlines() if line.startswith("| ")) - 1  # the header row


def test_a_thousand_vm_preview_fits_a_comment_with_summary_and_violations() -> None:
    preview = fleet_of(1000, mandatory=3, advisory=40)
    review = changes.read(preview, today=RECORDED, warn_days=14)
    assert review.counts()["new"] == 1000 + 1  # web-0001..web-1000, and app-01 of the recording
    full = markdown.render(review, today=RECORDED, limit=None)
    comment = markdown.render(review, today=RECORDED, limit=LIMIT, full_text_at="the job summary")
    assert len(full.encode()) > LIMIT, "the full text is too long for a comment (else this tests nothing)"
    assert len(comment.encode()) <= LIMIT
    assert comment.startswith(markdown.marker(preview.stack))
    assert "| 0 → 1001 | 1001 | 0 | 0 | 0 | 0 | 0 |" in comment, "the summary is kept"
    assert "**❌ Policy gate fails** (mandatory violations: 3, advisory: 40)" in comment
    violations = comment.split("### Policy violations", 1)[1].split("###", 1)[0]
    assert violations.count("| **mandatory** | vm-lifespan |") == 3
    assert violations.count("| advisory | sizing-limits |") == 40
    assert "left out" not in violations, "every violation is in the comment"
    kept_rows = vm_rows(comment)
    assert 0 < kept_rows < 1000
    assert f"_{1001 - kept_rows} VMs left out here to fit; the full text is in the job summary._" in comment
    assert vm_rows(full) == 1001, "the full text has every VM"


def test_when_violations_alone_are_too_many_mandatory_ones_come_first_and_the_rest_is_counted() -> None:
    preview = fleet_of(600, mandatory=200, advisory=600)
    review = changes.read(preview, today=RECORDED, warn_days=14)
    comment = markdown.render(review, today=RECORDED, limit=LIMIT, full_text_at="the job summary")
    assert len(comment.encode()) <= LIMIT
    violations = comment.split("### Policy violations", 1)[1].split("### VMs", 1)[0]
    assert violations.count("| **mandatory** |") == 200, "every mandatory violation is kept"
    assert "By policy: **mandatory**: vm-lifespan (200); advisory: sizing-limits (600)." in violations
    advisory_kept = violations.count("| advisory |")
    assert 0 <= advisory_kept < 600
    assert f"_{600 - advisory_kept} violations left out here to fit" in violations
    assert "VMs left out here to fit" in comment


def test_the_job_summary_limit_holds_too() -> None:
    preview = fleet_of(1000, mandatory=0, advisory=0)
    review = changes.read(preview, today=RECORDED, warn_days=14)
    tiny = markdown.render(review, today=RECORDED, limit=4000, full_text_at="the artifact")
    assert len(tiny.encode()) <= 4000
    assert "| 0 → 1001 |" in tiny and "**✅ Policy gate passes**" in tiny


def test_an_error_too_long_for_a_comment_is_shortened_and_the_rows_still_fit() -> None:
    preview = fleet_of(50, mandatory=0, advisory=0)
    preview.result = "failed"
    preview.diagnostics.append(
        events.Diagnostic("error", "", "Traceback (most recent call last):\n" + "  frame\n" * 20000)
    )
    review = changes.read(preview, today=RECORDED, warn_days=14)
    comment = markdown.render(review, today=RECORDED, limit=LIMIT, full_text_at="the job summary")
    assert len(comment.encode()) <= LIMIT
    assert "Traceback (most recent call last):" in comment and "more characters)" in comment
    assert vm_rows(comment) == 51, "the shortened error leaves room for every VM row"
