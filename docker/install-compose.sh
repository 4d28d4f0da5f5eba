#!/usr/bin/env bash
# Install the Docker Compose v2 command line into var/tools/, without Docker and without root.
#
# Why this exists: the compose file is validated in tests with the real Compose parser
# (`docker compose config`), but machines without Docker have no Compose plugin. Debian 12 only
# packages the retired Python Compose v1, and Docker's own download site may be out of reach, so
# this script builds Compose from its published Go module (source checked against the Go
# checksum database) with the local Go toolchain.
#
# Result:
#   var/tools/bin/docker-compose                  standalone: docker-compose -f FILE config
#   var/tools/docker/cli-plugins/docker-compose   plugin:     DOCKER_CONFIG=var/tools/docker \
#                                                               docker compose -f FILE config
#
# Idempotent: when the binary is there and reports the pinned version, nothing happens.
# Go keeps its module and build caches in their usual per-user places (go env GOMODCACHE,
# GOCACHE), so a second build in a fresh clone on the same machine takes seconds, not minutes.
#
# Environment (all optional):
#   COMPOSE_VERSION  the Compose release to build (default below)
#   TOOLS_DIR        where to install (default: <repo>/var/tools)
#
# Cost of a first build, measured on 2 cores: ~2 minutes, ~500 MB of Go modules and ~900 MB of
# build cache; the binary is ~65 MB.
set -euo pipefail

COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
MODULE="github.com/docker/compose/v2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${TOOLS_DIR:-$repo_root/var/tools}"
binary="$tools_dir/bin/docker-compose"
plugin_dir="$tools_dir/docker/cli-plugins"

say() { printf 'install-compose: %s\n' "$*" >&2; }

installed_version() {
    # Prints e.g. "2.40.3"; empty when the binary is missing or broken.
    [ -x "$binary" ] && "$binary" version --short 2>/dev/null || true
}

link_plugin() {
    mkdir -p "$plugin_dir"
    ln -sfn "$binary" "$plugin_dir/docker-compose"
}

if [ "$(installed_version)" = "${COMPOSE_VERSION#v}" ]; then
    link_plugin
    say "Docker Compose ${COMPOSE_VERSION} already at $binary"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    say "needs the Go toolchain (1.24 or newer) on PATH to build Compose ${COMPOSE_VERSION}."
    say "Install it (e.g. 'apt-get install golang-go' on a recent Debian/Ubuntu, or from go.dev),"
    say "or install Docker Desktop / the docker-compose-plugin package, which ship Compose."
    exit 1
fi

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/compose-build.XXXXXX")"
trap 'chmod -R u+w "$work_dir" 2>/dev/null; rm -rf "$work_dir"' EXIT

say "fetching ${MODULE}@${COMPOSE_VERSION} through the Go module proxy"
# `go install module/cmd@version` refuses modules whose go.mod has replace/exclude directives,
# which Compose's does; so fetch the module source and build it as the main module instead.
module_dir="$(go mod download -json "${MODULE}@${COMPOSE_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [ -z "$module_dir" ] || [ ! -f "$module_dir/go.mod" ]; then
    say "could not download ${MODULE}@${COMPOSE_VERSION} (see the go error above)"
    exit 1
fi
# The module cache is read-only; the build writes nothing into the source, but copy it anyway
# so go.sum updates (if any) never touch the shared cache.
cp -R "$module_dir" "$work_dir/src"
chmod -R u+w "$work_dir/src"

say "building (first time: about 2 minutes on 2 cores)"
mkdir -p "$tools_dir/bin"
# Same flags as Compose's own Makefile: stamped version, stripped DWARF, reproducible paths.
(cd "$work_dir/src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-w -s -X ${MODULE}/internal.Version=${COMPOSE_VERSION}" \
    -o "$work_dir/docker-compose" ./cmd)
mv -f "$work_dir/docker-compose" "$binary"
link_plugin

if [ "$(installed_version)" != "${COMPOSE_VERSION#v}" ]; then
    say "built binary reports '$(installed_version)', expected ${COMPOSE_VERSION#v}"
    exit 1
fi
say "installed Docker Compose ${COMPOSE_VERSION} at $binary"
