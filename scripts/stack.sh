#!/usr/bin/env bash
# One Pulumi operation on a stack of this project, with everything it needs in place first:
# Debian packages, the program's and the policy pack's virtualenvs, the engine, and (for stacks on
# qemu:///system) the local hypervisor and the dev image.
#   scripts/stack.sh up|preview|review|drift|down|refresh|leftovers|audit      STACK=<name> (default dev)
# review: the preview as the pull-request review renders it (review/), written to .review/<stack>/
#   (review.md, comment.md, summary.md, verdict.json, events.jsonl); exits 1 when the policy gate fails.
#   REVIEW_DIR replaces .review; REVIEW_PRINT (review, comment, none) says what is printed;
#   REVIEW_FULL_TEXT_AT says where a cut comment sends readers for the full text.
# drift: the same preview judged as a drift check (.review/<stack>/drift/); exits 1 when the hosts
#   drifted or anything would change.
# audit: the fleet audit (audit/) of the stack's hosts against its declaration and state; the report
#   alone goes to stdout (AUDIT_FORMAT table, json, markdown or prometheus; AUDIT_OUT a file instead;
#   AUDIT_REPORT_DIR also gets audit.json, audit.md and audit.prom),
#   AUDIT_IDLE_WINDOW and AUDIT_IDLE_THRESHOLD override the stack's thresholds; exit status as the README says.
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
action=${1:?usage: scripts/stack.sh up|preview|review|drift|down|refresh|leftovers|audit}
DEV_PASSPHRASE=vmfleet-dev
# The audit's report is its standard output (`make audit FORMAT=json > audit.json`): everything the
# set-up below prints goes to standard error, and the report to the original standard output (fd 3).
if [ "$action" = audit ]; then exec 3>&1 1>&2; fi

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

if [ -z "${PULUMI_BACKEND_URL:-}" ] && [ "${GITHUB_ACTIONS:-}" = true ]; then
  die "PULUMI_BACKEND_URL is empty: set it in the stack's GitHub environment secrets (README, \"Pull requests and delivery\"); a job's checkout, .state/ with it, is gone when the job ends"
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
# The backend URL as the log may show it: a password in it (user:password@, or password=) masked.
masked_url() { sed -E 's#^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^/]*@#\1:***@#; s#([?&]password=)[^&]*#\1***#g' <<<"$1"; }
echo "==> stack $STACK, state $(masked_url "$PULUMI_BACKEND_URL")"
# This engine's PostgreSQL backend lists a project's stacks 10 at a time, each listing holding one
# of its 2 x CPUs database connections while it waits for another: with that many stacks or more,
# `pulumi stack ls` waits forever. One at a time never runs out (README, "Team state (PostgreSQL)").
case "$PULUMI_BACKEND_URL" in postgres://*) export PULUMI_DIY_BACKEND_PARALLEL=${PULUMI_DIY_BACKEND_PARALLEL:-1} ;; esac
pulumi stack select --create "$STACK" --secrets-provider passphrase --non-interactive >/dev/null

# CI hands a stack's secret config values (a Proxmox API token, password hashes) over as one JSON
# object, VMFLEET_STACK_SECRETS='{"pve-token": "..."}'. Each is set as a secret in this checkout's
# stack file (encrypted with the stack's passphrase), its value on standard input, never on a
# command line or in the log.
if [ -n "${VMFLEET_STACK_SECRETS:-}" ]; then
  python3 -c '
import json, os, subprocess, sys
try:
    secrets = json.loads(os.environ["VMFLEET_STACK_SECRETS"])
except ValueError as error:
    sys.exit(f"error: VMFLEET_STACK_SECRETS is not a JSON object of config keys and values ({error.msg})")
if not isinstance(secrets, dict):
    sys.exit("error: VMFLEET_STACK_SECRETS must be a JSON object of config keys and values")
in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
for key, value in secrets.items():
    if in_actions:  # GitHub masks the JSON secret as a whole, not each value in it
        for line in str(value).splitlines():
            if line.strip():
                print(f"::add-mask::{line}", flush=True)
    subprocess.run(["pulumi", "config", "set", "--secret", "--non-interactive", str(key)],
                   input=str(value), text=True, check=True, stdout=subprocess.DEVNULL)
    print(f"==> secret config key {key} set from VMFLEET_STACK_SECRETS", file=sys.stderr)
'
fi

