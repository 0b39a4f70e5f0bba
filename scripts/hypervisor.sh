#!/usr/bin/env bash
# The local hypervisor, the embedded default: a libvirt daemon at qemu:///system.
#   scripts/hypervisor.sh start   # make qemu:///system reachable (nothing to do when it already is)
#   scripts/hypervisor.sh stop    # stop the daemons this script started
#   scripts/hypervisor.sh status
# On machines without systemd the daemons are started by hand. Where /dev/kvm opens only for root,
# QEMU runs as root (qemu.conf user/group "+0") so KVM works; otherwise domains fall back to
# software emulation (the program's domain_type: auto asks libvirt which one works).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
URI=qemu:///system
STATE=/run/vmfleet-hypervisor
QEMU_CONF=/etc/libvirt/qemu.conf
VERDICT=/var/lib/vmfleet/domain-type
IMAGE=/var/lib/vmfleet/images/vmfleet-tiny-1.0.qcow2

reachable() { virsh -c "$URI" version >/dev/null 2>&1; }

kvm_needs_root() {
  [ -e /dev/kvm ] || return 1
  id libvirt-qemu >/dev/null 2>&1 || return 1
  ! su -s /bin/sh libvirt-qemu -c 'test -r /dev/kvm -a -w /dev/kvm' 2>/dev/null
}

configure_qemu_user() {
  if grep -qE '^user = "\+0"' "$QEMU_CONF" && grep -qE '^group = "\+0"' "$QEMU_CONF"; then
    return 0
  fi
  echo "==> /dev/kvm opens only for root here: running QEMU as root ($QEMU_CONF user/group \"+0\")"
  printf '\n# vmfleet: /dev/kvm opens only for root on this machine\nuser = "+0"\ngroup = "+0"\n' >> "$QEMU_CONF"
}

start() {
  if reachable; then
    echo "==> libvirt already answers at $URI"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "No libvirt daemon answers at $URI, and starting one needs root." >&2
    echo "Start it (sudo systemctl start libvirtd, or run this script with sudo) and try again." >&2
    exit 1
  fi
  "$here/system-packages.sh"
  if reachable; then return 0; fi
  if kvm_needs_root; then configure_qemu_user; fi
  mkdir -p "$STATE"
  echo "==> starting virtlogd and libvirtd"
  pgrep -x virtlogd >/dev/null || { virtlogd -d && echo virtlogd >> "$STATE/started"; }
  pgrep -x libvirtd >/dev/null || { libvirtd -d && echo libvirtd >> "$STATE/started"; }
  for _ in $(seq 1 50); do
    if reachable; then
      echo "==> libvirt answers at $URI"
      return 0
    fi
    sleep 0.2
  done
  echo "libvirtd did not answer at $URI within 10 s; see /var/log/libvirt/ or run 'libvirtd' in the foreground" >&2
  exit 1
}

# libvirt reports KVM usable whenever /dev/kvm opens, but on some nested machines a KVM guest never
# gets past its first instructions. Boot the tiny image once with KVM and record what works, so
# `domain_type: auto` picks a type that boots (see backends/libvirt/probe.py).
record_domain_type() {
  [ -s "$VERDICT" ] && return 0
  "$here/image.sh" "$IMAGE"
  local verdict=qemu log
  if virsh -c "$URI" domcapabilities --virttype kvm >/dev/null 2>&1; then
    log=$(mktemp)
    timeout 20 qemu-system-x86_64 -enable-kvm -m 128 -nic none -display none -monitor none \
      -drive "file=$IMAGE,if=virtio,snapshot=on" -serial "file:$log" >/dev/null 2>&1 &
    local qemu=$!
    for _ in $(seq 1 40); do
      if grep -q vmfleet-tiny "$log" 2>/dev/null; then verdict=kvm; break; fi
      sleep 0.5
    done
    kill "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
    rm -f "$log"
  fi
  mkdir -p "$(dirname "$VERDICT")"
  echo "$verdict" > "$VERDICT"
  echo "==> domains on this host use type '$verdict' ($( [ $verdict = kvm ] && echo 'KVM boots guests' || echo 'KVM unusable here: software emulation'))"
}

stop() {
  if [ ! -f "$STATE/started" ]; then
    echo "==> no daemon was started by this script"
    return 0
  fi
  for daemon in libvirtd virtlogd; do
    if grep -qx "$daemon" "$STATE/started"; then
      pkill -x "$daemon" || true
      echo "==> stopped $daemon"
    fi
  done
  rm -f "$STATE/started"
}

status() {
  if reachable; then
    virsh -c "$URI" version
    echo "domain type for this host: $(cat "$VERDICT" 2>/dev/null || echo 'not yet probed')"
  else
    echo "no libvirt daemon at $URI"
    return 1
  fi
}

case "${1:-start}" in
  start) start; record_domain_type ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
