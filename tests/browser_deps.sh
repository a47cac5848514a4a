#!/usr/bin/env bash
# Debian's Chromium for the real-browser test (Playwright drives it; no browser download from elsewhere).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
chromium --version
