#!/usr/bin/env bash
# The README's test command: the whole suite against real OpenSearch, started here and stopped after.
# Nodes are required: if one cannot start, this fails (integration and cluster tests never skip under it).
#
# Three phases, one after the other (one set of JVMs at a time on a small machine):
#   main     the whole suite (tests/, minus the cluster tests) on one node of the default version (3.5.0)
#            and, beside it, one Elasticsearch 8 node (tools/elasticsearch-node, 512 MB heap) for the
#            Elasticsearch store's tests
#   compat   the OpenSearch-facing subset on one 2.19.1 node with neural-search (client, mappings, painless,
#            server-side hybrid)
#   cluster  tests/integration/test_cluster.py on a 3-node cluster of the default version (kills nodes)
# GCL_SEARCH_TEST_PHASES picks phases (default: all three; with pytest arguments: main only, on those
# arguments). Ports: $GCL_SEARCH_TEST_PORT (default 9250) for the single nodes, the next three for the cluster
# ($GCL_SEARCH_TEST_CLUSTER_PORT to move them); Elasticsearch on $GCL_SEARCH_TEST_ES_PORT (default port + 150).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=$(scripts/venv.sh)
port="${GCL_SEARCH_TEST_PORT:-9250}"
cluster_port="${GCL_SEARCH_TEST_CLUSTER_PORT:-$((port + 1))}"
default_version=3.5.0
compat_version=2.19.1
compat_tests=(tests/integration/test_node_smoke.py tests/integration/test_opensearch_store.py
              tests/integration/test_search_opensearch.py)
if [[ -n ${GCL_SEARCH_TEST_PHASES:-} ]]; then
    phases=$GCL_SEARCH_TEST_PHASES
elif [[ $# -gt 0 ]]; then
    phases=main
else
    phases="main compat cluster"
fi
es_port="${GCL_SEARCH_TEST_ES_PORT:-$((port + 150))}"
node=tools/opensearch-node/node.sh
es_node=tools/elasticsearch-node/node.sh
export GCL_SEARCH_REQUIRE_OPENSEARCH=1 GCL_SEARCH_REQUIRE_ELASTICSEARCH=1
export HF_HUB_OFFLINE=1
# This clone's code first, even if another clone holds the shared venv's editable install.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"

running=""  # what to stop on exit: "PORT NODES"
es_running=""
stop_running() {
    if [[ -n $running ]]; then
        "$node" stop --port "${running% *}" --nodes "${running#* }" || true
        running=""
    fi
    if [[ -n $es_running ]]; then
        "$es_node" stop --port "$es_port" || true
        es_running=""
    fi
}
trap stop_running EXIT

pytest_run() {
    local rc=0
    "$venv/bin/python" -m pytest "$@" || rc=$?
    return $rc
}

failed=()
summary=()
for phase in $phases; do
    t0=$SECONDS
    rc=0
    case "$phase" in
        main)
            running="$port 1"
            "$node" start --port "$port" --version "$default_version"
            "$node" info --port "$port"
            es_running=1
            es_t0=$SECONDS
            "$es_node" start --port "$es_port"
            echo "test.sh: Elasticsearch node up in $((SECONDS - es_t0)) s"
            args=("$@")
            ((${#args[@]} > 0)) || args=(tests -m "not cluster")
            OPENSEARCH_URL="http://127.0.0.1:$port" GCL_SEARCH_NODE_VERSION=$default_version \
                ELASTICSEARCH_URL="http://127.0.0.1:$es_port" pytest_run "${args[@]}" || rc=$? ;;
        compat)
            running="$port 1"
            "$node" start --port "$port" --version "$compat_version" --neural-search
            "$node" info --port "$port"
            OPENSEARCH_URL="http://127.0.0.1:$port" GCL_SEARCH_NODE_VERSION=$compat_version \
                pytest_run "${compat_tests[@]}" || rc=$? ;;
        cluster)
            running="$cluster_port 3"
            "$node" start --port "$cluster_port" --nodes 3 --version "$default_version"
            GCL_SEARCH_CLUSTER_PORT=$cluster_port GCL_SEARCH_REQUIRE_CLUSTER=1 \
                pytest_run -m cluster -s tests/integration/test_cluster.py || rc=$? ;;
        *) echo "test.sh: unknown phase '$phase' (main, compat, cluster)" >&2; exit 2 ;;
    esac
    stop_running
    summary+=("$phase: exit $rc in $((SECONDS - t0)) s")
    ((rc == 0)) || failed+=("$phase")
done
printf 'test.sh: %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
    echo "test.sh: FAILED phases: ${failed[*]}" >&2
    exit 1
fi
