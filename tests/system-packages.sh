#!/bin/sh
# Installs the Debian packages the tests use as real parts, when they are absent:
# the PostgreSQL server (tests/pg), and Chromium with its driver (tests/browser: the HTML
# report drawn in a real browser). Never fails the test run: a machine that cannot
# install them skips those tests, and pytest says so in one line.
set -u
need=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || need="$need chromium chromium-driver"
[ -z "$need" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
echo "installing Debian packages for the tests:$need"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q $need >/dev/null 2>&1 \
  || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q $need >/dev/null 2>&1; } \
  || echo "note: could not install$need; the tests that need it will skip"
exit 0
