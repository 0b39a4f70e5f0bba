"""Every policy called directly: a compliant VM passes, and each violation path fails with a useful message."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pulumi_policy import ResourceValidationPolicy
from vmpolicies import (
    approved_templates,
    expiry_notice,
    lifespan,
    mandatory_tags,
    naming,
    protection,
    segmentation,
    sizing_limits,
)
from vmpolicies.registry import POLICIES

from tests.declarations import ROOT
from tests.policies.helpers import TODAY, compliant_domain, violations, with_document

ALL_RESOURCE_POLICIES = [policy for policy in POLICIES if isinstance(policy, ResourceValidationPolicy)]


@pytest.mark.parametrize("policy", ALL_RESOURCE_POLICIES, ids=lambda p: p.name)
def test_compliant_vm_passes(policy: object) -> None:
    assert violations(policy, compliant_domain()) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ALL_RESOURCE_POLICIES, ids=lambda p: p.name)
def test_other_resource_types_are_not_judged(policy: object) -> None:
    assert violations(policy, {"name": "x"}, resource_type="libvirt:index/network:Network") == []  # type: ignore[arg-type]


# mandatory-tags ---------------------------------------------------------------------------------


def test_vm_without_any_tags() -> None:
    props = compliant_domain()
    del props["metadata"]
    [message] = violations(mandatory_tags.POLICY, props)
    assert message.startswith("VM 'test-db-01' breaks mandatory tags: the VM carries no tags at all")
    assert "Fix:" in message


@pytest.mark.parametrize("key", ["owner", "project", "environment", "cost_center", "expires"])
def test_each_required_tag_missing(key: str) -> None:
    [message] = violations(mandatory_tags.POLICY, compliant_domain(**{key: None}))
    assert f"tag {key!r} is missing" in message and "test-db-01" in message


def test_extra_required_tags_from_config() -> None:
    [message] = violations(mandatory_tags.POLICY, compliant_domain(), {"extraRequiredTags": ["role"]})
    assert "tag 'role' is missing" in message


def test_owner_must_be_email_or_configured_group() -> None:
    assert "is neither an e-mail address" in violations(mandatory_tags.POLICY, compliant_domain(owner="alice"))[0]
    unlisted = violations(mandatory_tags.POLICY, compliant_domain(owner="group:sre"))
    assert "none configured" in unlisted[0]
    assert violations(mandatory_tags.POLICY, compliant_domain(owner="group:sre"), {"ownerGroups": ["sre"]}) == []


def test_environment_known_and_equal_to_the_stack() -> None:
    unknown = violations(mandatory_tags.POLICY, compliant_domain(environment="qa"))
    assert "environment 'qa' is not a known environment" in unknown[0]
    wrong = violations(
        mandatory_tags.POLICY, compliant_domain(), {"environment": "prod", "environments": ["test", "prod"]}
    )
    assert "differs from this stack's 'prod'" in wrong[0]


def test_cost_center_pattern_is_configurable() -> None:
    assert "does not match" in violations(mandatory_tags.POLICY, compliant_domain(cost_center="1234"))[0]
    assert (
        violations(mandatory_tags.POLICY, compliant_domain(cost_center="FIN-7"), {"costCenterPattern": "^FIN-[0-9]+$"})
        == []
    )


def test_expires_must_be_an_iso_date() -> None:
    [message] = violations(mandatory_tags.POLICY, compliant_domain(expires="2027/01/01"))
    assert "expires '2027/01/01' is not an ISO date" in message


def test_malformed_tag_key() -> None:
    [message] = violations(mandatory_tags.POLICY, compliant_domain(**{"Cost-Center": "x"}))
    assert "tag key 'Cost-Center' is malformed" in message


# sizing-limits -----------------------------------------------------------------------------------


def test_sizes_over_the_limits() -> None:
    props = with_document({**compliant_domain(), "vcpu": 4.0, "memory": 2048.0}, disk_gib=50)
    found = violations(sizing_limits.POLICY, props, {"maxVcpus": 2, "maxMemoryMib": 1024, "maxDiskGib": 8})
    assert len(found) == 3
    assert "vCPUs 4 exceeds the limit of 2" in found[0]
    assert "memory 2048 MiB exceeds the limit of 1024 MiB" in found[1]
    assert "disk 50 GiB exceeds the limit of 8 GiB" in found[2]


def test_limits_from_the_engine_arrive_as_floats_and_read_as_integers() -> None:
    props = {**compliant_domain(), "memory": 2048.0}
    [message] = violations(sizing_limits.POLICY, props, {"maxMemoryMib": 1024.0})
    assert "exceeds the limit of 1024 MiB" in message


def test_sizes_exactly_at_the_limits_pass() -> None:
    props = with_document({**compliant_domain(), "vcpu": 2.0, "memory": 1024.0}, disk_gib=8)
    assert violations(sizing_limits.POLICY, props, {"maxVcpus": 2, "maxMemoryMib": 1024, "maxDiskGib": 8}) == []


def test_provider_defaults_count_when_size_is_absent() -> None:
    props = compliant_domain()
    del props["vcpu"], props["memory"]
    assert "memory 512 MiB exceeds" in violations(sizing_limits.POLICY, props, {"maxMemoryMib": 256})[0]


def test_disk_unknown_without_a_document() -> None:
    props = compliant_domain()
    del props["metadata"]
    assert "its disk cannot be judged" in violations(sizing_limits.POLICY, props)[0]


def test_catalog_only() -> None:
    config = {"catalogOnly": True, "catalog": ["nano", "small"]}
    assert violations(sizing_limits.POLICY, compliant_domain(), config) == []
    custom = with_document(compliant_domain(), size="custom")
    assert "size 'custom' is not from the catalog" in violations(sizing_limits.POLICY, custom, config)[0]


# vm-lifespan and vm-expiry-notice ---------------------------------------------------------------


def test_expired_vm() -> None:
    [message] = violations(lifespan.POLICY, compliant_domain(expires="2026-11-20"))
    assert "it expired on 2026-11-20 (6 days ago)" in message


def test_expires_today_is_not_yet_expired_but_noticed() -> None:
    props = compliant_domain(expires=TODAY.isoformat())
    assert violations(lifespan.POLICY, props) == []
    assert "in 0 days" in violations(expiry_notice.POLICY, props)[0]


def test_exactly_at_the_maximum_lifespan_passes_one_day_more_fails() -> None:
    at_limit = (TODAY + dt.timedelta(days=180)).isoformat()
    assert violations(lifespan.POLICY, compliant_domain(expires=at_limit), {"maxLifespanDays": 180}) == []
    beyond = (TODAY + dt.timedelta(days=181)).isoformat()
    [message] = violations(lifespan.POLICY, compliant_domain(expires=beyond), {"maxLifespanDays": 180})
    assert "beyond the maximum lifespan of 180 days" in message and f"on or before {at_limit}" in message


def test_lifespan_cannot_be_judged_without_expires() -> None:
    assert "cannot be judged" in violations(lifespan.POLICY, compliant_domain(expires=None))[0]


def test_permanent_exemption_only_where_allowed_and_justified() -> None:
    far = (TODAY + dt.timedelta(days=2000)).isoformat()
    permanent = compliant_domain(expires=far, lifespan="permanent")
    assert "not allowed in this stack" in violations(lifespan.POLICY, permanent)[0]
    assert "has no justification" in violations(lifespan.POLICY, permanent, {"allowPermanent": True})[0]
    justified = compliant_domain(expires=far, lifespan="permanent", lifespan_justification="licence server")
    assert violations(lifespan.POLICY, justified, {"allowPermanent": True}) == []
    expired = compliant_domain(expires="2026-01-01", lifespan="permanent", lifespan_justification="x")
    assert "expired" in violations(lifespan.POLICY, expired, {"allowPermanent": True})[0]


def test_expiry_notice_window() -> None:
    assert violations(expiry_notice.POLICY, compliant_domain()) == [], "60 days left is outside a 14-day notice"
    soon = compliant_domain(expires=(TODAY + dt.timedelta(days=14)).isoformat())
    assert "in 14 days" in violations(expiry_notice.POLICY, soon)[0]
    assert violations(expiry_notice.POLICY, soon, {"warnDays": 7}) == []
    assert violations(expiry_notice.POLICY, compliant_domain(expires="2026-01-01")) == [], "expired is vm-lifespan's"


# approved-templates ------------------------------------------------------------------------------


def test_unapproved_template() -> None:
    [message] = violations(approved_templates.POLICY, compliant_domain(), {"approved": ["golden"]})
    assert "template 'tiny' is not approved" in message and "use one of golden" in message


def test_stale_template() -> None:
    props = with_document(compliant_domain(), template_patched="2026-05-01")
    [message] = violations(approved_templates.POLICY, props, {"maxTemplateAgeDays": 90})
    assert "last patched 2026-05-01, more than 90 days ago" in message
    edge = with_document(compliant_domain(), template_patched=(TODAY - dt.timedelta(days=90)).isoformat())
    assert violations(approved_templates.POLICY, edge, {"maxTemplateAgeDays": 90}) == []


def test_vm_without_template_record() -> None:
    props = compliant_domain()
    del props["metadata"]
    assert "records no template" in violations(approved_templates.POLICY, props)[0]


# segmentation -------------------------------------------------------------------------------------


def test_interface_on_an_unknown_network() -> None:
    props = {**compliant_domain(), "networkInterfaces": [{"networkName": "default"}]}
    [message] = violations(segmentation.POLICY, props, {"networks": ["test-db", "test-web"]})
    assert "interface 0 is on 'default', which is not a declared segment" in message


def test_interface_without_firewall() -> None:
    props = {**compliant_domain(), "xml": {"xslt": ""}}
    found = violations(segmentation.POLICY, props, {"networks": ["test-db", "test-web"]})
    assert [m.split(": ", 1)[1].split(".")[0] for m in found] == [
        "interface 0 on 'test-db' has no firewall filter",
        "interface 1 on 'test-web' has no firewall filter",
    ]


def test_partly_filtered_vm() -> None:
    props = {**compliant_domain(), "xml": {"xslt": compliant_domain()["xml"]["xslt"].replace("test-web-fw", "")}}
    [message] = violations(segmentation.POLICY, props)
    assert "interface 1 on 'test-web' has no firewall filter" in message


# protection and naming -----------------------------------------------------------------------------


def test_protection_required() -> None:
    assert violations(protection.POLICY, compliant_domain(), {"requireProtect": True})[0].startswith(
        "VM 'test-db-01' breaks protection"
    )
    assert violations(protection.POLICY, compliant_domain(), {"requireProtect": True}, protect=True) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_naming_accepts_indexes_past_99_by_default_and_in_the_shipped_configs(stack: str) -> None:
    shipped: dict[str, str] = json.loads((ROOT / "policies" / "config" / f"{stack}.json").read_text())["naming"]
    for config in ({}, shipped):
        for index in ("01", "99", "100", "120", "9999"):
            assert violations(naming.POLICY, {**compliant_domain(), "name": f"{stack}-web-{index}"}, config) == []
        assert violations(naming.POLICY, {**compliant_domain(), "name": f"{stack}-web-1"}, config) != []


def test_naming_convention() -> None:
    assert violations(naming.POLICY, compliant_domain(), {"pattern": "^test-[a-z]+-[0-9]{2}$"}) == []
    bad = {**compliant_domain(), "name": "Test_DB1"}
    assert "does not match" in violations(naming.POLICY, bad)[0]
    assert violations(naming.POLICY, compliant_domain(), {"pattern": "^prod-.*$"}) != []
