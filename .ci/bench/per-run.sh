#!/bin/sh
# Per-run cost of "graphmail send" as a whole process, side by side with
# the reference a script would otherwise use, against the same peers and
# the same token (issue 14's goal: at most 1.5x):
#   Graph path: curl POSTing the same sendMail JSON with the same token;
#   SMTP path:  msmtp with XOAUTH2 and the same token.
# The peers are the sandbox tenant ("graphmail sandbox") in a process of its
# own: its Graph endpoint validates the token, its SMTP server STARTTLS and
# XOAUTH2. graphmail runs with a warm token cache, as a cron job does after
# its first run.
#
#   .ci/bench/per-run.sh [RUNS]      # default 50; needs curl and msmtp
set -eu
runs=${1:-50}
# A host's defaults: container images (this CI's among them) often export
# SSL_CERT_DIR, which makes Go programs parse every file of the directory
# on top of the bundle (about 15 ms a run); see graphmail/setup/roots_linux.go.
unset SSL_CERT_DIR SSL_CERT_FILE
cd "$(dirname "$0")/../.."
for t in curl msmtp; do
	command -v $t >/dev/null || { echo "per-run: $t is missing (apt-get install $t)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'kill $fake_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
go build -o "$tmp/graphmail" ./cmd/graphmail
gm="$tmp/graphmail"

"$gm" sandbox --dir "$tmp/mail" > "$tmp/fake.yaml" 2> "$tmp/fake.err" &
fake_pid=$!
i=0
until grep -q '^  path: ' "$tmp/fake.yaml" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "per-run: fake server did not start" >&2; cat "$tmp/fake.err" >&2; exit 1; }
	sleep 0.1
done
chmod 600 "$tmp/fake.yaml"
cfg="$tmp/fake.yaml"
val() { sed -n "s/^$1: \"\\(.*\\)\"\$/\\1/p" "$cfg"; }
graph=$(val graph_endpoint)
sender=$(val sender)
ca=$(val ca_file)
smtp_port=$(sed -n 's/^  port: //p' "$cfg")

# Warm the token cache (both scopes) and take the same tokens for the
# references.
"$gm" send --config "$cfg" --to bench@example.com --subject warm --body warm 2>/dev/null >/dev/null
"$gm" send --config "$cfg" --set smtp.fallback=only --to bench@example.com --subject warm --body warm 2>/dev/null >/dev/null
gtok=$("$gm" token --config "$cfg" --raw)
stok=$("$gm" token --config "$cfg" --scope smtp --raw)
cat > "$tmp/body.json" <<JSON
{"message":{"subject":"bench","body":{"contentType":"Text","content":"hello"},"toRecipients":[{"emailAddress":{"address":"bench@example.com"}}]},"saveToSentItems":true}
JSON
printf 'From: %s\r\nTo: bench@example.com\r\nSubject: bench\r\n\r\nhello\r\n' "$sender" > "$tmp/msg.eml"
printf '%s\n' "$stok" > "$tmp/stok"
cat > "$tmp/msmtprc" <<RC
account bench
domain localhost
host 127.0.0.1
port $smtp_port
tls on
tls_starttls on
tls_trust_file $ca
auth xoauth2
user $sender
from $sender
passwordeval cat $tmp/stok
account default : bench
RC
chmod 600 "$tmp/msmtprc"

# time_runs NAME CMD...: wall and CPU seconds of RUNS runs, per run in ms.
time_runs() {
	name=$1
	shift
	start=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$tmp/cpu" sh -c 'i=0; while [ $i -lt '"$runs"' ]; do "$@" >/dev/null 2>&1 || exit 1; i=$((i+1)); done' sh "$@"
	end=$(date +%s%N)
	read -r u s < "$tmp/cpu"
	awk -v n="$name" -v w=$(( (end - start) / runs )) -v u="$u" -v s="$s" -v r="$runs" \
		'BEGIN { printf "%-36s %8.1f ms wall %8.1f ms cpu\n", n, w / 1e6, (u + s) * 1000 / r }'
	echo $(( (end - start) / runs )) > "$tmp/last"
}

echo "per-run cost, mean of $runs runs each (warm token cache)"
time_runs "graphmail send (Graph)" "$gm" send --config "$cfg" --to bench@example.com --subject bench --body hello
g=$(cat "$tmp/last")
time_runs "curl POST sendMail (same token)" curl -sS --fail --cacert "$ca" -H "Authorization: Bearer $gtok" \
	-H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "$graph/v1.0/users/$sender/sendMail"
c=$(cat "$tmp/last")
time_runs "graphmail send (SMTP XOAUTH2)" "$gm" send --config "$cfg" --set smtp.fallback=only --to bench@example.com --subject bench --body hello
gs=$(cat "$tmp/last")
time_runs "msmtp (same token)" sh -c "msmtp -C '$tmp/msmtprc' bench@example.com < '$tmp/msg.eml'"
m=$(cat "$tmp/last")
awk -v g="$g" -v c="$c" -v gs="$gs" -v m="$m" 'BEGIN {
	printf "ratio Graph path: %.2fx curl   ratio SMTP path: %.2fx msmtp   (goal: <= 1.5x)\n", g / c, gs / m }'
