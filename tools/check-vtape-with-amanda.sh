#!/bin/sh
# Checks the device layer against a real Amanda 3.5 installation, both ways:
#   1. a vtape written by amrs (file: device, 256 KiB blocks) is restored by Amanda's
#      amrestore, byte for byte (plain, empty and gzip-compressed dumps, and -h headers);
#   2. a vtape written by Amanda's own device code (Perl Amanda::Device + Amanda::Xfer)
#      is read by amrs;
#   3. a chg-disk changer used by amrs is understood by Amanda's amtape and amlabel
#      (labels, current slot, state file, data link), and amrs follows what they change;
#   4. on a full filesystem (a 1 MiB tmpfs) amrs reports early warning, then the end of
#      medium, cuts the file back to whole blocks, and amrestore restores those blocks.
# Needs root (Amanda's tools run as user backup through su), amanda-server, gzip, perl.
# Uses a scratch configuration /etc/amanda/amrs-dev-scratch and a directory under /tmp,
# both removed on exit. Fails loudly if anything is missing: it never skips.
set -eu

CONFIG=amrs-dev-scratch
REPO=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "check-vtape-with-amanda: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || die "run as root: Amanda's tools are run as user backup through su"
id backup >/dev/null 2>&1 || die "no user 'backup' (Amanda's dumpuser)"
for tool in amrestore amtape amlabel perl gzip cargo; do
    command -v "$tool" >/dev/null || die "$tool not found (install amanda-server, perl, gzip, cargo)"
done
AMANDA_PERL=/usr/lib/x86_64-linux-gnu/amanda/perl
[ -d "$AMANDA_PERL/Amanda" ] || die "Amanda's Perl modules not found in $AMANDA_PERL"
[ ! -e "/etc/amanda/$CONFIG" ] || die "/etc/amanda/$CONFIG exists; remove it first"

WORK=$(mktemp -d /tmp/amrs-vtape-check.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    if mountpoint -q "$WORK/small/slot1" 2>/dev/null; then umount "$WORK/small/slot1"; fi
    rm -rf "$WORK" "/etc/amanda/$CONFIG"
}
trap cleanup EXIT

as_backup() { su backup -s /bin/sh -c "$1"; }
run_test() { # run_test TEST-PATH VAR=VALUE...
    test_path=$1; shift
    (cd "$REPO" && env "$@" cargo test --quiet --lib "$test_path" -- --ignored --exact) >"$WORK/cargo.log" 2>&1 ||
        { cat "$WORK/cargo.log" >&2; die "amrs test $test_path failed"; }
}
expect_same() { # expect_same GOT EXPECTED WHAT
    cmp "$1" "$2" >/dev/null || die "$3: amrestore output differs from what amrs wrote"
    echo "   ok: $3 ($(wc -c <"$1") bytes identical)"
}

step "1. amrs writes a vtape; Amanda's amrestore reads it"
mkdir -p "$WORK/ours/slot1"
head -c 400000 /dev/urandom >"$WORK/payload"
gzip -c <"$WORK/payload" >"$WORK/payload.gz"
run_test device::vfs::tests::interop_write_vtape_for_amanda \
    AMRS_VTAPE_DIR="$WORK/ours/slot1" AMRS_GZ_PAYLOAD="$WORK/payload.gz"
chown -R backup "$WORK"
DEV="file:$WORK/ours/slot1"
as_backup "amrestore -f 1 -p $DEV" >"$WORK/got.1" 2>"$WORK/amrestore.1.err" ||
    { cat "$WORK/amrestore.1.err" >&2; die "amrestore of file 1 failed"; }
expect_same "$WORK/got.1" "$WORK/ours/slot1.expected.1" "file 1 (uncompressed, 256 KiB blocks)"
as_backup "amrestore -f 2 -p $DEV" >"$WORK/got.2" 2>"$WORK/amrestore.2.err" ||
    { cat "$WORK/amrestore.2.err" >&2; die "amrestore of file 2 failed"; }
[ ! -s "$WORK/got.2" ] || die "file 2 (an empty dump) restored as $(wc -c <"$WORK/got.2") bytes"
grep -q "restoring split dumpfile: date 20240102030405 host client.example.com disk /etc part 1/UNKNOWN lev 1" \
    "$WORK/amrestore.2.err" || { cat "$WORK/amrestore.2.err" >&2; die "unexpected amrestore message for file 2"; }
echo "   ok: file 2 (empty dump), header summarised by amrestore as expected"
as_backup "amrestore -f 3 -p $DEV" >"$WORK/got.3" 2>"$WORK/amrestore.3.err" ||
    { cat "$WORK/amrestore.3.err" >&2; die "amrestore of file 3 failed"; }
