#!/usr/bin/env bash
# Start a loopback-only SMTP submission server that really validates
# XOAUTH2 bearer tokens, for graphmail's SMTP fallback interop tests.
#
#   Dovecot 2.3 (Debian bookworm: dovecot-core + dovecot-submissiond)
#     submission on 127.0.0.2:$PORT, STARTTLS required, AUTH XOAUTH2/OAUTHBEARER,
#     passdb oauth2 with introspection_mode = local: Dovecot itself checks the
#     JWT's RS256 signature against a public key, exp/nbf/iat, iss, aud
#     (client_id), and that the token's upn claim names the SASL user.
#   Accepted mail is relayed to a loopback sink (python3-aiosmtpd, sink.py)
#   that stores each message under $WORKDIR/sink.
#
# Idempotent: stops a previous instance started from the same work dir,
# keeps already generated keys and certificates, rewrites the configs and
# starts everything again. Writes $WORKDIR/env for the Go tests:
#
#   bash .ci/interop/start-smtp-xoauth2.sh && . /tmp/graphmail-interop/env &&
#     go test -race -v ./smtpfallback/interop/
#
# Knobs (environment): GRAPHMAIL_INTEROP_DIR (default /tmp/graphmail-interop),
# GRAPHMAIL_INTEROP_HOST (127.0.0.2), GRAPHMAIL_INTEROP_PORT (2587),
# GRAPHMAIL_INTEROP_SINK_PORT (2526; the sink is always on 127.0.0.1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="${GRAPHMAIL_INTEROP_DIR:-/tmp/graphmail-interop}"
PORT="${GRAPHMAIL_INTEROP_PORT:-2587}"
SINK_PORT="${GRAPHMAIL_INTEROP_SINK_PORT:-2526}"
# Dovecot listens on 127.0.0.2 while clients connect from 127.0.0.1: Dovecot
# treats a connection whose remote and local IPs are equal as already secure
# and would then allow AUTH without STARTTLS. On different loopback addresses
# it requires STARTTLS before AUTH, as Exchange Online does.
HOST="${GRAPHMAIL_INTEROP_HOST:-127.0.0.2}"
SINK_HOST=127.0.0.1
case "$HOST" in 127.*) ;; *) echo "GRAPHMAIL_INTEROP_HOST must be a 127.x address" >&2; exit 2 ;; esac

# Test identity. The values imitate Exchange Online (v1 access tokens), but
# nothing here talks to Microsoft.
MAILBOX="sender@graphmail-interop.test"
KID="graphmail-interop-rs256-1"
ISS="https://sts.windows.net/00000000-0000-4000-8000-00000000beef/"
AUD="https://outlook.office365.com"
USER_CLAIM="upn"

