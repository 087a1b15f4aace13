#!/usr/bin/env bash
# Installs what nnslim's tests need, idempotently and quickly when already done:
#   - Debian packages (aarch64 cross toolchain + qemu-user, Fashion-MNIST data set);
#   - a Python venv at $REPO/.venv with scripts/requirements.txt installed.
# Touches the network only when something is missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$REPO/scripts/requirements.txt"
VENV="$REPO/.venv"
STAMP="$VENV/.nnslim-req-stamp"
APT_PKGS=(qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross dataset-fashion-mnist)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
apt_updated=0

# Prints the packages among "$@" that are not installed.
missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
    done
}

apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. Debian packages.
mapfile -t missing < <(missing_pkgs "${APT_PKGS[@]}")
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: apt packages present"
else
    echo "setup: installing apt packages: ${missing[*]}"
    apt_install "${missing[@]}"
fi

# 2. Python venv (recreated if missing or broken, e.g. its base interpreter moved).
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
    echo "setup: venv present at .venv"
else
    echo "setup: creating venv at .venv"
    rm -rf "$VENV"
    PY="${NNSLIM_BASE_PYTHON:-python3}"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        # Debian's python3 needs python3-venv for ensurepip.
        rm -rf "$VENV"
        PY=/usr/bin/python3
        mapfile -t missing < <(missing_pkgs python3-venv)
        [ "${#missing[@]}" -eq 0 ] || apt_install python3-venv
        "$PY" -m venv "$VENV"
    fi
fi

# 3. Python packages, skipped when requirements.txt is unchanged since the last install.
req_hash="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$req_hash" ]; then
    echo "setup: python packages up to date"
else
    echo "setup: pip install -r scripts/requirements.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
    echo "$req_hash" > "$STAMP"
fi
