#!/usr/bin/env bash
# Installs the Debian packages the OMS needs on a fresh machine (only those missing).
# Java + Maven (Kafka), Go (FerretDB) and Python come with our machines; WeasyPrint needs Pango and fonts,
# the tests read PDFs back with poppler's pdftotext; the console's browser tests drive Debian's chromium.
# The osCommerce / Zen Cart / X-Cart 4 connector tests start their own MariaDB (mariadb-server) in a temp dir.
set -euo pipefail
packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils cups-ipp-utils avahi-daemon dbus chromium mariadb-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for tool in java mvn go; do
  command -v "$tool" >/dev/null || { echo "system-deps: '$tool' is missing (our machines ship it); install it first" >&2; exit 1; }
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