log() { printf '[interop] %s\n' "$*" >&2; }
die() { printf '[interop] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts dovecot)"

# ---------------------------------------------------------------- packages
PKGS=(dovecot-core dovecot-submissiond python3-aiosmtpd openssl)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Keep the package's own system-wide dovecot (which would listen on
	# 0.0.0.0:587 etc.) from being started by the postinst: deny service
	# starts during the install with a temporary policy-rc.d, unless the
	# machine already has one.
	policy_added=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_added=1
	fi
	trap '[ -n "${policy_added:-}" ] && rm -f /usr/sbin/policy-rc.d' EXIT
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${PKGS[@]}" >/dev/null
	if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; policy_added=; fi
fi
command -v dovecot >/dev/null || die "dovecot not found after install"
DOVECOT_VERSION="$(dovecot --version)"
DOVECOT_PKG_VERSION="$(dpkg-query -W -f='${Version}' dovecot-core)"
log "dovecot $DOVECOT_VERSION, python3-aiosmtpd $(dpkg-query -W -f='${Version}' python3-aiosmtpd)"
id dovecot >/dev/null 2>&1 && id dovenull >/dev/null 2>&1 || die "dovecot/dovenull users missing"

# ------------------------------------------------------ stop previous run
if [ -f "$W/dovecot.conf" ] || [ -f "$W/sink.pid" ]; then
	GRAPHMAIL_INTEROP_DIR="$W" bash "$HERE/stop-smtp-xoauth2.sh"
fi

# Refuse to start over something else holding our ports.
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
port_busy "$HOST" "$PORT" && die "$HOST:$PORT is already in use by another process"
port_busy "$SINK_HOST" "$SINK_PORT" && die "$SINK_HOST:$SINK_PORT is already in use by another process"

# --------------------------------------------------------------- work dir
umask 022
mkdir -p "$W"/{tls,jwt/keys/default/RS256,sink,run,state,log,home}
chmod 755 "$W"
# Submission processes run as nobody (the static userdb below); give them a
# writable home.
chown nobody:nogroup "$W/home"

# TLS: a throwaway CA and a server certificate for 127.0.0.1/localhost.
if [ ! -s "$W/tls/server.crt" ] || [ ! -s "$W/tls/ca.crt" ] ||
	! openssl x509 -in "$W/tls/server.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$HOST\$\|IP Address:$HOST,"; then
	log "generating TLS CA and server certificate"
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-subj "/CN=graphmail interop test CA" \
		-keyout "$W/tls/ca.key" -out "$W/tls/ca.crt" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -sha256 \
		-subj "/CN=localhost" \
		-keyout "$W/tls/server.key" -out "$W/tls/server.csr" 2>/dev/null
	cat >"$W/tls/server.ext" <<-EOF
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectAltName=IP:$HOST,IP:127.0.0.1,DNS:localhost
	EOF
	openssl x509 -req -sha256 -days 3650 -in "$W/tls/server.csr" \
		-CA "$W/tls/ca.crt" -CAkey "$W/tls/ca.key" -CAcreateserial \
		-extfile "$W/tls/server.ext" -out "$W/tls/server.crt" 2>/dev/null
fi
chmod 600 "$W/tls/ca.key" "$W/tls/server.key"

# JWT signing key. Dovecot looks the verification key up in a dict under
# <azp or "default">/<alg>/<kid>; with the fs:posix dict that is the file
# $W/jwt/keys/default/RS256/$KID (our tokens carry no azp claim).
if [ ! -s "$W/jwt/private.pem" ]; then
	log "generating RS256 token signing key"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/jwt/private.pem" 2>/dev/null
fi
chmod 600 "$W/jwt/private.pem"
openssl pkey -in "$W/jwt/private.pem" -pubout -out "$W/jwt/keys/default/RS256/$KID"
chmod 644 "$W/jwt/keys/default/RS256/$KID"

# ------------------------------------------------------------ dovecot conf
cat >"$W/dovecot-oauth2.conf.ext" <<EOF
# Local JWT validation by Dovecot itself (no introspection endpoint).
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$W/jwt/keys/
# Only tokens from this issuer ('iss' must be present and listed).
issuers = $ISS
# Audience: bookworm's 2.3.19.1+dfsg1-2.1+deb12u7 (security backport from
# 2.4.5) refuses a JWT whose 'aud' lacks client_id. Upstream 2.3.19.1 did
# not check 'aud' at all in local mode. ('scope' is not set: it would
# require a 'scope' claim, which Entra ID access tokens do not carry.)
client_id = $AUD
# The mailbox comes from this claim and must equal the SASL user
# (both lowercased by the default username_format = %Lu).
username_attribute = $USER_CLAIM
# A token carrying active=<anything but true> is refused (the default).
active_attribute = active
active_value = true
debug = yes
EOF

cat >"$W/dovecot.conf" <<EOF
# Generated by graphmail .ci/interop/start-smtp-xoauth2.sh -- do not edit.
# Standalone: nothing from /etc/dovecot is included.
instance_name = graphmail-interop
base_dir = $W/run
state_dir = $W/state
log_path = $W/log/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull

protocols = submission
listen = $HOST
hostname = graphmail-interop.localhost
postmaster_address = postmaster@graphmail-interop.test

ssl = required
ssl_cert = <$W/tls/server.crt
ssl_key = <$W/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes

auth_mechanisms = xoauth2 oauthbearer
auth_verbose = yes
auth_debug = no
auth_failure_delay = 0

passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $W/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/home/%Ln allow_all_users=yes
}
mail_location = maildir:~/Maildir

submission_relay_host = $SINK_HOST
submission_relay_port = $SINK_PORT
submission_relay_trusted = no
submission_relay_ssl = no
submission_max_mail_size = 40M

service submission-login {
  inet_listener submission {
    address = $HOST
    port = $PORT
  }
}
# No brute-force penalty (it would delay each repeated failure by up to 15 s):
# the documented way to switch it off.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF

