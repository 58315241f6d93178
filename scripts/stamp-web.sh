#!/usr/bin/env bash
# Stamps a built page folder (web/dist, or a copy) with its build version:
# writes into DIR/sw.js, the service worker, a hash of every other file of
# the folder (their paths and bytes) and the list of those paths, so the
# worker's cache is named after exactly this build: any changed, added or
# removed file gives a new name, and the worker drops the old cache.
# scripts/build-web.sh runs it; the offline page test runs it on a changed
# copy. Prints the version.
set -euo pipefail
dir=${1:?usage: scripts/stamp-web.sh DIR}
sw="$dir/sw.js"
[ -f "$sw" ] || { echo "stamp-web: $sw: no service worker to stamp" >&2; exit 1; }
cd "$dir"
files=$(find . -type f ! -path ./sw.js | sed 's|^\./||' | LC_ALL=C sort)
# The paths go into JavaScript string literals: only plain names are allowed.
if bad=$(grep -v '^[A-Za-z0-9._/-]*$' <<<"$files"); then
  echo "stamp-web: file names the service worker cannot list: $bad" >&2
  exit 1
fi
version=$( (while IFS= read -r f; do
  printf '%s\n' "$f"
  sha256sum <"$f"
done <<<"$files") | sha256sum | cut -c1-16)
list=$(sed "s/.*/'&'/" <<<"$files" | paste -sd, -)
# Two exact lines are replaced; a worker without them is an error, never a silent no-op.
grep -q "^const VERSION = '.*';$" sw.js && grep -q '^const FILES = \[.*\];$' sw.js ||
  { echo "stamp-web: $sw lacks the VERSION and FILES lines" >&2; exit 1; }
tmp=$(mktemp sw.js.XXXXXX)
sed -e "s|^const VERSION = '.*';$|const VERSION = '$version';|" \
  -e "s|^const FILES = \[.*\];$|const FILES = [$list];|" sw.js >"$tmp"
mv "$tmp" sw.js
chmod 644 sw.js
echo "$version"
