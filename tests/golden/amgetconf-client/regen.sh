#!/usr/bin/env bash
# Re-records golden.txt: Amanda 3.5.1's `amgetconf --client` over client/amanda-client.conf
# (Debian's example client configuration plus the lines at its end). Run as root on a
# machine with amanda-client installed; uses /etc/amanda/amrs-golden-client, then removes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=amrs-golden-client
etc=/etc/amanda/$name
rm -rf "$etc"; mkdir -p "$etc"; cp "$here/client/amanda-client.conf" "$etc/"; chown -R backup "$etc"
params=(conf index_server tape_server tapedev auth ssh_keys amandad_path client_username client_port
  ctimeout connect_tries rep_tries req_tries debug_days debug_amandad debug_auth gnutar_list_dir amandates
  mailer krb5keytab krb5principal reserved-udp-port reserved-tcp-port unreserved-tcp-port property:my-prop
  application:app_amgtar:plugin application:app_amgtar:property application:app_amgtar:comment
  script:sc1:execute-on script:sc1:execute-where script:sc1:order script:sc1:plugin ssl_dir hostname
  nosuchparam dumpcycle)
out="$here/golden.txt"; : > "$out"
record() {
  local rc=0 o e
  o=$(mktemp); e=$(mktemp)
  su backup -s /bin/sh -c "amgetconf $(printf '%q ' "$@")" >"$o" 2>"$e" || rc=$?
  { printf 'ARGS'; for a in "$@"; do printf '\t%s' "${a//$name/@CONFIG@}"; done; printf '\n'
    printf 'EXIT\t%s\n' "$rc"
    sed -e "s#$etc#@CONFIGDIR@#g" -e "s#$name#@CONFIG@#g" -e 's/^/O\t/' "$o"
    sed -e "s#$etc#@CONFIGDIR@#g" -e "s#$name#@CONFIG@#g" -e 's/^/E\t/' "$e"
    printf '\n'; } >>"$out"
  rm -f "$o" "$e"
}
for p in "${params[@]}"; do record --client "$name" "$p"; done
record --client -o ctimeout=99 "$name" ctimeout
record --execute-where client "$name" auth
rm -rf "$etc"
