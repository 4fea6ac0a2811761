#!/usr/bin/env bash
# Starts the DNS-SD daemons ippeveprinter needs ("Unable to initialize DNS-SD" otherwise): the system D-Bus and
# avahi-daemon. Does nothing when avahi already runs. Packages: cups-ipp-utils, avahi-daemon, dbus (see
# infra/system-deps.sh). Needs root, as the system bus and avahi do.
set -euo pipefail
for tool in ippeveprinter dbus-daemon avahi-daemon; do
  command -v "$tool" >/dev/null || { echo "start-dns-sd: '$tool' is missing; run infra/system-deps.sh as root" >&2; exit 1; }
done
if avahi-daemon --check 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "start-dns-sd: avahi-daemon is not running and only root can start it: sudo $0" >&2
  exit 1
fi
mkdir -p /run/dbus
if [ ! -S /run/dbus/system_bus_socket ] || ! dbus-send --system --dest=org.freedesktop.DBus --type=method_call \
    --print-reply / org.freedesktop.DBus.GetId >/dev/null 2>&1; then
  rm -f /run/dbus/pid /run/dbus/system_bus_socket
  dbus-daemon --system --fork
fi
avahi-daemon -D --no-drop-root --no-rlimits
for _ in $(seq 50); do
  avahi-daemon --check 2>/dev/null && exit 0
  sleep 0.1
done
echo "start-dns-sd: avahi-daemon did not come up" >&2
exit 1