expect_same "$WORK/got.3" "$WORK/payload" "file 3 (comp .gz, uncompressed by amrestore)"
as_backup "amrestore -h -f 1 -p $DEV" >"$WORK/got.1h" 2>/dev/null || die "amrestore -h of file 1 failed"
head -c 100 "$WORK/got.1h" | grep -q '^AMANDA: SPLIT_FILE 20240102030405 client.example.com "/home/a b"' ||
    die "amrestore -h header of file 1 is not what amrs wrote: $(head -c 100 "$WORK/got.1h")"
tail -c +32769 "$WORK/got.1h" >"$WORK/got.1h.data"
expect_same "$WORK/got.1h.data" "$WORK/ours/slot1.expected.1" "file 1 with -h (32 KiB header + data)"
as_backup "cd $WORK && amrestore $DEV" >"$WORK/amrestore.all" 2>&1 ||
    { cat "$WORK/amrestore.all" >&2; die "amrestore of the whole vtape failed"; }
[ "$(grep -c ': restoring split dumpfile' "$WORK/amrestore.all")" = 3 ] ||
    { cat "$WORK/amrestore.all" >&2; die "amrestore of the whole vtape did not restore exactly 3 files"; }
cmp -s "$WORK/client.example.com._home_a b.20240102030405.0.0000001" "$WORK/ours/slot1.expected.1" ||
    die "amrestore of the whole vtape wrote a different file 1"
echo "   ok: amrestore of the whole vtape restores 3 files and stops at the synthesised end"

step "2. Amanda writes a vtape; amrs reads it"
mkdir -p "$WORK/theirs/slot"
chown -R backup "$WORK/theirs"
cat >"$WORK/write.pl" <<'EOF'
# Label AMW-01, 64 KiB blocks, three SPLIT_FILE dumps through Amanda's xfer machinery;
# each payload is saved as DIR.expected.N.
use strict; use warnings;
use Amanda::Config qw(:init);
use Amanda::Device qw(:constants);
use Amanda::Header;
use Amanda::Xfer qw(:constants);
use Amanda::MainLoop;
config_init(0, undef);
my $dir = shift;
my $dev = Amanda::Device->new("file:$dir");
die $dev->error_or_status() if $dev->status != $DEVICE_STATUS_SUCCESS;
my $r = $dev->property_set("BLOCK_SIZE", 65536); die "BLOCK_SIZE: $r" if $r;
$dev->start($ACCESS_WRITE, "AMW-01", "20240102030405") or die $dev->error_or_status();
for my $n (1..3) {
    my $hdr = Amanda::Header->new();
    $hdr->{type} = $Amanda::Header::F_SPLIT_DUMPFILE;
    $hdr->{datestamp} = "20240102030405"; $hdr->{name} = "amhost"; $hdr->{disk} = "/disk $n";
    $hdr->{dumplevel} = $n; $hdr->{program} = "GNUTAR"; $hdr->{partnum} = 1; $hdr->{totalparts} = -1;
    my $len = 70000 * $n + 13;
    my $data = join('', map { chr(($_ * 7 + $n) % 251) } 0 .. ($len - 1));
    open(my $out, '>', "$dir.expected.$n") or die; binmode $out; print $out $data; close $out;
    $dev->start_file($hdr) or die $dev->error_or_status();
    open(my $in, '<', "$dir.expected.$n") or die;
    my $xfer = Amanda::Xfer->new([Amanda::Xfer::Source::Fd->new(fileno($in)),
                                  Amanda::Xfer::Dest::Device->new($dev, 0)]);
    $xfer->start(sub {
        my ($src, $msg, $xfer) = @_;
        die $msg->{message} if $msg->{type} == $XMSG_ERROR;
        Amanda::MainLoop::quit() if $msg->{type} == $XMSG_DONE;
    });
    Amanda::MainLoop::run();
    close $in;
}
$dev->finish() or die $dev->error_or_status();
EOF
as_backup "perl -I$AMANDA_PERL $WORK/write.pl $WORK/theirs/slot" 2>"$WORK/perl.err" ||
    { cat "$WORK/perl.err" >&2; die "writing a vtape with Amanda's device code failed"; }
run_test device::vfs::tests::interop_read_vtape_written_by_amanda AMRS_AMANDA_VTAPE_DIR="$WORK/theirs/slot"
echo "   ok: amrs read Amanda's label, three headers and their data, and the end"

