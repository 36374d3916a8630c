#!/usr/bin/env bash
# Installs Prometheus (and promtool) from the Debian package for the scrape and rule tests.
# Idempotent: does nothing when the binaries are already on PATH. Needs root (CI runs as root).
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends prometheus
# apt may start the packaged service; the tests start their own instance on a free port.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
command -v prometheus >/dev/null && command -v promtool >/dev/null
