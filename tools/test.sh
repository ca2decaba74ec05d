#!/usr/bin/env bash
# The whole test suite: installs what it needs (tools/setup.sh), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo test --all-targets "$@"
