"""Which domain type a host can run: `kvm` when libvirt reports it usable, else `qemu` (emulation)."""

from __future__ import annotations

import pulumi


def best_domain_type(uri: str) -> str:
    """Asks the libvirt daemon at `uri`; emulation is the fallback that works everywhere."""
    try:
        import libvirt

        conn = libvirt.openReadOnly(uri)
    except Exception as error:  # libvirt-python missing or daemon unreachable: say so, do not guess kvm
        pulumi.log.warn(f"could not ask {uri} for KVM support ({error}); using domain type 'qemu'")
        return "qemu"
    try:
        conn.getDomainCapabilities(None, None, None, "kvm", 0)
        return "kvm"
    except Exception:
        return "qemu"
    finally:
        conn.close()