step "3. chg-disk shared between amrs and Amanda's amtape/amlabel"
mkdir -p "$WORK/vt/slot1" "$WORK/vt/slot2" "$WORK/vt/slot3" "$WORK/state"
mkdir -p "/etc/amanda/$CONFIG"
cat >"/etc/amanda/$CONFIG/amanda.conf" <<EOF
org "amrs-check"
dumpuser "backup"
tpchanger "chg-disk:$WORK/vt"
labelstr "^AMRS-[0-9][0-9]*\$"
tapecycle 3
infofile "$WORK/state/curinfo"
logdir "$WORK/state/log"
indexdir "$WORK/state/index"
tapelist "$WORK/state/tapelist"
define tapetype vtape {
    length 100 mbytes
}
tapetype "vtape"
EOF
: >"/etc/amanda/$CONFIG/disklist"
: >"$WORK/state/tapelist"
chown -R backup "/etc/amanda/$CONFIG"
run_test device::changer::disk::tests::interop_prepare_changer_for_amanda \
    AMRS_CHG_DIR="$WORK/vt" AMRS_CONFIG="$CONFIG"
chown -R backup "$WORK"
as_backup "amtape $CONFIG show" >"$WORK/show" 2>&1 || { cat "$WORK/show" >&2; die "amtape show failed"; }
grep -q "slot *1: date 20240102030405 *label AMRS-01" "$WORK/show" &&
    grep -q "slot *3: date 20240102030405 *label AMRS-03" "$WORK/show" &&
    grep -q "slot *2: unlabeled volume" "$WORK/show" ||
    { cat "$WORK/show" >&2; die "amtape show does not list the labels amrs wrote"; }
echo "   ok: amtape show lists AMRS-01, a blank slot 2 and AMRS-03"
# Point the data link elsewhere: Amanda must take the current slot from the state file
# amrs wrote (it falls back to the link only when the state has none or does not parse).
ln -sfn slot1 "$WORK/vt/data"
as_backup "amtape $CONFIG current" >"$WORK/current" 2>&1 || { cat "$WORK/current" >&2; die "amtape current failed"; }
grep -q "slot *3:.*label AMRS-03" "$WORK/current" ||
    { cat "$WORK/current" >&2; die "amtape current does not see the slot amrs recorded in the state file"; }
echo "   ok: amtape current is slot 3, read from the state file amrs wrote"
as_backup "amlabel $CONFIG AMRS-02 slot 2" >"$WORK/amlabel" 2>&1 || { cat "$WORK/amlabel" >&2; die "amlabel failed"; }
as_backup "amtape $CONFIG slot 1" >"$WORK/slot1" 2>&1 || { cat "$WORK/slot1" >&2; die "amtape slot 1 failed"; }
run_test device::changer::disk::tests::interop_read_changer_after_amanda \
    AMRS_CHG_DIR="$WORK/vt" AMRS_CONFIG="$CONFIG" AMRS_EXPECT_CURRENT=1 \
    AMRS_EXPECT_LABELS="1:AMRS-01,2:AMRS-02,3:AMRS-03"
echo "   ok: amrs sees Amanda's label in slot 2 and its current slot 1, then loads AMRS-02"
chown -R backup "$WORK"
as_backup "amtape $CONFIG current" >"$WORK/current2" 2>&1 || { cat "$WORK/current2" >&2; die "amtape current failed"; }
grep -q "slot *2:.*label AMRS-02" "$WORK/current2" ||
    { cat "$WORK/current2" >&2; die "amtape current does not follow amrs's load of AMRS-02"; }
[ "$(readlink "$WORK/vt/data")" = slot2 ] || die "data link is $(readlink "$WORK/vt/data"), expected slot2"
as_backup "amtape $CONFIG inventory" >"$WORK/inventory" 2>&1 || { cat "$WORK/inventory" >&2; die "amtape inventory failed"; }
grep -q "slot 2: label AMRS-02.*(current)" "$WORK/inventory" ||
    { cat "$WORK/inventory" >&2; die "amtape inventory disagrees"; }
echo "   ok: amtape current and inventory follow amrs (slot 2); data -> slot2"

step "4. a full filesystem: early warning, end of medium, the file cut back"
mkdir -p "$WORK/small/slot1"
mount -t tmpfs -o size=1m tmpfs "$WORK/small/slot1" || die "cannot mount a tmpfs for the full-filesystem check"
run_test device::vfs::tests::interop_fill_a_small_filesystem AMRS_SMALL_FS_DIR="$WORK/small/slot1"
chown -R backup "$WORK/small"
as_backup "amrestore -f 1 -p file:$WORK/small/slot1" >"$WORK/got.small" 2>"$WORK/amrestore.small.err" ||
    { cat "$WORK/amrestore.small.err" >&2; die "amrestore of the cut-back file failed"; }
expect_same "$WORK/got.small" "$WORK/small/slot1.expected.1" "file cut back at ENOSPC"

echo "all checks passed"
