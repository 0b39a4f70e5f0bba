#!/usr/bin/env bash
# The local hypervisor, the embedded default: a libvirt daemon at qemu:///system, and the daemons
# QEMU domains need beside it.
#   scripts/hypervisor.sh start   # make every daemon answer, starting those that do not
#   scripts/hypervisor.sh stop    # stop the daemons this script started
#   scripts/hypervisor.sh status  # each daemon: needed, running, answering, started by this script
# The daemons, checked on every start (also when libvirtd already answers, since a dead virtlogd
# alone makes every VM start fail with "Failed to connect socket to .../virtlogd-sock"):
#   virtlogd   QEMU's console and log files (qemu.conf stdio_handler "logd", the default)
#   virtlockd  disk leases, only where qemu.conf sets lock_manager = "lockd"
#   libvirtd   the API at qemu:///system; it spawns dnsmasq per network itself
# On machines without systemd the daemons are started by hand (`-d`); on a systemd host the script
# says which units to start. Where /dev/kvm opens only for root, QEMU runs as root (qemu.conf
# user/group "+0") so KVM works; otherwise domains fall back to software emulation (the program's
# domain_type: auto asks libvirt which one works).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
URI=qemu:///system
STATE=${VMFLEET_HYPERVISOR_STATE:-/run/vmfleet-hypervisor} # what start recorded; tests point it elsewhere
STARTED=$STATE/started # one line per daemon this script started: "<name> <pid>"
QEMU_CONF=/etc/libvirt/qemu.conf
SOCKETS=/run/libvirt
LOGS=/var/log/libvirt
VERDICT=/var/lib/vmfleet/domain-type
IMAGE=/var/lib/vmfleet/images/vmfleet-tiny-1.1.qcow2
WAIT_SECONDS=10
# Prometheus' libvirt exporter for the local host (Debian prometheus-libvirt-exporter), on loopback only.
EXPORTER=prometheus-libvirt-exporter
EXPORTER_ADDRESS=${VMFLEET_EXPORTER_ADDRESS:-127.0.0.1:9177}

# Bounded: a libvirtd that stopped answering (SIGSTOP, a deadlock) must not hang `make up` here.
reachable() { timeout 15 virsh -c "$URI" version >/dev/null 2>&1; }

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

# A setting of qemu.conf ("" when unset or commented out).
qemu_setting() {
  [ -r "$QEMU_CONF" ] || return 0
  sed -nE "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "$QEMU_CONF" | tail -n 1
}

# The daemons local QEMU domains need, in the order they start (helpers before libvirtd).
needed_daemons() {
  [ "$(qemu_setting stdio_handler)" = file ] || echo virtlogd
  [ "$(qemu_setting lock_manager)" != lockd ] || echo virtlockd
  echo libvirtd
}

# A process accepts connections on the Unix socket (a daemon killed hard leaves the file behind).
socket_answers() {
  command -v python3 >/dev/null || fail "python3 is needed to probe $1; install it (apt-get install python3)"
  [ -S "$1" ] || return 1
  python3 - "$1" 2>/dev/null <<'EOF'
import socket
import sys

with socket.socket(socket.AF_UNIX) as probe:
    probe.settimeout(2)
    probe.connect(sys.argv[1])
EOF
}

socket_of() { echo "$SOCKETS/$1-sock"; }

where() {
  case $1 in
    libvirtd) echo "at $URI" ;;
    *) echo "at $(socket_of "$1")" ;;
  esac
}

# The daemon does its job: libvirtd answers the API; a helper's socket accepts connections (only
# root may connect to those, so other users see whether the process runs).
answers() {
  case $1 in
    libvirtd) reachable ;;
    *) if [ "$(id -u)" -eq 0 ]; then socket_answers "$(socket_of "$1")"; else [ -n "$(daemon_pid "$1")" ]; fi ;;
  esac
}

# The process runs. Zombies do not count: where PID 1 is not an init that reaps orphans promptly
# (containers), a killed daemon lingers as one.
alive() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$stat" != Z* ]]
}

