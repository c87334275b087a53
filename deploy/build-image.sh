#!/usr/bin/env bash
# Builds the Track AI image with podman: `deploy/build-image.sh [TAG]` (default localhost/trackai:<version>,
# also tagged localhost/trackai:latest). The version comes from pyproject.toml (the one version source).
#
#   IMAGE_BASE=docker.io/library/python:3.11-slim-bookworm   use a public base (registry reachable)
#   unset (default)                                                   the local mmdebstrap base, built once
#
# On a machine behind a TLS-intercepting proxy (pip's PIP_CERT/REQUESTS_CA_BUNDLE point at a local bundle),
# that bundle is mounted read-only for the build steps only and never stored in the image.
# Prints the image tag on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}

VERSION=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
TAG=${1:-localhost/trackai:$VERSION}
BASE=${IMAGE_BASE:-}
if [ -z "$BASE" ]; then
  BASE=$(deploy/build-base.sh | tail -n1)
fi

args=(--format docker --build-arg "BASE=$BASE" --build-arg "VERSION=$VERSION" -f deploy/Containerfile -t "$TAG")
bundle=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-}}
if [ -n "$bundle" ] && [ -r "$bundle" ]; then
  args+=(--volume "$bundle:/run/host-ca/ca.crt:ro" --build-arg PIP_CA_BUNDLE=/run/host-ca/ca.crt)
fi

started=$(date +%s)
podman build --quiet "${args[@]}" . >/dev/null
podman tag "$TAG" localhost/trackai:latest
echo "built $TAG from $BASE in $(( $(date +%s) - started ))s; size $(podman image inspect -f '{{.Size}}' "$TAG" \
  | awk '{printf "%.0f MB", $1/1e6}')" >&2
echo "$TAG"
