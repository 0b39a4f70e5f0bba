"""Reading the engine's event stream: what is refused, how replacements and secrets read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from review import events, markdown
from review.changes import read
from review.events import Diagnostic, Preview, State, Step, Violation
from tests.review.conftest import RECORDED, fixture_lines, preview_of


def test_the_digest_form_is_refused_with_what_to_run() -> None:
    digest = json.dumps({"steps": [], "changeSummary": {"same": 1}}, indent=4)
    with pytest.raises(events.EventStreamError, match="PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true"):
        events.read(digest.splitlines(keepends=True), source="preview.json")
    with pytest.raises(events.EventStreamError, match="preview digest"):
        events.read([json.dumps({"steps": []})])


def test_text_output_and_empty_input_are_refused() -> None:
    with pytest.raises(events.EventStreamError, match="line 1: not a JSON engine event"):
        events.read(["Previewing update (dev):\n"])
    with pytest.raises(events.EventStreamError, match="is empty"):
        events.read([])


def test_a_secret_reads_as_secret_wherever_it_is() -> None:
    wrapped = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}
    assert events.masked({"a": [wrapped, {"b": wrapped}], "c": "plain"}) == {
        "a": [events.SECRET, {"b": events.SECRET}],
        "c": "plain",
    }


def test_a_replacement_is_one_step_with_both_states() -> None:
    preview = preview_of("segment")
    network = next(step for step in preview.steps.values() if step.name.endswith("-localhost-front"))
    assert network.op == "replace"
    assert network.old is not None and network.new is not None
    assert network.old.inputs["cidr"] != network.new.inputs["cidr"]
    assert network.replace_keys == ("cidr",)


def test_refresh_steps_are_not_changes_and_drift_counts_declared_properties_only() -> None:
    preview = preview_of("drift")
    assert all(step.op != "refresh" for step in preview.steps.values())
    changed = {events.name_of(urn): finding for urn, finding in preview.drift.items()}
    app = next(finding for name, finding in changed.items() if name.endswith("-app-01"))
    assert app.changed == ("autostart",) and not app.gone
    assert all(finding.gone for name, finding in changed.items() if "-web-01" in name)


def test_the_policy_description_line_is_dropped_from_messages() -> None:
    preview = preview_of("violations")
    lifespan = next(v for v in preview.violations if v.policy == "vm-lifespan")
    assert lifespan.message.startswith("VM '") and "\n" not in lifespan.message
    assert lifespan.level == "mandatory" and lifespan.pack == "vmfleet-governance"


def test_a_stream_cut_off_before_its_summary_is_not_a_completed_preview() -> None:
    lines = [line for line in fixture_lines("retag") if "summaryEvent" not in line]
    preview = events.read(lines)
    assert not preview.completed
    assert not markdown.verdict(read(preview, today=RECORDED, warn_days=14)).ok


def _preview_with(message: str, level: str = "mandatory") -> Preview:
    urn = "urn:pulumi:dev::vmfleet::vmfleet:fleet:Fleet$vmfleet:compute:TaggedVm::fleet-web-01"
    preview = Preview(stack="dev", project="vmfleet", result="succeeded", policy_packs={"vmfleet-governance": "0.1.0"})
    preview.steps[urn] = Step(
        urn=urn, type="vmfleet:compute:TaggedVm", op="same", old=None, new=State({}, {}, False, "")
    )
    preview.violations.append(Violation("naming", "vmfleet-governance", level, urn, message, "low"))
    return preview


def test_table_cells_keep_markdown_and_html_inert() -> None:
    hostile = "a | b <script>alert(1)</script> `code` **bold** [link](http://x) @octocat @org/team #12 ~~gone~~\nline 2"
    text = markdown.render(read(_preview_with(hostile), today=RECORDED, warn_days=14), today=RECORDED)
    row = next(line for line in text.splitlines() if line.startswith("| **mandatory** | naming |"))
    assert row.count(" | ") == 3, "a pipe in a message does not add a cell"
    assert "<script>" not in text and "&lt;script&gt;" in row
    assert "`@octocat`" in row and "`@org/team`" in row and "`#12`" in row, "no mention, no issue reference"
    assert "\\[link\\]" in row and "\\*\\*bold\\*\\*" in row and "\\`code\\`" in row
    assert "line 2" in row, "a message stays on its row"


def test_errors_are_fenced_whatever_they_contain() -> None:
    preview = _preview_with("x")
    preview.violations.clear()
    preview.result = "failed"
    preview.diagnostics.append(Diagnostic("error", "", "bad ``` fence </details> <img src=x>"))
    text = markdown.render(read(preview, today=RECORDED, warn_days=14), today=RECORDED)
    assert "````text\nbad ``` fence </details> <img src=x>\n````" in text


def test_a_replaced_proxmox_vm_is_a_new_clone_with_new_disks() -> None:
    """Built from the prod recording's own VM inputs: no cluster here to record an update against."""
    created = preview_of("prod-create")
    machine = next(
        s for s in created.steps.values() if s.type == "proxmoxve:index/vmLegacy:VmLegacy" and s.name == "prod-web-01"
    )
    assert machine.new is not None
    document = json.loads(machine.new.inputs["description"])
    smaller = {**document, "vcpus": 2, "size": "small"}
    old = State({**machine.new.inputs, "description": json.dumps(smaller)}, {}, True, machine.new.parent)
    replaced = Step(machine.urn, machine.type, "replace", old=old, new=machine.new, replace_keys=("cpu",))
    component = created.steps[machine.parent]
    preview = Preview(stack="prod", project="vmfleet", result="succeeded")
    preview.steps = {
        component.urn: Step(component.urn, component.type, "same", component.new, component.new),
        machine.urn: replaced,
    }
    review = read(preview, today=RECORDED, warn_days=14)
    assert [vm.change for vm in review.vms] == [
        "resize small → medium (2 → 4 vCPU): replaced by a new clone, its disks recreated (their data is lost)"
    ]


