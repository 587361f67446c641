#!/usr/bin/env bash
# A pinned Python venv, made once: `scripts/venv.sh DIR "pkg==x pkg2==y"` (re)creates DIR with
# exactly those requirements when it holds others or none, and prints DIR/bin. A lock beside
# DIR lets two test runs that start at once share it instead of deleting it under each other.
set -euo pipefail
venv=${1:?usage: scripts/venv.sh DIR REQUIREMENTS}
requirements=${2:?usage: scripts/venv.sh DIR REQUIREMENTS}
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]; then
  started=$(date +%s)
  echo "installing $requirements into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$venv/.requirements"
  echo "installed in $(( $(date +%s) - started )) s" >&2
fi
echo "$venv/bin"
