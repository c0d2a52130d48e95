#!/usr/bin/env bash
# Installs HAProxy from the distribution's packages when it is not on PATH (the balancer tests need a real one:
# test/balancer.e2e.test.ts, test/two-hosts.e2e.test.ts). Debian and Ubuntu only; as root, or through sudo without a
# password prompt. Prints the version it found or installed (sed, not head: head closing the pipe early would SIGPIPE
# haproxy, and pipefail would turn that into a failure); exits non-zero, saying why, when it cannot install.
set -euo pipefail

if command -v haproxy >/dev/null 2>&1; then
  haproxy -v | sed -n 1p
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-haproxy: haproxy is not installed and there is no apt-get here; install HAProxy 2.4 or newer by hand" >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "install-haproxy: haproxy is not installed; run as root (or with passwordless sudo): apt-get install -y haproxy" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >&2
"${as_root[@]}" apt-get install -y -q --no-install-recommends haproxy >&2
# The package starts a system-wide haproxy service where an init system runs; the tests start their own.
haproxy -v | sed -n 1p
