#!/bin/sh
# Peak RSS of "graphmail send" carrying a 150 MB attachment through the
# upload session path, against the fake tenant running in another process.
# Target: < 64 MiB. Needs GNU time (/usr/bin/time; apt-get install time).
#
#   .ci/bench/upload-rss.sh [SIZE_MB]     # default 150
set -eu
size_mb=${1:-150}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'kill $fake_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM

if [ ! -x /usr/bin/time ]; then
	echo "upload-rss: /usr/bin/time is missing; apt-get install time" >&2
	exit 1
fi
go build -o "$tmp/graphmail" ./cmd/graphmail
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$tmp/big.bin"
printf 'small\n' > "$tmp/small.txt"

# The sandbox tenant in a process of its own, so the sender's memory is
# measured alone; its config goes to fake.yaml (the last line is token_cache).
"$tmp/graphmail" sandbox --dir "$tmp/mail" > "$tmp/fake.yaml" 2> "$tmp/fake.err" &
fake_pid=$!
i=0
until grep -q '^  path: ' "$tmp/fake.yaml" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "upload-rss: fake server did not start" >&2; cat "$tmp/fake.err" >&2; exit 1; }
	sleep 0.1
done

measure() { # label, extra args...
	label=$1
	shift
	/usr/bin/time -v "$tmp/graphmail" send --config "$tmp/fake.yaml" --quiet --to bench@example.com \
		--subject "$label" --body bench "$@" > "$tmp/out" 2> "$tmp/time" || { cat "$tmp/time" >&2; exit 1; }
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time")
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time")
	printf '%-34s peak RSS %6d KiB (%5.1f MiB)  wall %s  %s\n' "$label" "$rss" "$(echo "$rss / 1024" | bc -l)" "$wall" "$(head -1 "$tmp/out" | sed "s/.*> //")"
}

measure "baseline (small attachment)" --attach "$tmp/small.txt"
measure "${size_mb} MB via upload session" --attach "$tmp/big.bin" --set large_messages=upload_session
