#!/usr/bin/env bash
# Builds (once) the project's own tools from the Go module proxy into the engine cache, and prints a
# tool's path. Third-party code never enters the repository; a cached tool is reused until its
# version here changes.
#   scripts/tools.sh actionlint      the path of actionlint (GitHub Actions workflow linter)
# Cache: ${FLEET_ENGINE_ROOT:-~/.cache/fleet/engine}/tools/<tool>/<version>/ (the same root as scripts/engine.sh).
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12 # the newest the Go module proxy serves here
ENGINE_ROOT=${FLEET_ENGINE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet/engine}

die() {
	printf 'tools: error: %s\n' "$*" >&2
	exit 1
}

build() { # $1 tool name, $2 module/package@version, $3 version
	local dir=$ENGINE_ROOT/tools/$1/$3
	if [ ! -x "$dir/$1" ]; then
		local go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
		[ -x "$go" ] || die "no go command to build $1 with"
		printf 'tools: building %s %s into %s\n' "$1" "$3" "$dir" >&2
		mkdir -p "$dir"
		GOTOOLCHAIN=local GOBIN="$dir" CGO_ENABLED=0 "$go" install -trimpath "$2" >&2 ||
			die "could not build $1 from $2"
	fi
	printf '%s\n' "$dir/$1"
}

case "${1:-}" in
actionlint) build actionlint "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" "$ACTIONLINT_VERSION" ;;
*)
	echo "usage: $0 actionlint" >&2
	exit 2
	;;
esac
