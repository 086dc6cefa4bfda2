#!/usr/bin/env bash
# Make `promtool` available without installing or starting a Prometheus server.
#
#   bash .ci/install-promtool.sh     -> prints the absolute path of a working promtool on stdout
#
# Order: `promtool` on PATH; else a copy already unpacked in <repo>/.tools/prometheus; else download
# Debian's `prometheus` package (apt-get download, no install, no service) and unpack it there with
# dpkg-deb -x. promtool there is a Go binary that needs only libc, so the unpacked copy runs as is.
# Idempotent; meant for root on Debian 12 (bookworm), the machine kind of developers and CI.
# All chatter goes to stderr so callers can do `PROMTOOL=$(bash .ci/install-promtool.sh)`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$REPO_ROOT/.tools/prometheus"
BIN="$DEST/usr/bin/promtool"

log() { printf 'install-promtool: %s\n' "$*" >&2; }

works() { "$1" --version >/dev/null 2>&1; }

if command -v promtool >/dev/null 2>&1 && works "$(command -v promtool)"; then
  command -v promtool
  exit 0
fi

if [ -x "$BIN" ] && works "$BIN"; then
  printf '%s\n' "$BIN"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "missing $tool: this script needs a Debian/Ubuntu machine"
    exit 1
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else log "apt-get update needs root (or sudo)"; fi
fi

# A fresh machine may have no package lists yet: apt-cache then knows no candidate for `prometheus`.
has_candidate() {
  local candidate
  candidate="$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ { print $2 }')"
  [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

if ! has_candidate; then
  log "no package list knows 'prometheus'; running apt-get update"
  $SUDO apt-get update -qq >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

download() {
  # Sandbox user root: apt's _apt user could not write into a root-owned mktemp directory.
  (cd "$WORK" && apt-get download -qq -o APT::Sandbox::User=root prometheus >&2)
}

if ! download; then
  # The lists may be stale (a superseded version is gone from the mirror): refresh once and retry.
  log "download failed; refreshing package lists and retrying"
  $SUDO apt-get update -qq >&2
  download
fi

DEB="$(ls "$WORK"/prometheus_*.deb 2>/dev/null | head -n 1 || true)"
if [ -z "$DEB" ]; then
  log "apt-get download produced no prometheus_*.deb"
  exit 1
fi

# Unpack into a scratch directory, then move into place, so an interrupted run never leaves half a tree.
dpkg-deb -x "$DEB" "$WORK/root"
if [ ! -x "$WORK/root/usr/bin/promtool" ]; then
  log "the package has no usr/bin/promtool"
  exit 1
fi
mkdir -p "$REPO_ROOT/.tools"
rm -rf "$DEST"
mv "$WORK/root" "$DEST"

if ! works "$BIN"; then
  log "$BIN does not run"
  exit 1
fi
log "$("$BIN" --version 2>&1 | head -n 1)"
printf '%s\n' "$BIN"
