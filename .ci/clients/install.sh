#!/bin/sh
# install.sh installs the third-party SMTP clients that the relay tests
# (graphmail/relay: TestSwaks, TestPythonSmtplib, TestCurl) drive against the
# listener on 127.0.0.1:
# swaks, python3 (smtplib is in the standard library) and curl (smtp://);
# and the sendmail drop-in's real callers (cmd/graphmail's
# sendmail_invokers script): bsd-mailx and php-cli (PHP's mail()).
# Debian/Ubuntu only; run as root (CI) or with sudo.
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends swaks libnet-ssleay-perl libio-socket-ssl-perl python3 curl ca-certificates bsd-mailx php-cli
# Print what the tests will use, so a CI log shows the versions.
swaks --version 2>&1 | head -n 1
python3 --version
curl --version | head -n 1
php --version | head -n 1
command -v mailx
# The tests need STARTTLS and AUTH from every client. Under
# GRAPHMAIL_REQUIRE_REAL_CLIENTS a missing capability fails the test; say
# here, at install time, which one is missing. swaks has TLS only with
# Net::SSLeay and IO::Socket::SSL (installed above).
missing=""
swaks --support 2>&1 | grep -qx '=== TLS supported' || missing="$missing swaks-TLS(libnet-ssleay-perl,libio-socket-ssl-perl)"
swaks --support 2>&1 | grep -qx '=== Basic AUTH supported' || missing="$missing swaks-AUTH"
python3 -c 'import ssl' || missing="$missing python3-ssl"
curl --version | grep -q '^Protocols:.* smtp' || missing="$missing curl-smtp"
curl --version | grep -q '^Features:.* SSL' || missing="$missing curl-TLS"
if [ -n "$missing" ]; then
	echo "install.sh: the clients lack:$missing" >&2
	exit 1
fi
echo "swaks, python3 and curl can do STARTTLS and AUTH"
