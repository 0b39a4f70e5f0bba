"""An access grant: people or groups given one of the estate's roles over a scope, per cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import pulumi

from components.backend import ClusterServices, VmHandle
from vmfleet.spec import AccessGrant as AccessGrantSpec


class AccessGrant(pulumi.ComponentResource):
    """The grant on each host pool (cluster) it reaches: its projects' pools, its VMs, or all."""

    def __init__(
        self,
        name: str,
        spec: AccessGrantSpec,
        scope_by_pool: Mapping[str, tuple[Sequence[str], Sequence[VmHandle]]],
        services: Mapping[str, ClusterServices],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:operations:AccessGrant", name, None, opts)
        for pool, (projects, vms) in sorted(scope_by_pool.items()):
            services[pool].access_grant(spec, pool, projects, vms, parent=self)
        self.register_outputs(
            {
                "role": spec.role,
                "groups": list(spec.groups),
                "users": list(spec.users),
                "projects": list(spec.projects),
                "vm_groups": list(spec.vm_groups),
                "pools": sorted(scope_by_pool),
            }
        )
