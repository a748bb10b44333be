#!/bin/sh
# install.sh installs the third-party SMTP clients that the relay tests
# (graphmail/relay, TestRealClient*) drive against the listener on 127.0.0.1:
# swaks, python3 (smtplib is in the standard library) and curl (smtp://).
# Debian/Ubuntu only; run as root (CI) or with sudo.
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends swaks libnet-ssleay-perl libio-socket-ssl-perl python3 curl ca-certificates
# Print what the tests will use, so a CI log shows the versions.
swaks --version 2>&1 | head -n 1
python3 --version
curl --version | head -n 1
