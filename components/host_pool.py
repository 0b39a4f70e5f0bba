"""A named group of hypervisor hosts that VMs are placed on."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.backend import Backend, HostHandle
from vmfleet.spec import HostPool as HostPoolSpec


class HostPool(pulumi.ComponentResource):
    """One provider (connection) and one storage pool per host of the pool."""

    hosts: dict[str, HostHandle]
    """Handles by host name."""

    def __init__(
        self,
        name: str,
        spec: HostPoolSpec,
        backend: Backend,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:fleet:HostPool", name, None, opts)
        self.hosts = {host.name: backend.host(spec, host, parent=self) for host in spec.hosts}
        self.register_outputs(
            {
                "hosts": [host.name for host in spec.hosts],
                "cpu_overcommit": spec.cpu_overcommit,
                "memory_overcommit": spec.memory_overcommit,
            }
        )
