"""Micro-segmentation: a segment's rule set, enforced on every VM interface of the segment."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Optional

import pulumi

from components.backend import FilterHandle, HostHandle
from vmfleet.spec import Firewall as FirewallSpec


class Firewall(pulumi.ComponentResource):
    """The segment's filter on each host that has a VM on the segment."""

    filters: dict[str, FilterHandle]
    """Filters by host name."""

    def __init__(
        self,
        name: str,
        spec: FirewallSpec,
        segment_cidrs: Mapping[str, ipaddress.IPv4Network],
        hosts: Sequence[HostHandle],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:network:Firewall", name, None, opts)
        self.filters = {
            host.name: host.backend.firewall_filter(spec, segment_cidrs, host, parent=self) for host in hosts
        }
        self.register_outputs(
            {
                "segment": spec.segment,
                "default_ingress": spec.default_ingress,
                "default_egress": spec.default_egress,
                "ingress_rules": len(spec.ingress),
                "egress_rules": len(spec.egress),
                "hosts": sorted(self.filters),
            }
        )
