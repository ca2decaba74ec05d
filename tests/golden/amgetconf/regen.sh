#!/bin/bash
# Regenerate the amgetconf golden fixtures from the REAL Amanda 3.5.1
# amgetconf (Debian package amanda-server).  See README.md for the format.
#
# Run as root.  Idempotent.  It
#   1. installs example/, extra/ and every errors/<case>/ as
#      /etc/amanda/amrs-golden, /etc/amanda/amrs-golden-extra and
#      /etc/amanda/amrs-golden-err-<case> (owned by backup),
#   2. runs /usr/sbin/amgetconf as user backup (cwd /) for every query,
#   3. writes golden.txt, golden-extra.txt and errors/<case>/expected.txt,
#   4. removes the /etc/amanda/amrs-golden* copies again
#      (set KEEP_INSTALLED=1 to leave them in place).
#
# Environment: JOBS=<n> parallel amgetconf runs (default 8);
#              TIMEOUT=<s> per-run time limit (default 60).

set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AMGETCONF=/usr/sbin/amgetconf
ETC=/etc/amanda
PREFIX=amrs-golden
JOBS=${JOBS:-8}
TIMEOUT=${TIMEOUT:-60}   # seconds per amgetconf run (some overrides hang it)
KEEP_INSTALLED=${KEEP_INSTALLED:-0}

