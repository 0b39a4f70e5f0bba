"""A backup tier: its schedule and retention, applied to its VMs on every cluster that runs some."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import pulumi

from components.backend import ClusterServices, VmHandle
from vmfleet.spec import BackupTier as BackupTierSpec


class BackupTier(pulumi.ComponentResource):
    """One backup job per host pool (cluster) with VMs in the tier."""

    vms: list[str]
    """Names of the VMs the tier backs up."""

    def __init__(
        self,
        name: str,
        spec: BackupTierSpec,
        vms_by_pool: Mapping[str, Sequence[VmHandle]],
        services: Mapping[str, ClusterServices],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:operations:BackupTier", name, None, opts)
        for pool, vms in sorted(vms_by_pool.items()):
            services[pool].backup_job(spec, pool, vms, parent=self)
        self.vms = sorted(vm.name for vms in vms_by_pool.values() for vm in vms)
        self.register_outputs(
            {
                "schedule": spec.schedule,
                "storage": spec.storage,
                "mode": spec.mode,
                "keep": spec.keep.model_dump(),
                "vms": self.vms,
            }
        )
