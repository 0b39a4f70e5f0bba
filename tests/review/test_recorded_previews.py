"""The review of each preview the real engine recorded: the golden text, and what each case must say.

The fixtures are the engine's event streams of the lifecycle in tests/review/lifecycle.py (a
2-VM fleet on the local libvirt, and the prod stack's Proxmox fleet). `make review-fixtures` records
them again; `make review-fixtures RENDER=1` renders the golden files again after a renderer change.
"""

from __future__ import annotations

import difflib

import pytest

from review import DRIFT, markdown
from tests.review.conftest import MANIFEST, RECORDED, fixture_lines, preview_of, rendered, review_of
from tests.review.lifecycle import FIRST_HASH, PROXMOX_TOKEN, SECOND_HASH, expected_vm_changes
from tests.review.record import GOLDEN, render_case

CASES = sorted(MANIFEST["cases"])  # type: ignore[call-overload]


@pytest.mark.parametrize("case", CASES)
def test_rendering_matches_its_golden_file(case: str) -> None:
    expected = (GOLDEN / f"{case}.md").read_text()
    actual = render_case(case, MANIFEST)
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "rendered"))
    assert actual == expected, (
        f"tests/review/golden/{case}.md differs; if the change is intended, run `make review-fixtures RENDER=1` "
        f"and review the diff:\n{diff}"
    )


@pytest.mark.parametrize("case", [case for case in CASES if case != "prod-create"])
def test_each_affected_vm_reads_as_expected(case: str) -> None:
    """Every VM the preview touches, and no other, with its change in words (tests/review/lifecycle.py)."""
    assert {vm.name: vm.change for vm in review_of(case).affected} == expected_vm_changes(case, RECORDED)


def vm_row(case: str, vm: str) -> str:
    review = review_of(case)
    return next(change.change for change in review.vms if change.name == vm)


def test_create_lists_each_new_vm_with_its_size_template_and_segments() -> None:
    review = review_of("create")
    assert review.counts() == {"new": 2}
    kinds = {(row.section.title, row.kind) for row in review.resources}
    assert kinds == {
        ("Segments", "network"),
        ("Firewalls", "nwfilter"),
        ("Templates", "base image"),
        ("Host pools", "libvirt provider"),
        ("Host pools", "storage pool"),
    }
    prefix = preview_of("create").stack.removeprefix("test-")
    named = {row.kind: row.resource for row in review.resources}
    assert named == {
        "network": f"t{prefix}-front",
        "nwfilter": f"t{prefix}-front-fw",
        "base image": f"t{prefix}-tiny-1.0.qcow2",
        "libvirt provider": "qemu:///system",
        "storage pool": f"t{prefix}-vmfleet",
    }, "objects are named as they are on the host"


def test_objects_of_one_name_are_told_apart_by_host_or_pulumi_name() -> None:
    rows = review_of("prod-create").resources
    templates = [row for row in rows if row.kind == "template VM" and row.resource == "prod-rocky-9-2026.11"]
    assert len(templates) == 5 and {row.where for row in templates} == {f"pve-0{n}" for n in range(1, 6)}
    assert all(row.name_on_other_hosts for row in templates)
    acls = [row.resource for row in rows if row.kind == "acl"]
    assert len(acls) == len(set(acls)) > 1, "ACLs of one group are told apart by their Pulumi names"


def test_counts_of_vms_by_change() -> None:
    assert review_of("retag").counts() == {"changed": 1, "unchanged": 1}
    assert review_of("grow").counts() == {"new": 1, "unchanged": 2}
    assert review_of("resize").counts() == {"replaced": 1, "unchanged": 1}


def test_shrink_counts_a_removed_vm() -> None:
    assert review_of("shrink").counts() == {"removed": 1, "unchanged": 1}


