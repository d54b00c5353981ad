#!/usr/bin/env bash
# The README's test command: the whole suite against a real OpenSearch node started here and stopped after.
# The node is required: if it cannot start, this fails (integration tests never skip under this script).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$(scripts/venv.sh)
port="${GCL_SEARCH_TEST_PORT:-9250}"
node=tools/opensearch-node/node.sh
"$node" start --port "$port" --neural-search
trap '"$node" stop --port "$port"' EXIT
"$node" info --port "$port"
export OPENSEARCH_URL="http://127.0.0.1:$port"
export GCL_SEARCH_REQUIRE_OPENSEARCH=1
export HF_HUB_OFFLINE=1
# This clone's code first, even if another clone holds the shared venv's editable install.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
"$venv/bin/python" -m pytest "$@"
