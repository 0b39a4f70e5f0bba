#!/usr/bin/env bash
# Builds the dev fleet's golden image from Debian packages: a tiny Linux (Debian's cloud kernel and
# a busybox initramfs, booted by GRUB from a hybrid disk image) that starts in seconds under
# emulation. Its boot (scripts/tiny-image/) shows on the serial console, applies the VM's cloud-init
# NoCloud seed (hostname, users' SSH keys, addresses by network-config or DHCP), logs one
# "vmfleet-tiny: ready ..." line and leaves a login prompt; the ACPI power button powers it off. It
# exists so `make up` runs real, booting VMs on a laptop with no image download; real fleets point
# their templates at real golden images. A change to scripts/tiny-image/ needs a new VERSION (the
# image's file name, which Pulumi.dev.yaml's templates name).
#   usage: scripts/image.sh [output.qcow2]   (default /var/lib/vmfleet/images/vmfleet-tiny-$VERSION.qcow2)
set -euo pipefail
VERSION=1.1
here=$(cd "$(dirname "$0")" && pwd)
output=${1:-/var/lib/vmfleet/images/vmfleet-tiny-$VERSION.qcow2}
if [ -s "$output" ]; then
  exit 0
fi
case "$(basename "$output")" in
vmfleet-tiny-"$VERSION".qcow2) ;;
vmfleet-tiny-*.qcow2)
  echo "scripts/image.sh builds vmfleet-tiny $VERSION, not $(basename "$output"): point the template's image_path at $(dirname "$output")/vmfleet-tiny-$VERSION.qcow2 (and set its version to \"$VERSION\")" >&2
  exit 2
  ;;
esac
"$here/system-packages.sh" grub-pc-bin grub-common xorriso mtools busybox-static cpio qemu-utils kmod

# The drivers the boot loads, with what they depend on: virtio disks, the IDE CD-ROM of the i440fx
# machine (the seed; the cloud kernel has no AHCI), ISO 9660, virtio NICs, and the ACPI power
# button busybox acpid listens to.
MODULES=(virtio_pci virtio_blk virtio_net ata_piix sr_mod isofs button evdev)

echo "==> building the tiny VM image $output"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernel_package=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kernel_package")
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
kernel_version=${kernel_package#linux-image-}

root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc/vmfleet,etc/acpi/PWRF,run,mnt,home,root}
cp /bin/busybox "$root/bin/busybox"
install -m 0755 "$here/tiny-image/init" "$root/init"
install -m 0644 "$here/tiny-image/inittab" "$root/etc/inittab"
install -m 0755 "$here/tiny-image/boot" "$root/etc/vmfleet/boot"
install -m 0755 "$here/tiny-image/udhcpc.script" "$root/etc/vmfleet/udhcpc.script"
install -m 0644 "$here/tiny-image/yaml-paths.awk" "$root/etc/vmfleet/yaml-paths.awk"
install -m 0755 "$here/tiny-image/power-button" "$root/etc/acpi/PWRF/00000080"
printf 'vmfleet-tiny %s (\\n) on \\l\n\n' "$VERSION" >"$root/etc/issue"
printf '%s\n' "${MODULES[@]}" >"$root/etc/vmfleet/modules"

depmod -b "$work/kernel" "$kernel_version"
for module in "${MODULES[@]}"; do
  modprobe -d "$work/kernel" -S "$kernel_version" --show-depends "$module" | awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r file; do
  relative=${file#"$work/kernel"/}
  mkdir -p "$root/$(dirname "$relative")"
  cp "$file" "$root/$relative"
done
cp "$work/kernel/lib/modules/$kernel_version"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$kernel_version/"
depmod -b "$root" "$kernel_version"

mkdir -p "$work/iso/boot/grub"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/iso/boot/initrd.img"
cp "$work"/kernel/boot/vmlinuz-* "$work/iso/boot/vmlinuz"
cat > "$work/iso/boot/grub/grub.cfg" <<'GRUB'
set timeout=0
menuentry "vmfleet-tiny" {
  linux /boot/vmlinuz console=ttyS0,115200 panic=10
  initrd /boot/initrd.img
}
GRUB
grub-mkrescue --quiet -o "$work/tiny.img" "$work/iso" 2>/dev/null
mkdir -p "$(dirname "$output")"
qemu-img convert -q -O qcow2 "$work/tiny.img" "$output.tmp"
mv "$output.tmp" "$output"
echo "==> $(du -h "$output" | cut -f1) $output"
