#!/usr/bin/env bash
# Create (once) and print the path of the project's virtualenv.
# torch from PyPI is a multi-GB CUDA build, so the venv lives outside the clone, keyed by the
# lock file's hash: every clone on this machine (and every CI run) reuses it instead of re-downloading.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lock="$root/requirements.lock"
key=$(sha256sum "$lock" | cut -c1-12)
venv="${GCL_SEARCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gcl-search/venv-$key}"
py="${PYTHON:-python3}"
# One builder at a time: a second caller waits for the first instead of deleting its half-built venv.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "creating $venv (first run downloads torch and friends, a few GB)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -r "$lock" >&2
  touch "$venv/.complete"
fi
# The project itself: editable, re-pointed at this clone when another clone installed it last.
here=$(cd / && "$venv/bin/python" -c 'import gcl_search, os; print(os.path.dirname(os.path.dirname(gcl_search.__file__)))' 2>/dev/null || true)
if [ "$here" != "$root" ]; then
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root" >&2
fi
echo "$venv"
