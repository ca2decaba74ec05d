#!/usr/bin/env bash
# The whole test suite: installs what it needs (tools/setup.sh), makes the volumes that
# the compatibility tests read with the real Amanda 3.5.1, runs every test, then the
# two-way vtape checks against Amanda.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

# Volumes and holding files written by Amanda's own amdump, and what Amanda's amrestore
# makes of them (tests/amrestore_vs_amanda.rs compares ours with it). Made once per
# checkout; delete tests/fixtures/amanda-volumes/out to remake them.
fixtures=tests/fixtures/amanda-volumes/out
if [ ! -f "$fixtures/expected/RUNS" ]; then
    echo "test: making Amanda fixtures (tests/fixtures/amanda-volumes/make-fixtures.sh)" >&2
    tests/fixtures/amanda-volumes/make-fixtures.sh "$fixtures" > /tmp/amrs-make-fixtures.log 2>&1 ||
        { tail -50 /tmp/amrs-make-fixtures.log >&2; echo "test: making the Amanda fixtures failed" >&2; exit 1; }
fi
export AMRS_AMANDA_FIXTURES="$PWD/$fixtures"

cargo test --all-targets "$@"

# Our vtapes and chg-disk state read by Amanda's tools, and Amanda's read by ours.
tools/check-vtape-with-amanda.sh
