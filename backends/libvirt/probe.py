"""Which domain type a host can run: `kvm` when KVM really boots guests there, else `qemu`.

libvirt reports KVM usable whenever /dev/kvm opens, yet on some nested machines KVM guests hang at
their first instruction. `scripts/hypervisor.sh` boots a test guest once and records the verdict in
`KVM_VERDICT`; for a local host that verdict wins. Remote hosts are asked through libvirt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from backends.libvirt.host_call import Progress, call

KVM_VERDICT = Path("/var/lib/vmfleet/domain-type")
LOCAL_URIS = ("qemu:///system", "qemu:///session")


def best_domain_type(uri: str) -> str:
    """`kvm` or `qemu` for the host at `uri`; emulation is the fallback that works everywhere."""
    if uri in LOCAL_URIS and KVM_VERDICT.is_file():
        verdict = KVM_VERDICT.read_text().strip()
        if verdict in ("kvm", "qemu"):
            return verdict

    def ask(conn: Any, _progress: Progress) -> str:
        try:
            conn.getDomainCapabilities(None, None, None, "kvm", 0)
            return "kvm"
        except Exception:
            return "qemu"

    try:
        return call(uri, "ask for KVM support", ask, read_only=True)
    except Exception as error:  # libvirt-python missing or the host unreachable: say so, do not guess kvm
        pulumi.log.warn(f"could not ask {uri} for KVM support ({error}); using domain type 'qemu'")
        return "qemu"
