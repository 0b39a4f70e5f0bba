"""A VM's governance tags as Proxmox VE tags: what the cluster's UI and API can filter on.

Proxmox tags are plain words, not key/value pairs, of letters, digits and `_ - + .`
(Proxmox VE's `pve-tag` format), and "Proxmox always sorts the VM tags. If the list
in template is not sorted, then Proxmox will always report a difference on the resource"
(bpg/terraform-provider-proxmox v0.111.1, docs/resources/virtual_environment_vm.md, `tags`; the
provider itself sorts with Go's byte order, proxmoxtf/resource/vm/vm.go). So each mandatory tag
becomes `<key>.<value>` in lower case with every other character turned into `_`, and the list is
sorted in byte order. The encoding loses detail (an owner's `@`); the VM's description carries the
full tag document, which is what policies and audits read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vmfleet import rules

ALLOWED = re.compile(r"[^a-z0-9_+.-]")


def encode(key: str, value: str) -> str:
    """`owner`, `Ann@Example.com` -> `owner.ann_example.com`."""
    return ALLOWED.sub("_", f"{key}.{value}".lower())


def proxmox_tags(tags: Mapping[str, str]) -> list[str]:
    """The mandatory tags (and the backup tier) as sorted Proxmox tags."""
    keys = [*rules.REQUIRED_TAGS, rules.BACKUP_TAG]
    return sorted({encode(key, tags[key]) for key in keys if tags.get(key)})
