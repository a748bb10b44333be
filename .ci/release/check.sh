#!/usr/bin/env bash
# Release checks (called by .ci/run): the GoReleaser configuration is valid,
# a snapshot builds, the .deb installs, works and removes cleanly on this
# machine, and the Windows and macOS builds vet.
#
# The snapshot is linux/amd64 only: `goreleaser release` has no
# --single-target (only `goreleaser build` has), and building all six
# targets of msgraph-sdk-go costs many minutes on a 2-core machine, so the
# configuration is copied with goos/goarch narrowed to linux/amd64. A
# broken release configuration still fails here: `goreleaser check` reads
# the real file, and the snapshot runs every pipe (archive, nfpm deb and
# rpm, checksums) but the container image (--skip=docker: no Docker engine
# runs in CI). The dpkg part needs root and dpkg (CI: root on Debian 12)
# and may run again on the same machine: it starts by purging a graphmail
# package left by an earlier run.
set -euo pipefail
cd "$(dirname "$0")/../.."

goreleaser() { go run github.com/goreleaser/goreleaser/v2@v2.15.1 "$@"; }
fail() { echo "release check: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== goreleaser check"
goreleaser check

echo "== goreleaser snapshot (linux/amd64; deb, rpm, tar.gz, checksums)"
sed -e 's/^    goos: \[linux, darwin, windows\]$/    goos: [linux]/' \
  -e 's/^    goarch: \[amd64, arm64\]$/    goarch: [amd64]/' .goreleaser.yaml >"$work/goreleaser.yaml"
[ "$(diff .goreleaser.yaml "$work/goreleaser.yaml" | grep -c '^>')" = 2 ] ||
  fail "could not narrow builds.goos/goarch of .goreleaser.yaml to linux/amd64: update the sed above"
# GoReleaser takes the commit from git but gives up on all of it when the
# checkout has no remote: lend it one, without touching the repository.
if ! git ls-remote --get-url >/dev/null 2>&1; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/graphmail/graphmail
fi
start=$(date +%s)
goreleaser release --snapshot --clean --skip=docker --config "$work/goreleaser.yaml"
echo "snapshot took $(($(date +%s) - start))s"
commit=$(git rev-parse HEAD)
deb=$(ls dist/graphmail_*_linux_amd64.deb)
ls dist/graphmail_*_linux_amd64.rpm dist/graphmail_*_linux_amd64.tar.gz dist/checksums.txt >/dev/null
# (listings are read whole: grep -q quitting early would SIGPIPE the
# writer and fail the pipeline under pipefail)
listing=$(tar -tzf dist/graphmail_*_linux_amd64.tar.gz)
grep -qx LICENSE <<<"$listing" || fail "the archive has no LICENSE"
grep -qx README.md <<<"$listing" || fail "the archive has no README.md"
# graphmail coexists with another MTA; graphmail-mta is the MTA package
fields=$(dpkg-deb -f "$(ls dist/graphmail_*_linux_amd64.deb)" Provides Conflicts)
[ -z "$fields" ] || fail "graphmail declares $fields: it could not be installed beside exim4 or postfix"
mta=$(ls dist/graphmail-mta_*.deb)
for f in Provides Conflicts Replaces; do
  [ "$(dpkg-deb -f "$mta" "$f")" = mail-transport-agent ] || fail "graphmail-mta: $f: $(dpkg-deb -f "$mta" "$f")"
done
[ "$(dpkg-deb -f "$mta" Depends)" = graphmail ] || fail "graphmail-mta: Depends: $(dpkg-deb -f "$mta" Depends)"
out=$(dist/graphmail_linux_amd64_v1/graphmail version)
echo "$out"
grep -q "^graphmail [0-9.]*-snapshot\.[0-9a-f]* " <<<"$out" || fail "graphmail version shows no stamped snapshot version"
grep -qx "  commit $commit" <<<"$out" || fail "graphmail version shows no commit $commit"

echo "== GOOS=windows go vet, go build; GOOS=darwin go vet"
GOOS=windows go vet ./...
GOOS=windows go build -o "$work/graphmail.exe" ./cmd/graphmail
GOOS=darwin go vet ./...

if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
  echo "== SKIPPED: installing the .deb needs root and dpkg"
  exit 0
fi

echo "== dpkg -i $deb"
if dpkg-query -W graphmail >/dev/null 2>&1; then
  dpkg --purge graphmail
fi
sendmail_before=$(readlink /usr/sbin/sendmail || true)
dpkg -i "$deb" | tee "$work/install.log"

[ -x /usr/bin/graphmail ] || fail "no /usr/bin/graphmail"
getent passwd graphmail >/dev/null || fail "no graphmail user"
[ "$(stat -c '%a %U %G' /etc/graphmail/config.yaml)" = "644 root root" ] || fail "config.yaml: $(stat -c '%a %U %G' /etc/graphmail/config.yaml)"
[ "$(stat -c '%a %U %G' /etc/graphmail/secret)" = "640 root graphmail" ] || fail "secret: $(stat -c '%a %U %G' /etc/graphmail/secret)"
[ "$(stat -c '%a %U' /var/spool/graphmail/maildrop)" = "3733 graphmail" ] || fail "maildrop: $(stat -c '%a %U' /var/spool/graphmail/maildrop)"
for u in graphmail.service graphmail-queue.service graphmail-queue.timer graphmail.service.d/10-package.conf; do
  [ -f "/usr/lib/systemd/system/$u" ] || fail "no unit $u"
done
out=$(graphmail version)
grep -qx "  commit $commit" <<<"$out" || fail "installed graphmail version: $out"

# /usr/sbin/sendmail: graphmail's alternative, unless another MTA owns it
# (CI installs bsd-mailx, which pulls in exim4): then it stays untouched
# and postinst says so.
if [ -n "$sendmail_before" ] && [ "$sendmail_before" != /etc/alternatives/mta ]; then
  [ "$(readlink /usr/sbin/sendmail)" = "$sendmail_before" ] || fail "/usr/sbin/sendmail was replaced"
  grep -q "^graphmail: /usr/sbin/sendmail belongs to .*: left in place" "$work/install.log" || fail "postinst did not say it left /usr/sbin/sendmail alone"
  sendmail=/usr/lib/graphmail/sendmail mailq=/usr/lib/graphmail/mailq
else
  [ "$(readlink -f /usr/sbin/sendmail)" = /usr/bin/graphmail ] || fail "/usr/sbin/sendmail is not graphmail's"
  grep -qx /usr/lib/graphmail/sendmail <<<"$(update-alternatives --list mta)" || fail "no mta alternative"
  sendmail=/usr/sbin/sendmail mailq=/usr/bin/mailq
fi
echo "sendmail is $sendmail"
"$sendmail" -bp
"$mailq"

echo "== the sandbox send through the installed binary and /etc/graphmail"
(cd "$work" && graphmail send --sandbox --sandbox-dir "$work/mail" --to you@example.com --subject hello --body 'it works') | tee "$work/send.log"
grep -q '^sandbox: delivered to ' "$work/send.log" || fail "the sandbox send delivered nothing"

echo "== dpkg -r graphmail: only the configuration stays"
dpkg -r graphmail
[ "$(dpkg-query -W -f '${Status}' graphmail)" = "deinstall ok config-files" ] || fail "state after dpkg -r: $(dpkg-query -W -f '${Status}' graphmail)"
while read -r f; do
  if [ -e "$f" ] && [ ! -d "$f" ]; then
    case "$f" in
    /etc/graphmail/*) ;;
    *) fail "left after dpkg -r: $f" ;;
    esac
  fi
done < <(dpkg -L graphmail)
for f in /usr/bin/graphmail /usr/lib/graphmail /usr/lib/systemd/system/graphmail.service; do
  [ ! -e "$f" ] || fail "left after dpkg -r: $f"
done
[ -f /etc/graphmail/config.yaml ] && [ -f /etc/graphmail/secret ] || fail "dpkg -r removed the configuration"
! grep -qx /usr/lib/graphmail/sendmail <<<"$(update-alternatives --list mta 2>/dev/null || true)" || fail "the mta alternative is still there"
[ "$(readlink /usr/sbin/sendmail || true)" = "$sendmail_before" ] || fail "/usr/sbin/sendmail changed: $(readlink /usr/sbin/sendmail || true)"

echo "== dpkg --purge graphmail"
dpkg --purge graphmail
! dpkg-query -W graphmail >/dev/null 2>&1 || fail "graphmail still known to dpkg after purge"
[ ! -e /etc/graphmail ] || fail "/etc/graphmail left after purge"
[ ! -e /var/spool/graphmail ] || fail "the empty spool was left after purge"
echo "== release checks passed"
