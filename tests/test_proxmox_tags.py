"""Mandatory tags as Proxmox VE tags: allowed characters only, lower case, in the cluster's order."""

from __future__ import annotations

from backends.proxmox.proxmox_tags import encode, proxmox_tags

TAGS = {
    "owner": "Ann.Smith@Example.com",
    "project": "storefront",
    "environment": "prod",
    "cost_center": "CC-4200",
    "expires": "2027-10-31",
    "backup": "gold",
    "role": "web",
}


def test_each_tag_is_a_proxmox_word() -> None:
    assert encode("owner", "Ann.Smith@Example.com") == "owner.ann.smith_example.com"
    assert encode("owner", "group:platform") == "owner.group_platform"
    assert encode("cost_center", "CC-4200") == "cost_center.cc-4200"


def test_mandatory_tags_and_the_backup_tier_sorted_as_the_cluster_returns_them() -> None:
    encoded = proxmox_tags(TAGS)
    assert encoded == [
        "backup.gold",
        "cost_center.cc-4200",
        "environment.prod",
        "expires.2027-10-31",
        "owner.ann.smith_example.com",
        "project.storefront",
    ]
    assert encoded == sorted(encoded), "a second preview must see the same order"
    assert "role.web" not in encoded, "free-form tags stay in the description document"
