#!/usr/bin/env bash
# Throughput of the data path against references measured in the same run, on the same
# bytes: `zstd -1 -T2` alone, and copying the input twice with direct I/O (the disk's own
# limit). Prints one JSON line per measurement. Usage: tools/bench.sh [SIZE] (default 1g).
# Benchmarks are not tests: nothing here asserts a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1g}
cargo build --release --quiet
amrs=target/release/amrs
work=$(mktemp -d -p /var/tmp amrs-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
corpus=$work/corpus
$amrs ambench corpus "$size" "$corpus"
bytes=$(stat -c %s "$corpus")
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
ref() { printf '{"reference":"%s","bytes_in":%s,"seconds":%.4f,"mb_per_s":%.1f}\n' "$1" "$bytes" "$2" "$(echo "$bytes / 1000000 / $2" | bc -l)"; }

cat "$corpus" > /dev/null   # warm, as the references in PERFORMANCE.md
zstd_ref() { ref "zstd -1 -T2" "$(secs sh -c "zstd -1 -T2 -c '$corpus' > /dev/null")"; }
dd_ref() {
    ref "dd direct copy x2" "$(secs sh -c "dd if='$corpus' of='$work/c1' bs=1M iflag=direct oflag=direct conv=fdatasync && dd if='$work/c1' of='$work/c2' bs=1M iflag=direct oflag=direct conv=fdatasync")"
    rm -f "$work/c1" "$work/c2"
}

run() {
    rm -rf "$work/h" "$work/v"; mkdir -p "$work/h" "$work/v"
    printf '{"run":"%s"} ' "$*"
    $amrs ambench pipeline --input "$corpus" --workers 2 "$@"
}
# The targets of PERFORMANCE.md, each right after its reference, $rounds times (this
# machine's speed drifts within minutes, so a reference is only comparable with what runs
# next to it): zstd -1 + AEAD through holding and a vtape against zstd -1 -T2, and no
# compression through holding and a vtape against copying the input twice with direct
# I/O; the taper follows the holding disk.
rounds=${BENCH_ROUNDS:-3}
for _ in $(seq "$rounds"); do
    zstd_ref
    run --compress zstd:1 --encrypt aes-256-gcm --holding "$work/h" --device "file:$work/v"
    dd_ref
    run --compress none --encrypt none --holding "$work/h" --device "file:$work/v"
done
# The same as two passes (dump, then flush, as amflush does), straight to the vtape, and
# the codecs alone.
run --compress zstd:1 --encrypt aes-256-gcm --holding "$work/h" --flush-after --device "file:$work/v"
run --compress none --encrypt none --holding "$work/h" --flush-after --device "file:$work/v"
run --compress zstd:1 --encrypt aes-256-gcm --holding none --device "file:$work/v"
run --compress none --encrypt none --holding none --device "file:$work/v"
for c in "zstd:1 aes-256-gcm" "lz4 aes-256-gcm" "gzip:1 none"; do
    set -- $c
    run --compress "$1" --encrypt "$2" --holding none --device null:
done