# The running daemon's pid, or nothing.
daemon_pid() {
  local pid
  for pid in $(cat "/run/$1.pid" 2>/dev/null) $(pgrep -x "$1"); do
    if [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$1" ] && alive "$pid"; then
      echo "$pid"
      return 0
    fi
  done
}

log_of() {
  if systemd_host; then echo "journalctl -u $1"; else echo "$LOGS/$1.log"; fi
}

systemd_host() { [ -d /run/systemd/system ]; }

unit_of() {
  case $1 in
    libvirtd) echo libvirtd.service ;;
    *) echo "$1.socket" ;;
  esac
}

wait_until_answers() {
  for _ in $(seq 1 $((WAIT_SECONDS * 5))); do
    answers "$1" && return 0
    sleep 0.2
  done
  return 1
}

record_started() {
  mkdir -p "$STATE"
  local others
  others=$(grep -v -E "^$1( |\$)" "$STARTED" 2>/dev/null || true)
  { [ -z "$others" ] || echo "$others"; echo "$1 $2"; } > "$STARTED.new"
  mv "$STARTED.new" "$STARTED"
}

started_by_us() { grep -qE "^$1( |\$)" "$STARTED" 2>/dev/null; }

fail() {
  echo "$*" >&2
  exit 1
}

start_daemon() {
  local daemon=$1 pid
  pid=$(daemon_pid "$daemon")
  if [ -n "$pid" ]; then
    # Running but not answering: maybe still starting; otherwise hung, or its socket was removed.
    wait_until_answers "$daemon" && return 0
    fail "$daemon runs (pid $pid) but does not answer $(where "$daemon") within ${WAIT_SECONDS} s." \
      "See $(log_of "$daemon"); restart it with: kill $pid && $daemon -d"
  fi
  echo "==> starting $daemon"
  "$daemon" -d || fail "$daemon did not start (exit $?); see $(log_of "$daemon"), or run '$daemon' in the foreground"
  if ! wait_until_answers "$daemon"; then
    fail "$daemon does not answer $(where "$daemon") within ${WAIT_SECONDS} s of starting;" \
      "see $(log_of "$daemon"), or run '$daemon' in the foreground"
  fi
  pid=$(daemon_pid "$daemon")
  record_started "$daemon" "$pid"
  echo "==> $daemon answers $(where "$daemon") (pid $pid)"
}

units_of() { for daemon in "$@"; do unit_of "$daemon"; done | paste -sd ' '; }

start() {
  local daemon missing=()
  for daemon in $(needed_daemons); do
    answers "$daemon" || missing+=("$daemon")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "==> answering: $(needed_daemons | paste -sd ' ') (libvirt at $URI)"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    local how="run this script with sudo"
    if systemd_host; then how="sudo systemctl start $(units_of "${missing[@]}")"; fi
    fail "Not answering: ${missing[*]}. Starting them needs root: $how, and try again." \
      "(A daemon that runs may only be refusing this user: the libvirt group grants access to $URI.)"
  fi
  "$here/system-packages.sh"
  if systemd_host; then
    fail "Not answering: ${missing[*]}. This host runs systemd: systemctl start $(units_of "${missing[@]}")"
  fi
  if [ "$(qemu_setting lock_manager)" = sanlock ]; then
    echo "==> qemu.conf sets lock_manager = \"sanlock\": the sanlock daemon must run (this script does not manage it)"
  fi
  # Again, from the top: installing packages may have started daemons or written qemu.conf.
  for daemon in $(needed_daemons); do
    answers "$daemon" && continue
    if [ "$daemon" = libvirtd ] && kvm_needs_root; then configure_qemu_user; fi
    start_daemon "$daemon"
  done
}

# The exporter answers: it serves its metrics page (libvirt_up says whether it reached libvirt).
exporter_answers() {
  python3 - "$EXPORTER_ADDRESS" 2>/dev/null <<'EOF'
import sys
import urllib.request

with urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5) as page:
    sys.exit(0 if b"\nlibvirt_up " in page.read() else 1)
EOF
}

# The exporter started by this script, if it still runs: its pid, or nothing.
exporter_pid() {
  local pid
  pid=$(sed -nE "s/^$EXPORTER ([0-9]+)\$/\1/p" "$STARTED" 2>/dev/null)
  if [ -n "$pid" ] && alive "$pid" && grep -q "$EXPORTER" "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
}