def test_a_stream_that_is_not_engine_events_or_is_cut_mid_line_is_refused() -> None:
    with pytest.raises(events.EventStreamError, match="line 1: not an engine event"):
        events.read(['{"a": 1}\n'])
    lines = fixture_lines("retag")
    cut = events.read([*lines[:-2], lines[-2][:40]])  # halfway through the summary event
    assert cut.cut_off and not cut.completed


def test_files_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    (tmp_path / "binary.jsonl").write_bytes(bytes(range(128, 256)))
    for path, says in [
        (tmp_path / "binary.jsonl", "is not text"),
        (tmp_path, "is a folder"),
        (tmp_path / "missing.jsonl", "does not exist"),
    ]:
        with pytest.raises(events.EventStreamError, match=says) as raised:
            events.read_file(path)
        assert str(path) in str(raised.value)


def test_a_stream_cut_off_before_its_summary_says_so() -> None:
    lines = [line for line in fixture_lines("retag") if "summaryEvent" not in line]
    text = markdown.render(read(events.read(lines), today=RECORDED, warn_days=14), today=RECORDED)
    assert "**❌ The preview did not finish**: its event stream ends before the engine's summary" in text


def test_a_preview_no_policy_pack_judged_cannot_pass_the_gate() -> None:
    """The `retag` recording without its policy events, as `pulumi preview --json` without a pack prints it."""
    policy = ('"policyEvent"', '"policyLoadEvent"', "SummaryEvent")
    lines = [line for line in fixture_lines("retag") if not any(word in line for word in policy)]
    lines = [line.replace('"PolicyPacks":{"vmfleet-governance|local|', '"unused":{"x|') for line in lines]
    preview = events.read(lines)
    assert preview.completed and not preview.policies_ran
    review = read(preview, today=RECORDED, warn_days=14)
    assert not markdown.verdict(review).gate_passes and not markdown.verdict(review).ok
    assert "**❌ No policy pack judged this preview**" in markdown.render(review, today=RECORDED)


def test_a_preview_stopped_mid_plan_shows_no_counts_and_says_its_plan_is_partial() -> None:
    text = markdown.render(read(preview_of("shrink-disk"), today=RECORDED, warn_days=14), today=RECORDED)
    assert "the plan below stops where the preview stopped" in text
    assert "| VMs | new |" not in text and "Policy violations" not in text and "No VM changes" not in text
    assert "shrinking it to 1 GiB is not possible without losing data" in text
    assert "Resource monitor has terminated" not in text
