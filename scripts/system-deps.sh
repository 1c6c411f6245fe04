#!/usr/bin/env bash
# Install the Debian packages a target needs, when they are missing and we may (root + apt).
# Usage: scripts/system-deps.sh PACKAGE...
set -euo pipefail
missing_packages() {
  missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
}
missing_packages "$@"
((${#missing[@]})) || exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing system packages: ${missing[*]}. Install them (e.g. sudo apt-get install ${missing[*]})." >&2
  exit 1
fi
# Two `make test` runs side by side (or one beside unattended-upgrades) must not fail on apt's
# lock: ours waits for the other run and looks again, apt's own lock is waited for up to 10 min.
exec 9>"${IMAGEPIPE_DEPS_LOCK:-/var/lock/imagepipe-system-deps.lock}"
flock 9
missing_packages "$@"
((${#missing[@]})) || exit 0
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
wait_for_lock=(-o DPkg::Lock::Timeout=600)
apt-get "${wait_for_lock[@]}" update -qq
apt-get "${wait_for_lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
