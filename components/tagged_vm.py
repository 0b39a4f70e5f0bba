"""A VM with its governance tags, cloned from a template, on its segments behind their firewalls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

import pulumi

from components.backend import (
    ClusterServices,
    FilterHandle,
    HostHandle,
    ImageHandle,
    NetworkHandle,
    VmHandle,
    VmRequest,
)
from vmfleet import cloudinit, metadata
from vmfleet.addressing import NicAddress
from vmfleet.plan import VmInstance
from vmfleet.spec import Template


class TaggedVm(pulumi.ComponentResource):
    """One VM. Its tags travel in the machine-readable metadata document (see `vmfleet.metadata`)."""

    vm_id: pulumi.Output[str]
    """The backend's id of the VM."""
    host: str
    """The host the VM runs on."""
    tags: dict[str, str]
    """The VM's tags after stack defaults were applied."""
    handle: VmHandle
    """What the backend made: its id and the resource that is the VM."""

    def __init__(
        self,
        name: str,
        vm: VmInstance,
        template: Template,
        host: HostHandle,
        image: ImageHandle,
        networks: Sequence[NetworkHandle],
        filters: Mapping[str, FilterHandle],
        password_hashes: Mapping[str, pulumi.Output[str]],
        opts: Optional[pulumi.ResourceOptions] = None,
        addresses: Mapping[str, NicAddress] | None = None,
        archive_dir: str = "/var/lib/vmfleet/archive",
        left_out_of: Sequence[str] = (),
    ) -> None:
        super().__init__("vmfleet:compute:TaggedVm", name, None, opts)
        self.host = host.name
        self.tags = dict(vm.tags)
        hostname = vm.name
        user_data: pulumi.Input[str] = cloudinit.user_data(hostname, vm.cloud_init, {})
        if password_hashes:
            user_data = pulumi.Output.secret(
                pulumi.Output.all(**password_hashes).apply(
                    lambda hashes: cloudinit.user_data(hostname, vm.cloud_init, hashes)
                )
            )
        request = VmRequest(
            vm=vm,
            template=template,
            host=host,
            image=image,
            networks=networks,
            filters=filters,
            metadata=metadata.encode(metadata.document(vm, template, host.name)),
            user_data=user_data,
            meta_data=cloudinit.meta_data(f"{vm.name}-{template.version}", hostname),
            password_hashes=password_hashes,
            addresses=dict(addresses or {}),
            archive_dir=archive_dir,
            left_out_of=tuple(left_out_of),
        )
        created = host.backend.virtual_machine(request, parent=self)
        if vm.critical:
            if not isinstance(host.backend, ClusterServices):
                raise TypeError(f"VM {vm.name} is critical but host pool {host.pool} has no high availability")
            host.backend.high_availability(created, host, parent=self)
        self.handle = created
        self.vm_id = created.vm_id
        self.register_outputs(
            {
                "vm_id": self.vm_id,
                "host": self.host,
                "tags": self.tags,
                "size": vm.size,
                "segments": list(vm.segments),
                "addresses": {segment: nic.address for segment, nic in (addresses or {}).items()},
            }
        )
