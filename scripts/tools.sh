#!/usr/bin/env bash
# Builds (once) the project's own tools from the Go module proxy into the engine cache, and prints a
# tool's path. Third-party code never enters the repository; a cached tool is reused until its
# version here changes.
#   scripts/tools.sh actionlint      the path of actionlint (GitHub Actions workflow linter)
#   scripts/tools.sh opentofu        the path of tofu (OpenTofu CLI; the benchmark's side by side, `make bench OPENTOFU=1`)
#   scripts/tools.sh terraform-provider-libvirt   the path of the libvirt provider tofu plans with there
# Cache: ${FLEET_ENGINE_ROOT:-~/.cache/fleet/engine}/tools/<tool>/<version>/ (the same root as scripts/engine.sh).
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12 # the newest the Go module proxy serves here
OPENTOFU_VERSION=v1.10.10
LIBVIRT_PROVIDER_VERSION=v0.8.1 # the classic SDKv2 provider (libvirt_pool, _volume, _network, _domain, ...)
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

# Modules whose go.mod has replace directives (OpenTofu's, the libvirt provider's) cannot be built by
# `go install module/cmd@version`, which refuses them; they are built inside their source in the module
# cache, with their own go.sum, as their release builds do.
build_module() { # $1 tool name, $2 module, $3 version, $4 package path in the module, $5 -ldflags
	local dir=$ENGINE_ROOT/tools/$1/$3 binary
	binary=$dir/$1
	if [ ! -x "$binary" ]; then
		local go=${GO:-$(command -v go || echo /usr/local/go/bin/go)} source listing
		[ -x "$go" ] || die "no go command to build $1 with"
		if ! listing=$(GOTOOLCHAIN=local "$go" mod download -json "$2@$3"); then
			# A copy that an earlier download left in the module cache still builds when the proxy no
			# longer serves the version; without one there is nothing to build from.
			source="$(GOTOOLCHAIN=local "$go" env GOMODCACHE)/$2@$3"
			[ -f "$source/go.mod" ] || die "the Go module proxy did not give $2@$3: $(printf '%s' "$listing" | sed -n 's/^\t"Error": "\(.*\)",\{0,1\}$/\1/p')"
			printf 'tools: the proxy did not give %s@%s; building the copy in the module cache\n' "$2" "$3" >&2
		else
			source=$(printf '%s\n' "$listing" | sed -n 's/^\t"Dir": "\(.*\)",\{0,1\}$/\1/p')
		fi
		printf 'tools: building %s %s into %s\n' "$1" "$3" "$dir" >&2
		mkdir -p "$dir"
		(cd "$source" && GOTOOLCHAIN=local CGO_ENABLED=0 "$go" build -trimpath -mod=readonly -ldflags "$5" -o "$binary.partial" "./$4") >&2 ||
			die "could not build $1 from $2@$3"
		mv "$binary.partial" "$binary" # never a half-written binary in the cache
	fi
	printf '%s\n' "$binary"
}

case "${1:-}" in
actionlint) build actionlint "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" "$ACTIONLINT_VERSION" ;;
opentofu)
	build_module tofu github.com/opentofu/opentofu "$OPENTOFU_VERSION" cmd/tofu \
		"-s -w -X github.com/opentofu/opentofu/version.dev=no"
	;;
terraform-provider-libvirt)
	build_module terraform-provider-libvirt github.com/dmacvicar/terraform-provider-libvirt "$LIBVIRT_PROVIDER_VERSION" . \
		"-s -w -X github.com/dmacvicar/terraform-provider-libvirt/version.ProviderVersion=$LIBVIRT_PROVIDER_VERSION"
	;;
*)
	echo "usage: $0 actionlint | opentofu | terraform-provider-libvirt" >&2
	exit 2
	;;
esac