die() { echo "regen.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must be run as root (it writes to $ETC and uses runuser)"
[[ -x $AMGETCONF ]] || die "$AMGETCONF not found (apt-get install amanda-server)"
id backup >/dev/null 2>&1 || die "user backup does not exist"
# amgetconf first reads the global $ETC/amanda.conf (if any) and overlays the
# named config on top of it; a global file would leak into every fixture.
[[ ! -e $ETC/amanda.conf ]] || die "$ETC/amanda.conf exists; remove it first"

TMP=$(mktemp -d /tmp/amrs-golden-regen.XXXXXX)
chmod 755 "$TMP"
INSTALLED=()
cleanup() {
    if [[ $KEEP_INSTALLED != 1 ]]; then
        local n
        for n in "${INSTALLED[@]+"${INSTALLED[@]}"}"; do
            rm -rf -- "${ETC:?}/$n"
        done
    fi
    rm -rf -- "$TMP"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Keyword tables, copied from Amanda 3.5.1 common-src/conffile.c
# (server_var, dumptype_var, ... joined with server_keytab; '_' shown as '-').

GLOBAL_PARAMS=(
    org mailto dumpuser printer mailer tapedev device-property property
    tpchanger changerdev changerfile labelstr tapelist diskfile infofile
    logdir indexdir tapetype holdingdisk dumpcycle runspercycle runtapes
    tapecycle bumpdays bumpsize bumppercent bumpmult netusage inparallel
    dumporder maxdumps max-dle-by-volume etimeout dtimeout ctimeout
    device-output-buffer-size columnspec taperalgo taper-parallel-write
    send-amreport-on flush-threshold-dumped flush-threshold-scheduled
    taperflush displayunit autoflush reserve maxdumpsize krb5keytab
    krb5principal label-new-tapes autolabel meta-autolabel eject-volume
    tmpdir usetimestamps amrecover-do-fsf amrecover-changer
    amrecover-check-label connect-tries rep-tries req-tries debug-days
    debug-amandad debug-recovery debug-amidxtaped debug-amindexd
    debug-amrecover debug-auth debug-event debug-holding debug-protocol
    debug-planner debug-driver debug-dumper debug-chunker debug-taper
    debug-selfcheck debug-sendsize debug-sendbackup reserved-udp-port
    reserved-tcp-port unreserved-tcp-port recovery-limit interactivity
    taperscan report-use-media report-next-media report-format
    active-storage storage vault-storage command-file rest-api-port
    rest-ssl-cert rest-ssl-key ssl-dir compress-index sort-index
)
TAPETYPE_PARAMS=(
    comment lbl-templ blocksize readblocksize length filemark speed
    part-size part-cache-type part-cache-dir part-cache-max-size
)
DUMPTYPE_PARAMS=(
    comment auth bumpdays bumpmult bumpsize bumppercent comprate compress
    encrypt dumpcycle exclude include ignore holdingdisk index kencrypt
    maxdumps maxpromoteday priority program property record skip-full
    skip-incr starttime strategy tape-splitsize split-diskbuffer estimate
    server-encrypt client-encrypt amandad-path client-username client-port
    ssh-keys server-custom-compress client-custom-compress
    fallback-splitsize server-decrypt-option client-decrypt-option
    application script data-path allow-split max-warnings recovery-limit
    dump-limit retry-dump tag ssl-fingerprint-file ssl-cert-file
    ssl-key-file ssl-ca-cert-file ssl-cipher-list ssl-check-host
    ssl-check-certificate-host ssl-check-fingerprint
)
HOLDINGDISK_PARAMS=(directory comment use chunksize)
INTERFACE_PARAMS=(comment use src-ip)
APPLICATION_PARAMS=(comment plugin property client-name)
SCRIPT_PARAMS=(comment plugin property execute-on execute-where order
    single-execution client-name)
DEVICE_PARAMS=(comment device-property tapedev)
CHANGER_PARAMS=(comment tapedev tpchanger changerdev changerfile property
    device-property)
INTERACTIVITY_PARAMS=(comment plugin property)
TAPERSCAN_PARAMS=(comment plugin property)
POLICY_PARAMS=(comment retention-tapes retention-days retention-recover
    retention-full)
STORAGE_PARAMS=(
    comment policy tapedev tpchanger labelstr autolabel meta-autolabel
    tapepool runtapes taperscan tapetype max-dle-by-volume taperalgo
    taper-parallel-write eject-volume erase-volume device-output-buffer-size
    autoflush flush-threshold-dumped flush-threshold-scheduled taperflush
    report-use-media report-next-media interactivity set-no-reuse
    dump-selection erase-on-failure erase-on-full vault
)
# subsection type (as accepted by --list and TYPE:NAME:PARAM) -> param array
SECTION_TYPES=(tapetype dumptype holdingdisk interface application script
    device changer interactivity taperscan policy storage)
declare -A SECTION_PARAMS=(
    [tapetype]=TAPETYPE_PARAMS [dumptype]=DUMPTYPE_PARAMS
    [holdingdisk]=HOLDINGDISK_PARAMS [interface]=INTERFACE_PARAMS
    [application]=APPLICATION_PARAMS [script]=SCRIPT_PARAMS
    [device]=DEVICE_PARAMS [changer]=CHANGER_PARAMS
    [interactivity]=INTERACTIVITY_PARAMS [taperscan]=TAPERSCAN_PARAMS
    [policy]=POLICY_PARAMS [storage]=STORAGE_PARAMS
)
# names accepted by --list (amgetconf's %subsection_names) plus aliases and
# near-misses
LIST_NAMES=(application changer device dumptype holdingdisk interactivity
    interface policy script storage taperscan tapetype)

# ---------------------------------------------------------------------------
# helpers

# install_config NAME SRCDIR : copy SRCDIR to $ETC/NAME, owned by backup
install_config() {
    local name=$1 src=$2 dst=$ETC/$1
    rm -rf -- "$dst"
    mkdir -p "$dst"
    INSTALLED+=("$name")
    cp -R "$src/." "$dst/"
    rm -f "$dst/expected.txt"
    chown -R backup:backup "$dst"
    chmod -R u+rwX,go+rX "$dst"
}

# run_query NAME OUTFILE ARG... : run the real amgetconf (args may contain
# @CONFIG@) and write one record to OUTFILE
run_query() {
    local name=$1 outfile=$2; shift 2
    local -a real=()
    local a
    for a in "$@"; do real+=("${a//@CONFIG@/$name}"); done
    local o=$outfile.stdout e=$outfile.stderr rc=0
    (cd / && exec timeout -k 5 "$TIMEOUT" runuser -u backup -- "$AMGETCONF" "${real[@]}") \
        >"$o" 2>"$e" || rc=$?
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        echo "regen.sh: amgetconf timed out (${TIMEOUT}s): $*" >&2
        exit 1
    fi
    {
        printf 'ARGS'
        for a in "$@"; do printf '\t%s' "$a"; done
        printf '\nEXIT\t%s\n' "$rc"
        emit_lines O "$o" "$name"
        emit_lines E "$e" "$name"
        printf '\n'
    } >"$outfile.part"
    rm -f -- "$o" "$e"
    mv -- "$outfile.part" "$outfile"
}

# emit_lines TAG FILE NAME : one "TAG<TAB>line" per line of FILE, with
# $ETC/NAME -> @CONFIGDIR@ and NAME -> @CONFIG@
emit_lines() {
    local tag=$1 file=$2 name=$3
    [[ -s $file ]] || return 0
    if [[ $(tail -c1 "$file" | od -An -c | tr -d ' ') != '\n' ]]; then
        echo "regen.sh: output without trailing newline in $file" >&2
        exit 1
    fi
    NAME=$name ETCDIR=$ETC TAG=$tag perl -ne '
        BEGIN { $d = "$ENV{ETCDIR}/$ENV{NAME}"; $n = $ENV{NAME}; }
        chomp;
        s/\Q$d\E/\@CONFIGDIR\@/g;
        s/\Q$n\E/\@CONFIG\@/g;
        print "$ENV{TAG}\t$_\n";
    ' "$file"
}

# queue NAME ARG... : add a query (deduplicated) to the current batch
declare -A QSEEN=()
QUEUE=()
queue() {
    local key
    key=$(printf '%s\x1f' "$@")
    [[ -n ${QSEEN[$key]+x} ]] && return 0
    QSEEN[$key]=1
    QUEUE+=("$key")
}

# run_batch NAME OUTFILE : run every queued query, write the records sorted
# by their ARGS line (byte order), reset the queue
run_batch() {
    local name=$1 out=$2 dir=$TMP/batch.$RANDOM$RANDOM i=0 key
    mkdir -p "$dir"
    for key in "${QUEUE[@]}"; do
        # split on the \x1f that terminates every argument (keeps empty args)
        local -a args=()
        local rest=$key
        while [[ -n $rest ]]; do
            args+=("${rest%%$'\x1f'*}")
            rest=${rest#*$'\x1f'}
        done
        i=$((i + 1))
        run_query "$name" "$dir/$i.rec" "${args[@]}" &
        while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
    done
    wait
    local n
    n=$(find "$dir" -name '*.rec' | wc -l)
    [[ $n -eq $i ]] || die "only $n of $i queries produced a record (see errors above)"
    # sort records by their first line (byte order)
    local f
    for f in "$dir"/*.rec; do
        [[ -e $f ]] || continue
        printf '%s\t%s\n' "$(head -n1 "$f" | od -An -tx1 | tr -d ' \n')" "$f"
    done | sort -k1,1 | cut -f2 | while read -r f; do cat "$f"; done >"$out.tmp"
    mv "$out.tmp" "$out"
    chmod 644 "$out"
    rm -rf -- "$dir"
    QUEUE=()
    QSEEN=()
}

# list_names NAME TYPE : the instance names real amgetconf lists for TYPE
list_names() {
    (cd / && runuser -u backup -- "$AMGETCONF" "$1" --list "$2")
}

# queue_full_enumeration NAME : every global param, every param of every
# instance of every subsection type, and --list for every subsection type
queue_full_enumeration() {
    local name=$1 p t inst arr
    for p in "${GLOBAL_PARAMS[@]}"; do queue @CONFIG@ "$p"; done
    for t in "${SECTION_TYPES[@]}"; do
        arr=${SECTION_PARAMS[$t]}[@]
        while IFS= read -r inst; do
            [[ -n $inst ]] || continue
            inst=${inst//$name/@CONFIG@}
            for p in "${!arr}"; do queue @CONFIG@ "$t:$inst:$p"; done
        done < <(list_names "$name" "$t")
    done
    for t in "${LIST_NAMES[@]}" application-tool script-tool; do
        queue --list @CONFIG@ "$t"
        queue -l @CONFIG@ "$t"
    done
    queue @CONFIG@ --list dumptype
    queue @CONFIG@ dumptype -l
    queue --list @CONFIG@ application_tool
    queue --list @CONFIG@ script_tool
    queue --list @CONFIG@ tapetypes
    queue --list @CONFIG@ INTERFACE
    queue --list @CONFIG@ org
    queue --list @CONFIG@ nosuch
}

# ---------------------------------------------------------------------------
# 1. example/ -> golden.txt

NAME=$PREFIX
install_config "$NAME" "$HERE/example"
queue_full_enumeration "$NAME"

# lookups: unknown names, spelling variants
queue @CONFIG@ nosuchparam
queue @CONFIG@ ''
queue @CONFIG@ dumptype:nosuch:compress
queue @CONFIG@ dumptype:global:nosuchparam
queue @CONFIG@ dumptype:global:org
queue @CONFIG@ tapetype:HP-DAT:compress
queue @CONFIG@ holdingdisk:nosuch:use
queue @CONFIG@ nosuchtype:x:comment
queue @CONFIG@ dumptype:comp-root
queue @CONFIG@ dumptype::compress
queue @CONFIG@ :org
queue @CONFIG@ dumptype:a:b:compress
queue @CONFIG@ DUMPORDER
queue @CONFIG@ DUMP-ORDER
queue @CONFIG@ dump_order
queue @CONFIG@ DEVICE-OUTPUT-BUFFER-SIZE
queue @CONFIG@ Device_Output_Buffer_Size
queue @CONFIG@ device_output_buffer_size
queue @CONFIG@ Flush_Threshold-Dumped
queue @CONFIG@ DUMPTYPE:COMP-ROOT:COMPRESS
queue @CONFIG@ DumpType:comp-root:Client_Custom_Compress
queue @CONFIG@ dumptype:comp_root:compress
queue @CONFIG@ dumptype:COMP-ROOT:compress
queue @CONFIG@ TapeType:hp-dat:Part_Cache_Type
queue @CONFIG@ holding-disk:hd1:use
queue @CONFIG@ holdingdisk:HD1:Chunk-Size
queue @CONFIG@ holdingdisk:HD1:chunksize
queue @CONFIG@ application-tool:app_amgtar:plugin
queue @CONFIG@ application_tool:app_amgtar:plugin
queue @CONFIG@ Application:APP_AMGTAR:Plugin
queue @CONFIG@ script-tool:sc-email:plugin
queue @CONFIG@ script_tool:sc-email:execute_on
queue @CONFIG@ pp-script:sc-email:plugin
queue @CONFIG@ interface:default:use
queue @CONFIG@ interface:DEFAULT:comment
queue @CONFIG@ property:nosuch
queue @CONFIG@ device-property:nosuch
queue @CONFIG@ device_property:nosuch
queue @CONFIG@ PROPERTY:nosuch
queue @CONFIG@ org ignored extra args
# option handling
queue --bogus @CONFIG@ org
queue --execute-where=bogus @CONFIG@ org
queue --execute-where=server @CONFIG@ org
queue -l -o inparallel=7 @CONFIG@ holdingdisk
# overrides
queue -o inparallel=7 @CONFIG@ inparallel
queue @CONFIG@ inparallel -o inparallel=7
queue -o inparallel=7 -o inparallel=9 @CONFIG@ inparallel
queue -oinparallel=8 @CONFIG@ inparallel
queue -o INPARALLEL=5 @CONFIG@ inparallel
queue -o inparallel=abc @CONFIG@ inparallel
queue -o inparallel=-1 @CONFIG@ inparallel
queue -o inparallel=1.5 @CONFIG@ inparallel
queue -o 'inparallel=3 4' @CONFIG@ inparallel
queue -o org=new @CONFIG@ org
queue -o 'org=with space and "quotes"' @CONFIG@ org
queue -o org= @CONFIG@ org
queue -o Device_Output_Buffer_Size=64k @CONFIG@ device-output-buffer-size
queue -o bumpmult=2.5 @CONFIG@ bumpmult
queue -o bumpsize=1g @CONFIG@ bumpsize
queue -o dumpcycle=2weeks @CONFIG@ dumpcycle
queue -o 'dumpcycle=2 weeks' @CONFIG@ dumpcycle
queue -o autoflush=all @CONFIG@ autoflush
queue -o autoflush=maybe @CONFIG@ autoflush
queue -o taperalgo=largestfit @CONFIG@ taperalgo
queue -o reserved-udp-port=800,810 @CONFIG@ reserved-udp-port
queue -o tapetype=DAT @CONFIG@ tapetype
queue -o tapetype=NOSUCH @CONFIG@ tapetype
queue -o holdingdisk=hd1 @CONFIG@ holdingdisk
queue -o 'labelstr=^X-[0-9]+$' @CONFIG@ labelstr
queue -o 'labelstr="^X-[0-9]+$"' @CONFIG@ labelstr
queue -o labelstr=match-autolabel @CONFIG@ labelstr
queue -o 'autolabel="X-%%%" any' @CONFIG@ autolabel
queue -o nosuch=1 @CONFIG@ org
queue -o dumptype:nosuch:compress=none @CONFIG@ org
queue -o dumptype:global:nosuchparam=1 @CONFIG@ org
queue -o 'dumptype:global:compress=server best' @CONFIG@ dumptype:global:compress
queue -o 'dumptype:global:compress=server best' @CONFIG@ dumptype:comp-root:compress
queue -o 'dumptype:global:compress=server best' @CONFIG@ dumptype:dt_amgtar:compress
queue -o 'DUMPTYPE:GLOBAL:COMPRESS=server fast' @CONFIG@ dumptype:global:compress
queue -o dumptype:global:record=no @CONFIG@ dumptype:global:record
queue -o dumptype:global:record=no @CONFIG@ dumptype:always-full:record
queue -o dumptype:global:record=no @CONFIG@ dumptype:comp-test:record
queue -o dumptype:global:record=no @CONFIG@ dumptype:dt_amgtar:record
queue -o 'dumptype:global:comment=hello world' @CONFIG@ dumptype:global:comment
queue -o dumptype:comp-root:priority=high @CONFIG@ dumptype:comp-root:priority
queue -o dumptype:comp-root:priority=high @CONFIG@ dumptype:nocomp-root:priority
queue -o 'dumptype:comp-root:exclude=list "a" "b"' @CONFIG@ dumptype:comp-root:exclude
queue -o dumptype:comp-root:compress=bogus @CONFIG@ dumptype:comp-root:compress
queue -o tapetype:HP-DAT:length=5g @CONFIG@ tapetype:HP-DAT:length
queue -o holdingdisk:hd1:use=5g @CONFIG@ holdingdisk:hd1:use
queue -o interface:local:use=100 @CONFIG@ interface:local:use
queue -o 'application:app_amgtar:comment=overridden' @CONFIG@ application:app_amgtar:comment
queue -o storage:@CONFIG@:runtapes=5 @CONFIG@ storage:@CONFIG@:runtapes
queue -o runtapes=6 @CONFIG@ storage:@CONFIG@:runtapes
queue -o tapecycle=40 @CONFIG@ policy:@CONFIG@:retention-tapes
queue -o netusage=100 @CONFIG@ interface:default:use

run_batch "$NAME" "$HERE/golden.txt"
echo "golden.txt: $(grep -c '^ARGS' "$HERE/golden.txt") records"

# ---------------------------------------------------------------------------
# 2. extra/ -> golden-extra.txt

NAME=$PREFIX-extra
install_config "$NAME" "$HERE/extra"
queue_full_enumeration "$NAME"
queue @CONFIG@ property:global-prop
queue @CONFIG@ property:Global-Prop
queue @CONFIG@ property:GLOBAL-PROP
queue @CONFIG@ property:Global_Prop
queue @CONFIG@ property:other-prop
queue @CONFIG@ PROPERTY:other-prop
queue @CONFIG@ device-property:block-size
queue @CONFIG@ device_property:BLOCK-SIZE
queue @CONFIG@ Device-Property:read-buffer-size
queue @CONFIG@ device-property:read_buffer_size
queue @CONFIG@ device-property:nosuch
queue @CONFIG@ property:nosuch
queue -o storage=vault-storage @CONFIG@ storage
queue -o storage=vault-storage @CONFIG@ active-storage
queue -o 'active-storage=parent-storage vault-storage' @CONFIG@ active-storage
queue -o 'dumptype:parent-dt:compress=none' @CONFIG@ dumptype:child-dt:compress
queue -o 'dumptype:parent-dt:maxdumps=9' @CONFIG@ dumptype:grandchild-dt:maxdumps
queue -o 'dumptype:parent-dt:comprate=0.1,0.2' @CONFIG@ dumptype:parent-dt:comprate
queue -o 'dumptype:parent-dt:comprate=0.1,0.2' @CONFIG@ dumptype:child-dt:comprate
queue -o 'dumptype:parent-dt:property="P" "v1" "v2"' @CONFIG@ dumptype:parent-dt:property
queue -o 'changer:parent-changer:changerfile=state-$t' @CONFIG@ changer:parent-changer:changerfile
queue -o 'policy:bare-policy:retention-days=99' @CONFIG@ policy:bare-policy:retention-days
queue -o 'storage:parent-storage:vault="x" 1' @CONFIG@ storage:parent-storage:vault
queue -o 'storage:parent-storage:dump-selection=all full' @CONFIG@ storage:parent-storage:dump-selection
queue -o 'device:child-dev:tapedev=null:' @CONFIG@ device:child-dev:tapedev
queue -o 'interactivity:child-iv:plugin=tty' @CONFIG@ interactivity:child-iv:plugin
queue -o 'taperscan:child-ts:plugin=oldest' @CONFIG@ taperscan:child-ts:plugin
queue -o 'script:parent-script:order=1' @CONFIG@ script:parent-script:order
queue -o 'script:parent-script:execute-on=pre-recover' @CONFIG@ script:parent-script:execute-on
run_batch "$NAME" "$HERE/golden-extra.txt"
echo "golden-extra.txt: $(grep -c '^ARGS' "$HERE/golden-extra.txt") records"

# ---------------------------------------------------------------------------
# 3. errors/<case>/ -> errors/<case>/expected.txt
#
# Queries per case (one query per line, arguments separated by '|');
# cases not listed get the single query "@CONFIG@|org".
declare -A ERROR_QUERIES=(
    [neg-accepted]=$'@CONFIG@|etimeout\n@CONFIG@|maxdumpsize\n@CONFIG@|holdingdisk:hd1:use'
    [deprecated-warning]=$'@CONFIG@|usetimestamps\n@CONFIG@|label-new-tapes\n@CONFIG@|autolabel\n@CONFIG@|amrecover-do-fsf\n@CONFIG@|dumptype:a:tape-splitsize\n@CONFIG@|dumptype:a:split-diskbuffer\n@CONFIG@|dumptype:a:fallback-splitsize'
    [deprecated-changerfile]=$'@CONFIG@|changerfile'
    [duplicate-global]=$'@CONFIG@|org'
    [duplicate-in-block]=$'@CONFIG@|dumptype:a:comment'
    [include-ok]=$'@CONFIG@|org\n@CONFIG@|inparallel'
    [string-escapes]=$'@CONFIG@|org\n@CONFIG@|mailto\n@CONFIG@|printer\n@CONFIG@|dumpuser\n@CONFIG@|mailer'
    [undefined-tapetype]=$'@CONFIG@|tapetype'
    [undefined-holdingdisk]=$'@CONFIG@|holdingdisk'
    [bad-boolean-no-yes-all]=$'@CONFIG@|autoflush'
    [bad-boolean]=$'@CONFIG@|eject-volume'
    [labelstr-match-autolabel]=$'@CONFIG@|labelstr'
    [dumptype-holdingdisk-name]=$'@CONFIG@|dumptype:a:holdingdisk'
    [priority-integer]=$'@CONFIG@|dumptype:a:priority'
    [intrange-space]=$'@CONFIG@|reserved-tcp-port'
    [no-final-newline]=$'@CONFIG@|org'
)
nerr=0
for casedir in "$HERE"/errors/*/; do
    casedir=${casedir%/}
    case_name=$(basename "$casedir")
    NAME=$PREFIX-err-$case_name
    install_config "$NAME" "$casedir"
    queries=${ERROR_QUERIES[$case_name]:-'@CONFIG@|org'}
    while IFS= read -r q; do
        IFS='|' read -r -a qargs <<<"$q"
        queue "${qargs[@]}"
    done <<<"$queries"
    run_batch "$NAME" "$casedir/expected.txt"
    nerr=$((nerr + 1))
done
echo "errors/: $nerr cases"

if [[ $KEEP_INSTALLED == 1 ]]; then
    echo "left installed: ${INSTALLED[*]/#/$ETC/}"
    INSTALLED=()
fi