def test_violations_fail_the_gate_mandatory_first() -> None:
    text = rendered("violations")
    assert "**❌ Policy gate fails** (mandatory violations: 1, advisory: 3)" in text
    table = text.split("### Policy violations", 1)[1].split("###", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    prefix = preview_of("violations").stack.replace("test-", "t")
    assert rows[0].startswith(f"| **mandatory** | vm-lifespan | {prefix}-web-01 | VM ") and "breaks lifespan" in rows[0]
    assert [row.split(" | ")[1] for row in rows[1:]] == ["sizing-limits", "vm-expiry-notice", "sizing-limits"]
    assert all(row.startswith("| advisory |") for row in rows[1:])
    assert not markdown.verdict(review_of("violations")).ok


def test_an_advisory_violation_alone_passes_the_gate() -> None:
    result = markdown.verdict(review_of("retag"))
    assert result.ok and result.mandatory == 0 and result.advisory == 1


def test_a_secret_change_shows_as_secret_and_never_its_value() -> None:
    assert vm_row("secret", "app-01") == "cloud-init user data changed ([secret]): in place"
    for case in CASES:
        raw = "".join(fixture_lines(case))
        texts = [rendered(case), rendered(case, markdown.GITHUB_COMMENT_LIMIT)]
        for secret in (FIRST_HASH, SECOND_HASH, PROXMOX_TOKEN):
            assert secret not in raw, f"the engine printed a secret in {case}"
            assert all(secret not in text for text in texts), f"the review of {case} shows a secret"


def test_a_replaced_network_replaces_its_vms_and_says_why() -> None:
    review = review_of("segment")
    assert review.counts() == {"replaced": 2}
    assert vm_row("segment", "web-01") == (
        "cloud-init network config changed; segment front's network is replaced: replaced, disk kept"
    )
    network = next(row for row in review.resources if row.kind == "network")
    assert network.change.startswith("replaced: cidr ") and " → " in network.change
    nwfilter = next(row for row in review.resources if row.kind == "nwfilter")
    assert nwfilter.change == "updated in place: xml changed"
    assert '+    <tcp dstportstart="443" dstportend="443" />' in nwfilter.diffs[0][1]


def test_a_program_error_fails_the_preview_with_its_message() -> None:
    text = rendered("error")
    assert "**❌ The preview failed** before the program declared the fleet" in text
    assert "vms[0] (web).segments[1]: 'dmz' is not a declared segment; declared: front" in text
    assert "program exited with non-zero exit code" not in text, "the engine's generic closing line is dropped"
    assert not preview_of("error").completed


def test_drift_is_a_failed_drift_check_and_output_only_differences_are_not_drift() -> None:
    result = markdown.verdict(review_of("drift"), DRIFT)
    assert not result.ok and result.drifted == 4  # web-01's domain and tags gone, app-01's domain and tags
    assert "**⚠️ Drift**: 4 resources changed on the hosts" in markdown.render(
        review_of("drift"), today=RECORDED, mode=DRIFT
    )
    assert markdown.verdict(review_of("retag"), DRIFT).drifted == 0, "output-only differences are no drift"


def test_expiring_vms_are_listed_with_their_owners_by_their_names_on_the_host() -> None:
    review = review_of("violations")
    prefix = review.preview.stack.replace("test-", "t")
    assert [(item.vm, item.owner, item.days_left) for item in review.expiring] == [
        (f"{prefix}-web-01", "qa@example.com", -1),
        (f"{prefix}-app-01", "qa@example.com", 10),
    ]
    assert f"| {prefix}-web-01 | qa@example.com | " in rendered("violations").split("### Expired or expiring")[1]


def test_data_loss_is_said_above_the_tables() -> None:
    assert "**⚠️ Disk data lost** for 2 VMs (removed, or disk made anew)" in rendered("template")
    assert "**⚠️ Disk data lost** for 1 VM" in rendered("shrink")
    assert "Disk data lost" not in rendered("resize") + rendered("drift"), "kept disks lose nothing"


def test_proxmox_vms_and_cluster_services_read_in_words() -> None:
    review = review_of("prod-create")
    assert review.counts() == {"new": 25}
    web = next(vm for vm in review.vms if vm.name == "web-01")
    assert web.change == "new: medium (4 vCPU, 8192 MiB, 80 GiB disk), ubuntu-2404 2026.11, on web"
    assert web.host.startswith("pve-") and web.owner == "group:platform"
    sections = {section.title: len(rows) for section, rows in review.sections().items()}
    assert sections["Backup tiers"] == 2 and sections["Templates"] == 20
    assert {row.kind for row in review.resources if row.section.title == "Templates"} == {
        "template VM",
        "download file",
    }
    assert markdown.verdict(review).ok


def test_stack_outputs_are_left_out() -> None:
    text = rendered("create")
    for output in ("inventory", "utilization", "placement"):
        assert output not in text


def test_the_recording_date_is_the_reviews_today() -> None:
    assert f"on {RECORDED.isoformat()}" in rendered("create")
