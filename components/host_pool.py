"""A named group of hypervisor hosts that VMs are placed on."""

from __future__ import annotations

from typing import Optional

import pulumi

from components.backend import Backend, HostHandle
from vmfleet.placement import host_loads
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
        # The host-capacity policy reads these outputs to judge every VM on the pool's hosts.
        self.register_outputs(
            {
                "hosts": [
                    {
                        "name": load.host.name,
                        "uri": self.hosts[load.host.name].address,
                        "cpu_cores": load.host.cpu_cores,
                        "memory_mib": load.host.memory_mib,
                        "vcpu_capacity": load.vcpu_capacity,
                        "memory_mib_capacity": load.memory_capacity_mib,
                    }
                    for load in host_loads(spec)
                ],
                "cpu_overcommit": spec.cpu_overcommit,
                "memory_overcommit": spec.memory_overcommit,
            }
        )
