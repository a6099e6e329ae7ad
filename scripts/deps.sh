#!/usr/bin/env bash
# Installs the Debian packages listed in deps/apt.txt that are missing. Idempotent and
# silent when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t want < <(grep -vE '^\s*(#|$)' deps/apt.txt)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
