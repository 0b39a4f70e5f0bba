"""Prometheus that follows the fleet: the stack's targets file and metrics file (vmfleet/monitoring.py),
written by `up` on the machine that runs it, and rewritten whenever the fleet changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

import pulumi

from backends.monitoring.files import TextFile
from vmfleet import monitoring
from vmfleet.plan import VmInstance
from vmfleet.spec import Fleet
from vmfleet.spec import Monitoring as MonitoringSpec


class Monitoring(pulumi.ComponentResource):
    """`<targets_dir>/<stack>-libvirt.json` (file_sd) and `<textfile_dir>/vmfleet-<stack>.prom`."""

    targets_file: str
    metrics_file: str

    def __init__(
        self,
        name: str,
        spec: MonitoringSpec,
        fleet: Fleet,
        instances: Sequence[VmInstance],
        host_of: Mapping[str, str],
        domains: Mapping[str, str],
        thresholds: monitoring.Thresholds,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:operations:Monitoring", name, None, opts)
        stack = pulumi.get_stack()
        self.targets_file = str(Path(spec.targets_dir) / f"{stack}-libvirt.json")
        self.metrics_file = str(Path(spec.textfile_dir) / f"vmfleet-{stack}.prom")
        child = pulumi.ResourceOptions(parent=self)
        TextFile(f"{name}-targets", self.targets_file, monitoring.targets(fleet, stack), child)
        text = monitoring.metrics(fleet, stack, instances, host_of, domains, thresholds)
        TextFile(f"{name}-metrics", self.metrics_file, text, child)
        self.register_outputs({"targets": self.targets_file, "metrics": self.metrics_file})
