#!/usr/bin/env bash
# Sets up a fresh machine for pycell: bubblewrap and python3 from Debian's packages when missing
# (as root; otherwise says what to install), npm dependencies from the lock file, and the build.
# Optional, each best effort: python3-matplotlib (sessions render its figures as PNG, and the tests cover
# that when present); python3-jupyter-client and python3-ipykernel (`npm run bench` compares pycell with a
# Jupyter kernel, and skips that comparison without them; ~20 s to install).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ -x /usr/bin/python3 ] || missing+=(python3)
optional=()   # each entry: "packages:what is missing without them"
/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1 || optional+=("python3-matplotlib:plots in sessions (and their test) are unavailable")
/usr/bin/python3 -c 'import jupyter_client, ipykernel' >/dev/null 2>&1 || optional+=("python3-jupyter-client python3-ipykernel:npm run bench skips its Jupyter comparison")
if [ $((${#missing[@]} + ${#optional[@]})) -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; fi
  for entry in "${optional[@]}"; do
    read -r -a packages <<<"${entry%%:*}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null \
      || echo "setup: could not install ${packages[*]}; ${entry#*:}" >&2
  done
elif [ ${#missing[@]} -gt 0 ]; then
  echo "setup: please install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  exit 1
else
  for entry in "${optional[@]}"; do
    echo "setup: optional: install ${entry%%:*} (without them, ${entry#*:})" >&2
  done
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
