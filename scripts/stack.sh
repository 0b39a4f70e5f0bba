#!/usr/bin/env bash
# One Pulumi operation on a stack of this project, with everything it needs in place first:
# Debian packages, the program's and the policy pack's virtualenvs, the engine, and (for stacks on
# qemu:///system) the local hypervisor and the dev image.
#   scripts/stack.sh up|preview|down|refresh|leftovers      STACK=<name> (default dev)
# up and preview refresh first, so what someone changed on a host shows in the diff and `up`
# converges it; down refreshes first (a VM removed by hand is then simply gone), keeps deleting past
# a failure, and then checks the hosts for anything of the stack that is still there.
# State: PULUMI_BACKEND_URL when set, else the git-ignored .state/ folder of this checkout.
# Secrets: the passphrase provider; PULUMI_CONFIG_PASSPHRASE(_FILE) when set, else, for the dev stack
# only, the documented dev passphrase.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
STACK=${STACK:-dev}
action=${1:?usage: scripts/stack.sh up|preview|down|refresh|leftovers}
DEV_PASSPHRASE=vmfleet-dev

die() { echo "error: $*" >&2; exit 1; }
[ -f "Pulumi.$STACK.yaml" ] || die "there is no Pulumi.$STACK.yaml; declare the stack's fleet there first (see README)"
policy_config=policies/config/$STACK.json
[ -f "$policy_config" ] || die "there is no $policy_config; every stack states its policy levels and limits there"

scripts/system-packages.sh
scripts/venv.sh .venv requirements-dev.txt
scripts/venv.sh policies/venv policies/requirements.txt
eval "$(scripts/engine.sh env)"
if grep -qE 'uri: *"?qemu:///system' "Pulumi.$STACK.yaml"; then
  scripts/hypervisor.sh start
  for image in $(grep -oE '/var/lib/vmfleet/images/vmfleet-tiny-[0-9.]+\.qcow2' "Pulumi.$STACK.yaml" | sort -u); do
    scripts/image.sh "$image"
  done
fi

if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  mkdir -p .state
  # metadata=skip: without it the file backend rewrites a ".attrs" sidecar in place, and the
  # program's read of its previous outputs (placement) can catch it empty ("failed to load checkpoint: EOF").
  export PULUMI_BACKEND_URL="file://$repo/.state?metadata=skip"
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  [ "$STACK" = dev ] || die "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) for stack $STACK"
  export PULUMI_CONFIG_PASSPHRASE=$DEV_PASSPHRASE
fi
echo "==> stack $STACK, state $PULUMI_BACKEND_URL"
pulumi stack select --create "$STACK" --secrets-provider passphrase --non-interactive >/dev/null

# A run killed on this machine (Ctrl-C twice, kill -9, a closed terminal) leaves the stack locked in a
# file backend. A lock whose process is gone on this machine is stale: lift it, saying so. Locks of
# other machines, and of other backends, are left to `pulumi cancel`.
unlock_if_stale() {
  case "$PULUMI_BACKEND_URL" in file://*) ;; *) return 0 ;; esac
  local root=${PULUMI_BACKEND_URL#file://} lock pid host
  root=${root%%\?*}
  for lock in "$root"/.pulumi/locks/*/*/"$STACK"/*.json; do
    [ -f "$lock" ] || continue
    read -r pid host < <(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["pid"], d["hostname"])' "$lock")
    if [ "$host" = "$(hostname)" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "==> stack $STACK is locked by a run that ended without unlocking it (pid $pid, this machine): unlocking"
      pulumi cancel --yes --non-interactive >/dev/null
      return 0
    fi
  done
}
unlock_if_stale

policies=(--policy-pack policies --policy-pack-config "$policy_config")
leftovers() {
  local state
  state=$(mktemp)
  pulumi stack export >"$state"
  .venv/bin/python -m backends.libvirt.leftovers "$STACK" --state "$state" "$@" || { rm -f "$state"; return 1; }
  rm -f "$state"
}
case "$action" in
  up) pulumi up --yes --non-interactive --refresh "${policies[@]}" ;;
  preview) pulumi preview --non-interactive --refresh "${policies[@]}" ;;
  down)
    status=0
    pulumi destroy --yes --non-interactive --refresh --continue-on-error || status=$?
    leftovers || status=1
    exit $status
    ;;
  refresh) pulumi refresh --yes --non-interactive --clear-pending-creates ;;
  leftovers) if [ "${REMOVE:-}" = 1 ]; then leftovers --remove; else leftovers; fi ;;
  *) die "unknown action $action (up, preview, down, refresh, leftovers)" ;;
esac
