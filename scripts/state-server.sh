#!/usr/bin/env bash
# A local PostgreSQL to try the team state backend (README, "Team state (PostgreSQL)").
#   scripts/state-server.sh start|stop|status|env|url
# start: makes the server if there is none (Debian's PostgreSQL; a role and a database, both
#   `vmfleet`, with a generated password), starts it if it is not running, and prints what to
#   export to use it (as `env` does). Running it again changes nothing.
# env: `export PULUMI_BACKEND_URL=...` and the setting `pulumi stack ls` needs on this backend, for
#   `eval "$(scripts/state-server.sh env)"`; url: only the URL.
# It listens on 127.0.0.1 only, port VMFLEET_STATE_PORT (default 5433, beside a system PostgreSQL's
# 5432), with its socket in its own folder. Everything it keeps is in VMFLEET_STATE_DIR (default
# /var/lib/vmfleet/postgres as root, else ~/.local/state/vmfleet/postgres): data/ (the cluster),
# password (0600), server.log. As root the server runs as the `postgres` user (PostgreSQL refuses
# to run as root). `stop` stops it and keeps the data; remove the folder to start over.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
action=${1:?usage: scripts/state-server.sh start|stop|status|env|url}
if [ "$(id -u)" -eq 0 ]; then
  dir=${VMFLEET_STATE_DIR:-/var/lib/vmfleet/postgres}
  owner=postgres
else
  dir=${VMFLEET_STATE_DIR:-$HOME/.local/state/vmfleet/postgres}
  owner=$(id -un)
fi
port=${VMFLEET_STATE_PORT:-5433}
role=vmfleet
database=vmfleet

die() { echo "error: $*" >&2; exit 1; }
# The newest installed major version's programs (initdb, pg_ctl are not on PATH on Debian).
programs() {
  local newest
  newest=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ -x "$newest/postgres" ]; then echo "$newest"; fi
}
bin=$(programs)
as_owner() {
  if [ "$(id -un)" = "$owner" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi
}
running() { [ -n "$bin" ] && [ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; }
url() {
  [ -f "$dir/password" ] || die "no state server in $dir yet: run scripts/state-server.sh start"
  echo "postgres://$role:$(cat "$dir/password")@127.0.0.1:$port/$database?sslmode=disable"
}
environment() {
  echo "export PULUMI_BACKEND_URL='$(url)'"
  # scripts/stack.sh sets this for postgres:// URLs; without it this engine's `pulumi stack ls`
  # hangs once a project has 2 x CPUs stacks or more (README, "Team state (PostgreSQL)").
  echo "export PULUMI_DIY_BACKEND_PARALLEL=1"
}
# The URL as logs may show it.
shown_url() { url | sed -E 's#^(postgres://[^:/@]*):[^/]*@#\1:***@#'; }
sql() { as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -d postgres -tA "$@"; }

start() {
  if [ -z "$bin" ]; then
    "$repo/scripts/system-packages.sh" postgresql
    bin=$(programs)
  fi
  if running; then
    echo "==> state server already running in $dir (port $port); to use it:"
    environment
    return 0
  fi
  mkdir -p "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "==> creating the state server's cluster in $dir/data"
    [ -f "$dir/password" ] || (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/password")
    mkdir -p "$dir/data" "$dir/run"
    chown "$owner": "$dir" "$dir/data" "$dir/run" "$dir/password"
    chmod 700 "$dir" "$dir/data"
    as_owner test -w "$dir/data" || die "user $owner cannot reach $dir (a folder above it is closed to it)"
    # Local (socket) connections: only the server's own user, for administration; TCP: passwords.
    as_owner "$bin/initdb" -D "$dir/data" -U "$owner" --auth-local=peer --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" ||
      die "initdb failed; see $dir/initdb.log"
  fi
  echo "==> starting the state server: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
  as_owner "$bin/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/run" >/dev/null ||
    die "the server did not start; see $dir/server.log"
  # The role and the database, made once; the role's password is set from the file on every start.
  if [ "$(sql -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
    sql -c "CREATE ROLE $role LOGIN"
  fi
  sql -c "ALTER ROLE $role PASSWORD '$(cat "$dir/password")'"
  if [ "$(sql -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
    sql -c "CREATE DATABASE $database OWNER $role"
  fi
  echo "==> state server running (its password is in $dir/password); to use it:"
  environment
}

case "$action" in
  start) start ;;
  stop)
    if running; then
      as_owner "$bin/pg_ctl" stop -w -m fast -D "$dir/data" >/dev/null
      echo "==> state server stopped (its data stays in $dir)"
    else
      echo "==> state server not running ($dir)"
    fi
    ;;
  status)
    if running; then
      echo "state server running in $dir, $(shown_url)"
    else
      echo "state server not running ($dir)"
      exit 3
    fi
    ;;
  env) environment ;;
  url) url ;;
  *) die "unknown action $action (start, stop, status, env, url)" ;;
esac
