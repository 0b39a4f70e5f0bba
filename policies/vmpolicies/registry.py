"""Every policy of the pack, registered in one place."""

from __future__ import annotations

from pulumi_policy import Policy

from vmpolicies import (
    approved_templates,
    backup_coverage,
    expiry_notice,
    high_availability,
    host_capacity,
    lifespan,
    mandatory_tags,
    naming,
    protection,
    segmentation,
    sizing_limits,
)

POLICIES: list[Policy] = [
    mandatory_tags.POLICY,
    sizing_limits.POLICY,
    lifespan.POLICY,
    expiry_notice.POLICY,
    approved_templates.POLICY,
    segmentation.POLICY,
    protection.POLICY,
    host_capacity.POLICY,
    naming.POLICY,
    backup_coverage.POLICY,
    high_availability.POLICY,
]
