#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine: the Rust
# components CI checks with, and Amanda 3.5.1 (the reference our compatibility tests
# run against). Idempotent: does nothing when everything is present.
set -euo pipefail

need_pkgs=()
# libencode-locale-perl: Amanda 3.5.1's Perl tools (Amanda::Message) load Encode::Locale,
# which Debian's packages only recommend; without it amlabel and amdump die at start.
for p in amanda-server amanda-client libencode-locale-perl zstd gzip lz4 bc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install ${need_pkgs[*]} (apt-get)" >&2
        exit 1
    fi
    echo "setup: installing ${need_pkgs[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null 2>&1 || true
    done
fi