doveconf -c "$W/dovecot.conf" -n >"$W/log/doveconf-n.txt" 2>&1 ||
	{ cat "$W/log/doveconf-n.txt" >&2; die "dovecot rejected the generated config"; }

# Daemons get no inherited descriptors: stdio goes to their log file and
# every other fd (e.g. a caller's pipe) is closed, so nothing that waits for
# EOF on this script's output (a `| tee` in CI) hangs on them.
# detach LOGFILE CMD...: replaces the calling shell with CMD, so call it in a
# subshell: `(detach ...)` or `detach ... &`.
detach() {
	local logfile=$1 fd
	shift
	for fd in $(ls /proc/$BASHPID/fd); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$@" </dev/null >>"$logfile" 2>&1
}

# -------------------------------------------------------------------- sink
: >"$W/log/sink.log"
rm -f "$W/sink.pid"
find "$W/sink" -mindepth 1 -delete # messages of earlier runs
# Debian's interpreter: python3-aiosmtpd is installed for it, not for any
# other python3 that may come first on PATH.
detach "$W/log/sink.log" setsid /usr/bin/python3 "$HERE/sink.py" \
	"$SINK_HOST" "$SINK_PORT" "$W/sink" "$W/sink.pid" &
SINK_PID=$!

# ----------------------------------------------------------------- dovecot
: >"$W/log/dovecot.log"
: >"$W/log/dovecot-stderr.log"
# The master forks into the background; early errors go to dovecot-stderr.log.
(detach "$W/log/dovecot-stderr.log" dovecot -c "$W/dovecot.conf") ||
	{ cat "$W/log/dovecot-stderr.log" >&2; die "dovecot did not start"; }

# -------------------------------------------------------------- readiness
smtp_banner() { # prints the first line the server sends, or fails
	local line
	exec 3<>"/dev/tcp/$1/$2" || return 1
	IFS= read -r -t 5 line <&3 || { exec 3>&-; return 1; }
	printf 'QUIT\r\n' >&3 || true
	exec 3>&- 3<&-
	printf '%s\n' "${line%$'\r'}"
}
wait_banner() {
	local host=$1 port=$2 what=$3 pid=$4 i banner
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		if banner="$(smtp_banner "$host" "$port" 2>/dev/null)" && [[ "$banner" == 220* ]]; then
			log "$what ready on $host:$port: $banner"
			return 0
		fi
		sleep 0.2
	done
	log "$what did not answer on $host:$port"
	tail -n 50 "$W/log/dovecot.log" "$W/log/dovecot-stderr.log" "$W/log/sink.log" >&2 || true
	return 1
}
wait_banner "$SINK_HOST" "$SINK_PORT" "sink" "$SINK_PID" || die "sink failed to start"
wait_banner "$HOST" "$PORT" "dovecot submission" "$(cat "$W/run/master.pid" 2>/dev/null || echo 0)" || die "dovecot failed to start"

# --------------------------------------------------------------------- env
cat >"$W/env.tmp" <<EOF
# Generated by .ci/interop/start-smtp-xoauth2.sh ($DOVECOT_VERSION)
export GRAPHMAIL_INTEROP_SMTP_ADDR=$HOST:$PORT
export GRAPHMAIL_INTEROP_SMTP_CA=$W/tls/ca.crt
export GRAPHMAIL_INTEROP_JWT_KEY=$W/jwt/private.pem
export GRAPHMAIL_INTEROP_JWT_ALG=RS256
export GRAPHMAIL_INTEROP_JWT_KID=$KID
export GRAPHMAIL_INTEROP_JWT_ISS=$ISS
export GRAPHMAIL_INTEROP_JWT_AUD=$AUD
export GRAPHMAIL_INTEROP_JWT_USER_CLAIM=$USER_CLAIM
export GRAPHMAIL_INTEROP_MAILBOX=$MAILBOX
export GRAPHMAIL_INTEROP_SINK_DIR=$W/sink
export GRAPHMAIL_INTEROP_SERVER_LOG=$W/log/dovecot.log
export GRAPHMAIL_INTEROP_SERVER_VERSION=dovecot-core=$DOVECOT_PKG_VERSION
EOF
mv "$W/env.tmp" "$W/env"
log "wrote $W/env"
