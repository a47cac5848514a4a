#!/usr/bin/env bash
# Debian's Chromium for the real-browser test (Playwright drives it; no browser download from elsewhere), and
# ffmpeg, which Gradio needs to stream the live preview (the same Debian package a Space gets from packages.txt).
# The Noto fonts: the page shows Chinese, Japanese, Hindi and emoji (examples, the header); without them the
# screenshots the browser test saves show empty boxes where a person's browser shows text.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
for font in fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji; do
  dpkg -s "$font" >/dev/null 2>&1 || missing+=("$font")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
chromium --version
ffmpeg -version | head -1