start_exporter() {
  if exporter_answers; then
    echo "==> $EXPORTER answers at http://$EXPORTER_ADDRESS/metrics"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || fail "$EXPORTER does not answer at http://$EXPORTER_ADDRESS/metrics; starting it needs root"
  command -v "$EXPORTER" >/dev/null || "$here/system-packages.sh" "$EXPORTER"
  mkdir -p "$LOGS"
  echo "==> starting $EXPORTER on $EXPORTER_ADDRESS (loopback only)"
  setsid "$EXPORTER" --web.listen-address="$EXPORTER_ADDRESS" --libvirt.uri="$URI" \
    >>"$LOGS/$EXPORTER.log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 $((WAIT_SECONDS * 5))); do
    if exporter_answers; then
      record_started "$EXPORTER" "$pid"
      echo "==> $EXPORTER answers at http://$EXPORTER_ADDRESS/metrics (pid $pid)"
      return 0
    fi
    alive "$pid" || break
    sleep 0.2
  done
  fail "$EXPORTER does not answer at http://$EXPORTER_ADDRESS/metrics within ${WAIT_SECONDS} s; see $LOGS/$EXPORTER.log"
}

# libvirt reports KVM usable whenever /dev/kvm opens, but on some nested machines a KVM guest never
# gets past its first instructions. Boot the tiny image once with KVM and record what works, so
# `domain_type: auto` picks a type that boots (see backends/libvirt/probe.py).
record_domain_type() {
  [ -s "$VERDICT" ] && return 0
  "$here/image.sh" "$IMAGE"
  local verdict=qemu log
  if timeout 15 virsh -c "$URI" domcapabilities --virttype kvm >/dev/null 2>&1; then
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

# Stops only what start recorded, libvirtd first, and only the very process it started (by pid;
# records from older versions of this script hold a name only, so the daemon's current pid).
stop() {
  if [ ! -s "$STARTED" ]; then
    echo "==> no daemon was started by this script"
    rm -f "$STARTED"
    return 0
  fi
  local daemon pid
  pid=$(exporter_pid)
  if [ -n "$pid" ]; then
    kill "$pid"
    echo "==> stopped $EXPORTER (pid $pid)"
  fi
  for daemon in libvirtd virtlockd virtlogd; do
    started_by_us "$daemon" || continue
    pid=$(sed -nE "s/^$daemon ([0-9]+)\$/\1/p" "$STARTED")
    [ -n "$pid" ] || pid=$(daemon_pid "$daemon")
    if [ -z "$pid" ] || [ "$(ps -o comm= -p "$pid" 2>/dev/null)" != "$daemon" ] || ! alive "$pid"; then
      echo "==> $daemon (started by this script) no longer runs"
      continue
    fi
    kill "$pid"
    for _ in $(seq 1 $((WAIT_SECONDS * 5))); do
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then fail "$daemon (pid $pid) did not stop within ${WAIT_SECONDS} s; see $(log_of "$daemon")"; fi
    echo "==> stopped $daemon (pid $pid)"
  done
  rm -f "$STARTED"
}

status() {
  local daemon pid needed ok=0 state
  needed=$(needed_daemons)
  for daemon in virtlogd virtlockd libvirtd; do
    pid=$(daemon_pid "$daemon")
    if ! grep -qx "$daemon" <<< "$needed"; then
      echo "$daemon: not needed here$([ -n "$pid" ] && echo ", runs (pid $pid)")"
      continue
    fi
    if answers "$daemon"; then
      state="answers $(where "$daemon")"
    else
      state="DOES NOT ANSWER $(where "$daemon")"
      ok=1
    fi
    echo "$daemon: $state, $([ -n "$pid" ] && echo "runs (pid $pid)" || echo "not running")," \
      "$(started_by_us "$daemon" && echo "started by this script" || echo "not started by this script")," \
      "log: $(log_of "$daemon")"
  done
  pid=$(exporter_pid)
  if exporter_answers; then
    echo "$EXPORTER: answers at http://$EXPORTER_ADDRESS/metrics${pid:+, started by this script (pid $pid)}"
  else
    echo "$EXPORTER: DOES NOT ANSWER at http://$EXPORTER_ADDRESS/metrics (monitoring needs it), log: $LOGS/$EXPORTER.log"
  fi
  if reachable; then
    timeout 15 virsh -c "$URI" version
    echo "domain type for this host: $(cat "$VERDICT" 2>/dev/null || echo 'not yet probed')"
  fi
  return $ok
}

case "${1:-start}" in
  start) start; start_exporter; record_domain_type ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