# A run killed on this machine (Ctrl-C twice, kill -9, a closed terminal) leaves the stack locked in a
# file backend. A lock whose process is gone on this machine is stale: lift it, saying so. Locks of
# other machines, and of other backends, are left to `pulumi cancel`: a shared backend's lock names
# only a host name and a pid, and neither tells machines apart (CI runners and cloned VMs share host
# names, containers have pids of their own), so lifting a lock that only looks dead here could let
# two runs write one state. A refused lock is explained instead (locked, below).
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
# Before `up`: a state that records nothing must not take over what the hosts hold of the stack
# (another state's VMs); ADOPT=1 lets it (README, "Team state").
before_up() {
  [ "${ADOPT:-}" = 1 ] && return 0
  leftovers --before-up
}
# A command run with `--state FILE` added, FILE the stack's `pulumi stack export` (which takes no
# lock), removed afterwards; its exit status is the command's.
with_state() {
  local state status=0
  state=$(mktemp)
  pulumi stack export >"$state"
  "$@" --state "$state" || status=$?
  rm -f "$state"
  return $status
}
leftovers() { with_state .venv/bin/python -m backends.libvirt.leftovers "$STACK" "$@"; }
# The audit reads the state's export (so it may run while an `up` does) and then the hosts.
audit() {
  with_state .venv/bin/python -m audit --stack "$STACK" ${AUDIT_FORMAT:+--format "$AUDIT_FORMAT"} \
    ${AUDIT_OUT:+--out "$AUDIT_OUT"} ${AUDIT_IDLE_WINDOW:+--idle-window "$AUDIT_IDLE_WINDOW"} \
    ${AUDIT_IDLE_THRESHOLD:+--idle-threshold "$AUDIT_IDLE_THRESHOLD"} ${AUDIT_REPORT_DIR:+--report-dir "$AUDIT_REPORT_DIR"} >&3
}
# review and drift: the engine's streamed preview events, rendered by the review command. The
# rendering runs whatever the preview's status, so a failed preview still gets its review.
review() {
  local mode=$1 out=${REVIEW_DIR:-.review}/$STACK status=0 rendered=0
  if [ "$mode" = drift ]; then out=$out/drift; fi
  case "${REVIEW_PRINT:-review}" in review | comment | none) ;; *) die "REVIEW_PRINT is review, comment or none, not '$REVIEW_PRINT'" ;; esac
  # A review of an earlier run must never pass for this one's (a workflow posts what it finds here).
  mkdir -p "$out"
  rm -f "$out"/events.jsonl "$out"/review.md "$out"/comment.md "$out"/summary.md "$out"/verdict.json
  .venv/bin/python -m review preview --events "$out/events.jsonl" --policy-config "$policy_config" || status=$?
  .venv/bin/python -m review render "$out/events.jsonl" --out-dir "$out" --policy-config "$policy_config" \
    --mode "$mode" ${REVIEW_FULL_TEXT_AT:+--full-text-at "$REVIEW_FULL_TEXT_AT"} --print "${REVIEW_PRINT:-review}" ||
    rendered=$?
  if [ "$rendered" -le 1 ]; then
    echo "==> $out/: events.jsonl, review.md, comment.md, summary.md, verdict.json (engine exit status $status)" >&2
  else
    echo "==> no review rendered from $out/events.jsonl (engine exit status $status)" >&2
  fi
  return $rendered
}
# `pulumi` for an operation that locks the stack. When another run holds the lock, the engine
# refuses at once, naming the holder ("created by user@host (pid N) at time"); say what to do then.
locked() {
  local errors status=0 holder pid since
  errors=$(mktemp)
  { pulumi "$@" 2>&1 1>&3 3>&- | tee "$errors" >&2; } 3>&1 || status=$?
  if [ "$status" -ne 0 ] && grep -q "the stack is currently locked by" "$errors"; then
    holder=$(sed -nE 's/.*: created by ([^ ]+) \(pid ([0-9]+)\) at ([^ ]+)$/\1 \2 \3/p' "$errors" | head -n 1)
    read -r holder pid since <<<"${holder:-? ? ?}"
    echo "==> stack $STACK is locked by another run ($holder, pid $pid, since $since): this one changed nothing; run it again when that one has ended." >&2
    echo "    If that run is gone for good (killed, its machine lost: check on ${holder#*@}, e.g. \`ps -p $pid\`), lift its lock with" >&2
    echo "    \`pulumi cancel --yes --stack $STACK\` (same PULUMI_BACKEND_URL) and run this again. Lifting the lock of a run that is still going lets two runs write one state." >&2
  fi
  rm -f "$errors"
  return $status
}
# Previews run with the engine settings of scripts/preview.env (checkpoints skipped: they persist
# nothing); up, down and refresh with the engine's defaults.
engine_settings() { case "$1" in preview | review | drift) set -a && . scripts/preview.env && set +a ;; esac; }
engine_settings "$action"
case "$action" in
  up)
    before_up || exit 1
    locked up --yes --non-interactive --refresh "${policies[@]}" || exit $?
    # The retention for every VM, also those the run did not change (their snapshots age too).
    .venv/bin/python -m snapshots prune --stack "$STACK"
    ;;
  review) review preview ;;
  drift) review drift ;;
  preview) pulumi preview --non-interactive --refresh "${policies[@]}" ;;
  down)
    status=0
    # The program runs for the Domains' delete hooks: each VM's snapshots go before the VM.
    export VMFLEET_DESTROY=1
    locked destroy --yes --non-interactive --refresh --continue-on-error --run-program || status=$?
    leftovers || status=1
    exit $status
    ;;
  refresh) locked refresh --yes --non-interactive --clear-pending-creates ;;
  leftovers) if [ "${REMOVE:-}" = 1 ]; then leftovers --remove; else leftovers; fi ;;
  audit) audit ;;
  *) die "unknown action $action (up, preview, review, drift, down, refresh, leftovers, audit)" ;;
esac
