"""KVM/QEMU hosts through libvirt (pulumi-libvirt plus two dynamic resources of our own)."""

from backends.libvirt.adapter import LibvirtBackend

__all__ = ["LibvirtBackend"]
