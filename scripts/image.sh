#!/usr/bin/env bash
# Builds the dev fleet's golden image from Debian packages: a tiny Linux (Debian's cloud kernel and
# a busybox initramfs, booted by GRUB from a hybrid disk image) that starts in seconds, prints its
# banner on the serial console and idles. It exists so `make up` runs real, booting VMs on a laptop
# with no image download; real fleets point their templates at real golden images.
#   usage: scripts/image.sh [output.qcow2]   (default /var/lib/vmfleet/images/vmfleet-tiny-1.0.qcow2)
set -euo pipefail
VERSION=1.0
output=${1:-/var/lib/vmfleet/images/vmfleet-tiny-$VERSION.qcow2}
if [ -s "$output" ]; then
  exit 0
fi
"$(dirname "$0")/system-packages.sh" grub-pc-bin grub-common xorriso mtools busybox-static cpio qemu-utils

echo "==> building the tiny VM image $output"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernel_package=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kernel_package")
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"

root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
cp /bin/busybox "$root/bin/busybox"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "vmfleet-tiny: kernel $(uname -r) up; interfaces: $(ls /sys/class/net | tr '\n' ' ')"
while :; do sleep 3600; done
INIT
chmod +x "$root/init"
mkdir -p "$work/iso/boot/grub"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/iso/boot/initrd.img"
cp "$work"/kernel/boot/vmlinuz-* "$work/iso/boot/vmlinuz"
cat > "$work/iso/boot/grub/grub.cfg" <<'GRUB'
set timeout=0
menuentry "vmfleet-tiny" {
  linux /boot/vmlinuz console=ttyS0 quiet panic=10
  initrd /boot/initrd.img
}
GRUB
grub-mkrescue --quiet -o "$work/tiny.img" "$work/iso" 2>/dev/null
mkdir -p "$(dirname "$output")"
qemu-img convert -q -O qcow2 "$work/tiny.img" "$output.tmp"
mv "$output.tmp" "$output"
echo "==> $(du -h "$output" | cut -f1) $output"
