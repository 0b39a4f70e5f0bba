#!/usr/bin/env bash
# Installs the Debian packages the project needs on this machine, only those that are missing.
#   scripts/system-packages.sh            the project's packages (below)
#   scripts/system-packages.sh PKG...     those packages instead
#   build: gcc, pkg-config and libvirt headers for libvirt-python
#   runtime: xsltproc (the libvirt provider runs it for xml.xslt),
#            libvirt daemon and QEMU (the local hypervisor), qemu-utils (images), dnsmasq (DHCP)
#   tests:   strace, unshare (util-linux) and ip (iproute2): the Proxmox provider test previews in a
#            network namespace with only loopback and checks that nothing tried to leave it;
#            shellcheck: actionlint (make lint) checks the workflows' shell steps with it;
#            postgresql: the team state backend's test runs Debian's PostgreSQL, as `make state-server` does;
#            busybox-static: the dev image's boot reads cloud-init documents with busybox awk, and the
#            unit tests run that reader under it;
#            prometheus (promtool), prometheus-node-exporter, prometheus-libvirt-exporter: the monitoring
#            rules' tests, and the engine test that runs a real Prometheus on loopback
#   Installing never starts a service: a policy-rc.d that denies every start is in place meanwhile
#   (Debian's packages of Prometheus and its exporters would otherwise listen on every interface).
set -euo pipefail

packages=(
  gcc pkg-config libvirt-dev python3-dev
  xsltproc
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base
  strace util-linux iproute2 shellcheck postgresql busybox-static
  prometheus prometheus-node-exporter prometheus-libvirt-exporter
)

if [ $# -gt 0 ]; then
  packages=("$@")
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Install them (sudo apt-get install ${missing[*]}) and run this again." >&2
  exit 1
fi
echo "==> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# scripts/system-packages.sh: no service starts while it installs\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
