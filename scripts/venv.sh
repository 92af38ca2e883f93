#!/usr/bin/env bash
# Creates (once) the project's Python venv for reference tools and installs the named requirement groups
# from scripts/requirements/GROUP.txt. Prints the venv's python path on the last line of stdout.
#   scripts/venv.sh bench model    # -> $P2LAW_CACHE/venv/bin/python
# The venv lives under a cache folder (P2LAW_CACHE, default ~/.cache/p2law), never in the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
venv="$cache/venv"
mkdir -p "$cache"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
fi
for group in "$@"; do
  req="$here/requirements/$group.txt"
  [ -f "$req" ] || { echo "venv.sh: no requirement group '$group' ($req)" >&2; exit 2; }
  stamp="$venv/.installed-$group-$(sha256sum "$req" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet -r "$req" >&2
    touch "$stamp"
  fi
done
echo "$venv/bin/python"
