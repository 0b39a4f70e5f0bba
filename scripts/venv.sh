#!/usr/bin/env bash
# Creates or refreshes a virtualenv from a requirements file; a stamp skips pip when nothing changed.
#   usage: scripts/venv.sh <venv-dir> <requirements-file>
set -euo pipefail
venv=$1
requirements=$2
stamp="$venv/.requirements.sha256"
wanted=$(cat "$requirements" $(sed -n 's/^-r //p' "$requirements" | sed "s|^|$(dirname "$requirements")/|") | sha256sum | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
echo "==> preparing $venv from $requirements"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
