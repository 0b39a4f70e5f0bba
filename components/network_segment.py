"""A network segment: one network per host that has a VM on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import pulumi

from components.backend import HostHandle, NetworkHandle
from vmfleet.spec import Segment


class NetworkSegment(pulumi.ComponentResource):
    """The segment's network on each host that needs it."""

    networks: dict[str, NetworkHandle]
    """Networks by host name."""

    def __init__(
        self,
        name: str,
        spec: Segment,
        hosts: Sequence[HostHandle],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:network:NetworkSegment", name, None, opts)
        self.networks = {host.name: host.backend.segment_network(spec, host, parent=self) for host in hosts}
        self.register_outputs(
            {
                "cidr": str(spec.cidr),
                "mode": spec.mode,
                "vlan": spec.vlan,
                "hosts": sorted(self.networks),
            }
        )
