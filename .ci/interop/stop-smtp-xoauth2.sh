#!/usr/bin/env bash
# Stop the Dovecot + sink started by start-smtp-xoauth2.sh.
#   stop-smtp-xoauth2.sh           stop, keep the work dir (logs, sink, keys)
#   stop-smtp-xoauth2.sh --purge   stop and delete the work dir
# Only processes recorded in the work dir's pid files are signalled.
set -euo pipefail

W="${GRAPHMAIL_INTEROP_DIR:-/tmp/graphmail-interop}"
purge=
case "${1:-}" in
--purge) purge=1 ;;
"") ;;
*) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

log() { printf '[interop] %s\n' "$*" >&2; }

# stop_pid PIDFILE NAME-PATTERN: TERM the recorded process if it is still
# the one we started (its command line matches), wait, then KILL.
stop_pid() {
	local pidfile=$1 pattern=$2 pid i
	[ -f "$pidfile" ] || return 0
	pid="$(tr -dc '0-9' <"$pidfile")"
	if [ -z "$pid" ] || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"; then
		rm -f "$pidfile"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "pid $pid did not exit, sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	log "stopped $pattern (pid $pid)"
}

stop_pid "$W/run/master.pid" "dovecot"
stop_pid "$W/sink.pid" "sink.py"

if [ -n "$purge" ]; then
	case "$W" in
	/tmp/?*|/var/tmp/?*) rm -rf -- "$W"; log "removed $W" ;;
	*) log "not purging $W (only paths under /tmp or /var/tmp are removed)" ;;
	esac
fi
