#!/usr/bin/env bash
# Sets up a fresh machine for pycell: bubblewrap and python3 from Debian's packages when missing
# (as root; otherwise says what to install), npm dependencies from the lock file, and the build.
# python3-matplotlib is optional: sessions render its figures as PNG, and the tests cover that when present.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ -x /usr/bin/python3 ] || missing+=(python3)
optional=()
/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1 || optional+=(python3-matplotlib)
if [ $((${#missing[@]} + ${#optional[@]})) -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; fi
  if [ ${#optional[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${optional[@]}" >/dev/null \
      || echo "setup: could not install ${optional[*]}; plots in sessions (and their test) are unavailable" >&2
  fi
elif [ ${#missing[@]} -gt 0 ]; then
  echo "setup: please install ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  exit 1
elif [ ${#optional[@]} -gt 0 ]; then
  echo "setup: optional: install ${optional[*]} for plots in sessions" >&2
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
