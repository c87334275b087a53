#!/usr/bin/env bash
# Builds the local base image `localhost/trackai-base:bookworm` when no registry is reachable: a Debian
# bookworm root filesystem (mmdebstrap, minbase) with Python 3.11 and venv, from this machine's Debian
# mirror, imported with `podman import`. Built once per machine: the image stays in podman's store and the
# tarball under .trackai/deploy/; `--force` rebuilds both.
# Usage: deploy/build-base.sh [--force]      Prints the image name on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${BASE_IMAGE:-localhost/trackai-base:bookworm}
CACHE=.trackai/deploy/base-bookworm.tar
# The machine's own apt sources (deb822 or one-line); mmdebstrap pastes the file into the root filesystem.
SOURCES=${BASE_SOURCES:-}
if [ -z "$SOURCES" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ]; then SOURCES=$f; break; fi
  done
fi
: "${SOURCES:=http://deb.debian.org/debian}"

if [ "${1:-}" = "--force" ]; then
  rm -f "$CACHE"
  podman image rm --force "$IMAGE" >/dev/null 2>&1 || true
fi
mkdir -p "$(dirname "$CACHE")"

# The image store survives a fresh clone on the same machine; the tarball survives `podman system reset`.
if podman image exists "$IMAGE" && [ ! -s "$CACHE" ]; then
  echo "$IMAGE"
  exit 0
fi

if [ ! -s "$CACHE" ]; then
  started=$(date +%s)
  # python3-venv: the Containerfile makes a venv (python:3.11-slim has it built in). No docs, man pages or
  # locales (the image never needs them). tzdata for zoneinfo (a seller's time zone in the console).
  mmdebstrap --variant=minbase --quiet \
    --include=python3,python3-venv,ca-certificates,tzdata \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --format=tar \
    bookworm "$CACHE.tmp" "$SOURCES" </dev/null
  mv "$CACHE.tmp" "$CACHE"
  echo "base rootfs built in $(( $(date +%s) - started ))s: $(du -h "$CACHE" | cut -f1)" >&2
fi

# Import when the image is missing or older than the cached tarball.
created=$(podman image inspect -f '{{.Created.Unix}}' "$IMAGE" 2>/dev/null || echo 0)
if [ "$(stat -c %Y "$CACHE")" -gt "$created" ]; then
  podman import --quiet \
    --change 'ENV LANG=C.UTF-8' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    "$CACHE" "$IMAGE" >/dev/null
fi
echo "$IMAGE"
