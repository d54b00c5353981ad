# Shared by opensearch-node/node.sh and elasticsearch-node/node.sh (sourced, not run). The caller defines
# `port`, `pid_file` (this port's pid file) and `is_our_node PID` (is that pid still the node we started?).

die() { echo "node.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/${1:-$port}") 2>/dev/null; }

recorded_pid() {
    [[ -f $(pid_file) ]] || return 1
    local pid
    pid=$(cat "$(pid_file)")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    echo "$pid"
}

# Stop the node recorded for this port: SIGTERM to its pid only (after checking it is still ours), SIGKILL
# after 30 s. $1 names the node in messages ("node", "Elasticsearch node").
stop_recorded_node() {
    local label=$1 pid
    if ! pid=$(recorded_pid); then
        echo "node.sh: no $label started by node.sh on port $port (no $(pid_file))"
        return 0
    fi
    if ! is_our_node "$pid"; then
        rm -f "$(pid_file)"
        echo "node.sh: pid $pid from $(pid_file) is no longer our node; removed the stale pid file"
        return 0
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while is_our_node "$pid"; do
        if ((SECONDS >= deadline)); then
            echo "node.sh: node pid $pid ignored SIGTERM for 30 s; sending SIGKILL to that pid" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.2
    done
    rm -f "$(pid_file)"
    echo "node.sh: stopped $label pid $pid on port $port"
}
