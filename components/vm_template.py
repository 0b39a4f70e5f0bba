"""A golden image: one base volume per host that runs VMs of the template."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import pulumi

from components.backend import HostHandle, ImageHandle
from vmfleet.spec import Template


class VmTemplate(pulumi.ComponentResource):
    """The template's image on each host that needs it."""

    images: dict[str, ImageHandle]
    """Base images by host name."""

    def __init__(
        self,
        name: str,
        spec: Template,
        hosts: Sequence[HostHandle],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("vmfleet:fleet:VmTemplate", name, None, opts)
        self.images = {host.name: host.backend.template_image(spec, host, parent=self) for host in hosts}
        self.register_outputs(
            {
                "version": spec.version,
                "patched": spec.patched.isoformat(),
                "hosts": sorted(self.images),
            }
        )
