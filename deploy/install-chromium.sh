#!/usr/bin/env bash
# Installs Debian's Chromium for the page tests (playwright-core drives it; no browser downloads).
# Idempotent: does nothing when /usr/bin/chromium exists. Needs root (CI runs as root).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
